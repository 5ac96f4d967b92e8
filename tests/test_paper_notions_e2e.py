"""Every notion of the paper's datasets runs end to end on a fixture of its official layout."""
import json

import pytest
import yaml

from conftest import ROOT, TINY, run_train_eval
import layouts

BUILDERS = {"synthetic_cars": layouts.make_synthetic_cars, "cars196": layouts.make_cars196,
            "cub200": layouts.make_cub200, "deepfashion": layouts.make_deepfashion,
            "movie_posters": layouts.make_movie_posters}


@pytest.mark.parametrize("dataset", sorted(BUILDERS))
def test_every_notion_runs_on_its_fixture(tmp_path, dataset):
    root = BUILDERS[dataset](tmp_path / "raw")
    notions = list(yaml.safe_load((ROOT / "conf" / "dataset" / f"{dataset}.yaml").read_text())["notions"])
    run_train_eval(tmp_path, f"dataset={dataset}", f"dataset.root={root}", f"notion={','.join(notions)}",
                   *TINY, "n_components=4", "repetitions=1", "compare_with=[]", multirun=True)
    from indirect.pipeline import load_dataset
    from omegaconf import OmegaConf

    cfg = OmegaConf.load(ROOT / "conf" / "dataset" / f"{dataset}.yaml")
    cfg.root = str(root)
    labelled = load_dataset(cfg)
    for job, notion in enumerate(notions):
        job_dir = tmp_path / "multirun" / str(job)
        assert not (job_dir / "error.txt").exists(), (job_dir / "error.txt").read_text()
        results = json.loads((job_dir / "results.json").read_text())
        assert results["notion"] == notion and results["dataset"] == dataset
        labels = labelled.labels[cfg.notions[notion]]
        assert results["n_images"] == int(labels.notna().sum())  # the notion's own label column
        assert {"indirect", "clip"} <= set(results["methods"])
