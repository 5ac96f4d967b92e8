"""Weights & Biases logging: offline runs write the table and the analysis images; summary keys."""
import glob
import json
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest

from conftest import ROOT, run_train_eval
from indirect.reporting import run_rows
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


def test_a_failed_run_is_failed_in_wandb_and_runs_are_tagged_by_their_config_choices(tmp_path):
    """A run refused after the tracker started was closed as an empty success (exit code 0); tags
    named classes (OpenClipBackbone for every CLIP size)."""
    from wandb_records import exit_codes, tags

    common = ("dataset.n_images=30", "embed.num_workers=0", "logger=wandb", "repetitions=1", "compare_with=[clip]",
              "analysis=none", "backbone=tiny")
    proc = run_train_eval(tmp_path, *common, "n_components=64", check=False)     # k > the tiny backbone's 32
    assert proc.returncode == 2 and exit_codes(tmp_path / "run") == [1]
    assert tags(tmp_path / "run") == ["shapes", "color", "tiny", "indirect"]
    ok = tmp_path / "ok"
    ok.mkdir()
    run_train_eval(ok, *common, "n_components=8", "projector=indirect_faithful", "projector.max_iter=20")
    assert exit_codes(ok / "run") == [0] and tags(ok / "run")[2:] == ["tiny", "indirect_faithful"]


def test_summary_keys_name_method_metric_and_any_analysis_value():
    logged = []
    tracker = WandbTracker()
    tracker.run = SimpleNamespace(summary={}, log=logged.append)
    results = {"dataset": "shapes", "notion": "color", "backbone": "demo", "n_images": 4, "n_prompts": 2,
               "methods": {"indirect": {"precision_at_1": {"mean": 0.9, "std": 0.01, "runs": [0.89, 0.91]}}},
               "analysis": {"saliency_object_share": {"raw backbone": 0.1, "indirect: color": 0.12},
                            "embedding_map_points": 40, "embedding_map": "/run/embedding_map.png"}}
    tracker.log_results(results, *run_rows(results))
    assert tracker.run.summary == {"indirect/precision_at_1": 0.9, "indirect/precision_at_1/std": 0.01,
                                   "analysis/saliency_object_share/raw backbone": 0.1,
                                   "analysis/saliency_object_share/indirect: color": 0.12,
                                   "analysis/embedding_map_points": 40}
    [table] = [entry["results"] for entry in logged]
    assert table.columns[:5] == ["method", "upper_bound", "n_runs", "P@1 mean", "P@1 std"]
    tracker.run = SimpleNamespace(summary={}, log=logged.append)
    tracker.log_results({**results, "ignored": {"notion": "shape", "n_prompts": 3, "methods": {
        "indirect": {"precision_at_1": {"mean": 0.4, "std": 0.02, "runs": [0.38, 0.42]}}}}}, *run_rows(results))
    assert tracker.run.summary["ignored/indirect/precision_at_1"] == 0.4           # the ignored notion's figures
    assert tracker.run.summary["ignored/indirect/precision_at_1/std"] == 0.02
    assert table.data[0][:5] == ["indirect", False, 2, pytest.approx(90.0), pytest.approx(1.0)]


def test_online_wandb_without_a_server_gives_up_after_init_timeout_in_one_line(tmp_path, monkeypatch, caplog):
    import wandb

    seen = {}

    def init(**kwargs):
        seen.update(kwargs)
        raise wandb.errors.CommError("Run initialization has timed out after 10.0 sec.\nPlease try again.")

    monkeypatch.setattr(wandb, "init", init)
    tracker = WandbTracker(mode="online")
    tracker.start({"seed": 0}, tmp_path, tags=[], name="run")
    assert seen["mode"] == "online" and seen["settings"].init_timeout == 10  # W&B's own default waits 90 s
    assert tracker.run is None
    warnings = [r.getMessage() for r in caplog.records if r.name == "indirect.tracking"]
    assert len(warnings) == 1 and "\n" not in warnings[0]
    assert "gives up after 10 s" in warnings[0] and "local results are kept" in warnings[0]
    assert warnings[0].endswith("[CommError: Run initialization has timed out after 10.0 sec.]")
    tracker.finish()  # nothing to finish, nothing raised


def test_online_wandb_without_an_api_key_does_not_claim_a_timeout(tmp_path, monkeypatch, caplog):
    import wandb

    def init(**kwargs):
        raise wandb.errors.UsageError("No API key configured. Use `wandb login` to log in.")

    monkeypatch.setattr(wandb, "init", init)
    WandbTracker(mode="online").start({"seed": 0}, tmp_path, tags=[], name="run")
    warning = next(r.getMessage() for r in caplog.records if r.name == "indirect.tracking")
    assert "gives up" not in warning and "could not start a run; nothing is logged" in warning
    assert warning.endswith("[UsageError: No API key configured. Use `wandb login` to log in.]")


@pytest.mark.slow
def test_online_wandb_against_an_unreachable_server_keeps_the_run(tmp_path):
    # Nothing listens on port 9: W&B retries until its init_timeout, as it does without network.
    env = {**os.environ, "WANDB_BASE_URL": "http://127.0.0.1:9", "WANDB_API_KEY": "a" * 40, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(ROOT / "train_eval.py"), f"paths.data_dir={tmp_path}/data",
                           f"paths.cache_dir={tmp_path}/cache", f"hydra.run.dir={tmp_path}/run", "dataset=shapes",
                           "dataset.n_images=30", "notion=color", "backbone=demo", "embed.num_workers=0", "logger=wandb",
                           "logger.mode=online", "repetitions=1", "compare_with=[clip]", "n_components=8"],
                          capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "could not start a run (it gives up after 10 s)" in proc.stdout + proc.stderr
    assert json.loads((tmp_path / "run" / "results.json").read_text())["methods"]["indirect"]
