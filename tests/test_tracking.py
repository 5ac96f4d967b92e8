"""Weights & Biases logging: offline runs write the table and the analysis images; summary keys."""
import glob
import json
from types import SimpleNamespace

from conftest import run_train_eval
from indirect.tracking import WandbTracker


def test_wandb_offline_run_holds_the_results_table_and_the_saliency_image(tmp_path):
    run_train_eval(tmp_path, "dataset=shapes", "dataset.n_images=30", "notion=color", "backbone=demo",
                   "embed.num_workers=0", "logger=wandb", "repetitions=1", "compare_with=[random]", "n_components=8",
                   "analysis=saliency", "analysis.saliency.n_images=2", "analysis.saliency.n_samples=2")
    runs = glob.glob(str(tmp_path / "run" / "wandb" / "offline-run-*"))
    assert len(runs) == 1
    tables = glob.glob(f"{runs[0]}/files/media/table/results_*.table.json")
    assert len(tables) == 1
    table = json.loads(open(tables[0]).read())
    assert table["columns"][0] == "method" and {row[0] for row in table["data"]} >= {"indirect", "clip", "random"}
    assert len(glob.glob(f"{runs[0]}/files/media/images/saliency_*.png")) == 1


def test_summary_keys_name_method_metric_and_saliency_columns():
    logged = []
    tracker = WandbTracker()
    tracker.run = SimpleNamespace(summary={}, log=logged.append)
    results = {"methods": {"indirect": {"precision_at_1": {"mean": 0.9, "std": 0.01}}},
               "analysis": {"saliency_object_share": {"raw backbone": 0.1, "indirect: color": 0.12}}}
    tracker.log_results(results, ["method", "P@1"], [["indirect", "90.0"]])
    assert tracker.run.summary == {"indirect/precision_at_1": 0.9, "indirect/precision_at_1/std": 0.01,
                                   "saliency/object_share/raw backbone": 0.1,
                                   "saliency/object_share/indirect: color": 0.12}
    assert len(logged) == 1 and "results" in logged[0]
