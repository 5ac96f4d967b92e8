"""Every notion of the paper's datasets runs end to end on a fixture of its official layout."""
import pytest

from conftest import TINY, compose_config
from indirect.experiment import run
from indirect.experiment.inputs import load_dataset
import layouts

BUILDERS = {"synthetic_cars": layouts.make_synthetic_cars, "cars196": layouts.make_cars196,
            "cub200": layouts.make_cub200, "deepfashion": layouts.make_deepfashion,
            "movie_posters": layouts.make_movie_posters}


@pytest.mark.parametrize("dataset", sorted(BUILDERS))
def test_every_notion_runs_on_its_fixture(tmp_path, dataset):
    root = BUILDERS[dataset](tmp_path / "raw")
    first = compose_config(tmp_path, f"dataset={dataset}", f"dataset.root={root}")
    labelled = load_dataset(first.dataset)
    for notion, definition in first.dataset.notions.items():
        cfg = compose_config(tmp_path, f"dataset={dataset}", f"dataset.root={root}", f"notion={notion}", *TINY,
                             "n_components=4", "repetitions=1", "compare_with=[]", output=notion)
        results, _ = run(cfg)
        assert results["notion"] == notion and results["dataset"] == dataset
        labels = labelled.labels[definition.column]
        assert results["n_images"] == int(labels.notna().sum())  # the notion's own label column
        assert {"indirect", "clip"} <= set(results["methods"])
        assert (tmp_path / notion / "results.json").is_file()
