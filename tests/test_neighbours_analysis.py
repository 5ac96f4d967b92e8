"""analysis=neighbours: the retrieval figure of every experiment run (on by default), its
composition with the other analyses, and what it hands to the results and the tracker."""
import numpy as np
import pytest
from PIL import Image

from conftest import compose_config, recorded_run
from indirect.analysis.neighbours import Neighbours
from indirect.errors import AnalysisError

SMALL = ["dataset.n_images=60", "backbone.device=cpu", "embed.num_workers=0", "repetitions=1", "n_components=8"]


@pytest.mark.parametrize("override, nodes", [
    (None, ["neighbours"]), ("analysis=none", []), ("analysis=saliency", ["saliency"]),
    ("analysis=both", ["saliency", "map"]), ("analysis=[neighbours,saliency]", ["neighbours", "saliency"]),
])
def test_neighbours_is_the_default_analysis_and_the_others_compose_as_before(tmp_path, override, nodes):
    cfg = compose_config(tmp_path, *([override] if override else []))
    assert list(cfg.analysis or {}) == nodes


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("neighbours")
    return (tmp_path, *recorded_run(tmp_path, *SMALL, "compare_with=[pca]"))


def test_a_default_run_writes_the_retrieval_figure_into_results_and_the_tracker(default_run):
    tmp_path, results, objects, tracker = default_run
    png = tmp_path / "run" / "neighbours.png"
    assert results["analysis"] == {"neighbours": "neighbours.png", "neighbours_method": "indirect"} and png.is_file()
    assert tracker.images == {"neighbours": png} and tracker.logged[-1][0]["analysis"]["neighbours"] == "neighbours.png"
    assert "analysis" in results["timings"]  # its cost is in results.json (measured: README)
    figure = np.asarray(Image.open(png).convert("RGB"))
    assert figure.shape[0] > 4 * 96 and figure.shape[1] > 11 * 96  # 4 queries x (1 + 5 raw + 5 projected)
    green = (figure[..., 1] > 130) & (figure[..., 0] < 60) & (figure[..., 2] < 90)
    assert green.sum() > 1500  # at least one outline (4 px around a 96 px box) of a neighbour with the query's colour


def test_neighbours_of_another_method_and_refusals(default_run, tmp_path):
    _, _, objects, _ = default_run
    objects.output_dir = tmp_path
    output = Neighbours(method="pca", n_queries=2, k=3)(objects)
    assert output.summary == {"neighbours_method": "pca"} and output.images["neighbours"] == tmp_path / "neighbours.png"
    assert Image.open(tmp_path / "neighbours.png").size[1] < Image.open(default_run[0] / "run" / "neighbours.png").size[1]
    with pytest.raises(AnalysisError, match="analysis.neighbours.method=lae was not run; choose one of: indirect, clip, pca"):
        Neighbours(method="lae")(objects)
    with pytest.raises(AnalysisError, match="analysis.neighbours.n_queries=0 is not an integer >= 1"):
        Neighbours(n_queries=0)
