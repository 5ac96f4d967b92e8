"""A sweep directory holds one sweep; a failed job fails the sweep; a run folder holds one outcome."""
import csv
import json

import pytest
import yaml
from hydra.types import RunMode
from omegaconf import OmegaConf

from conftest import ROOT, run_train_eval
from indirect.reporting import write_sweep_report
from indirect.reporting.jobs import SWEEP_ID_FILE
from indirect.sweep_callbacks import SweepDirectory, archive_previous_sweep
from test_reporting import fake_results

FOLDER = ["dataset=folder", "notion=label", "prompts.vocabulary=[red,green,blue,yellow,purple]",
          "prompts.templates=['a photo of a {} square','a {} object']"]
FAST = ["backbone=tiny", "embed.num_workers=0", "logger=none", "repetitions=1", "compare_with=[clip]"]
BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"


def write_sweep(root, task_overrides, jobs, sweep_id=None):
    """A multirun folder as Hydra lays it out; ``jobs``: number -> (overrides, outcome, job sweep id)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "multirun.yaml").write_text(yaml.safe_dump(
        {"hydra": {"sweeper": {"_target_": BASIC_SWEEPER, "params": None}, "overrides": {"task": task_overrides}}}))
    if sweep_id:
        (root / SWEEP_ID_FILE).write_text(sweep_id + "\n")
    for number, (overrides, outcome, job_id) in jobs.items():
        job = root / str(number)
        (job / ".hydra").mkdir(parents=True)
        (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
        if job_id:
            (job / SWEEP_ID_FILE).write_text(job_id + "\n")
        if outcome == "error":
            (job / "error.txt").write_text("error: notion 'species' is not defined for dataset 'shapes'\n")
        elif outcome is not None:
            (job / "results.json").write_text(json.dumps(outcome))


def test_report_reads_only_this_sweeps_jobs(tmp_path):
    # The issue's case: `notion=color,species` then `notion=color,shape` into one folder, the second
    # killed before its job 1 started: job 1's folder still holds the first sweep's failure.
    color, old_color = fake_results(0, notion="color", dataset="shapes"), fake_results(9, notion="color", dataset="shapes")
    write_sweep(tmp_path / "m", ["notion=color,shape"],
                {0: (["notion=color"], color, None), 1: (["notion=species"], "error", None)})
    report = write_sweep_report(tmp_path / "m")
    status = {job.name: (job.status, job.overrides) for job in report["jobs"]}
    assert status == {"0": ("ok", ["notion=color"]), "1": ("stale", ["notion=shape"])}
    md = report["paths"]["md"].read_text()
    assert "| 1 | stale | notion=shape | holds an earlier sweep's job (notion=species)" in md
    assert "species" not in md.split("## Missing")[0]
    # Same overrides, but the job's sweep id is another sweep's: its numbers are not this sweep's.
    write_sweep(tmp_path / "s", ["notion=color"], {0: (["notion=color"], old_color, "old")}, sweep_id="new")
    report = write_sweep_report(tmp_path / "s")
    assert [(job.status, job.results) for job in report["jobs"]] == [("stale", None)]
    rows = list(csv.DictReader(open(report["paths"]["csv"])))
    assert [(r["job"], r["status"], r["method"]) for r in rows] == [("0", "stale", "")]


def test_reused_sweep_dir_is_archived_and_failed_jobs_fail_the_sweep(tmp_path):
    old = tmp_path / "multirun"
    write_sweep(old, ["notion=label"], {0: (["notion=label"], fake_results(1), None), 1: (["x=1"], "error", None)})
    proc = run_train_eval(tmp_path, "dataset=folder", "notion=label", f"dataset.root={tmp_path / 'nowhere'}",
                          "logger=none", "n_components=8,16", multirun=True, check=False)
    assert proc.returncode == 1, proc.stderr[-3000:]  # every job failed: before, the sweep exited 0
    archived = [p for p in tmp_path.iterdir() if p.name.startswith("multirun.previous-")]
    assert len(archived) == 1 and f"{old} held an earlier sweep: archived to {archived[0]}" in proc.stdout
    assert json.loads((archived[0] / "0" / "results.json").read_text()) == fake_results(1)
    assert (archived[0] / "1" / "error.txt").is_file()
    assert sorted(p.name for p in old.iterdir()) == [SWEEP_ID_FILE, "0", "1", "multirun.yaml"]
    sweep_id = (old / SWEEP_ID_FILE).read_text()
    for job, k in (("0", 8), ("1", 16)):
        assert not (old / job / "results.json").exists() and (old / job / SWEEP_ID_FILE).read_text() == sweep_id
        error = (old / job / "error.txt").read_text().strip().splitlines()
        assert error[0] == "Traceback (most recent call last):" and "DatasetError" in "".join(error[1:-1])
        assert error[-1].startswith("error: dataset 'folder'") and "nowhere" in error[-1]
        assert f"{old / job}: n_components={k}: error.txt: error: dataset 'folder'" in proc.stderr
    assert "2 of 2 job(s) failed" in proc.stderr


@pytest.mark.slow
def test_a_sweep_with_one_failed_job_draws_its_plot_then_exits_1(tmp_path, image_folder):
    # k=64 exceeds the tiny backbone's 32 dimensions: job 1 fails, job 0 runs; the plot is drawn first.
    proc = run_train_eval(tmp_path, *FOLDER, f"dataset.root={image_folder}", *FAST, "experiment=sweep_dims",
                          "n_components=4,64", multirun=True, check=False)
    assert proc.returncode == 1, proc.stderr[-3000:]
    sweep = tmp_path / "multirun"
    assert (sweep / "0" / "results.json").is_file() and not (sweep / "0" / "error.txt").exists()
    assert "Traceback (most recent call last):" in (sweep / "1" / "error.txt").read_text()
    assert "1 of 2 job(s) failed" in proc.stderr and f"{sweep / '1'}: n_components=64: error.txt: error:" in proc.stderr
    assert f"{sweep / 'sweep_n_components.png'}: 1 value(s) of n_components" in proc.stdout
    assert "1 of 2 jobs not plotted: 1 failed (n_components=64)" in proc.stdout   # the plot says it is partial


def job_config(tmp_path, mode):
    return OmegaConf.create({"hydra": {"mode": mode, "runtime": {"output_dir": str(tmp_path / "run")},
                                       "sweep": {"dir": str(tmp_path)}}})


def test_a_run_folder_loses_an_earlier_runs_outcome_at_job_start(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    for name in ("error.txt", "results.json", "results.md", "train_eval.log"):
        (run / name).write_text("old\n")
    SweepDirectory().on_job_start(job_config(tmp_path, RunMode.RUN))
    assert sorted(p.name for p in run.iterdir()) == ["train_eval.log"]
    assert f"{run}: removed error.txt, results.json, results.md left by an earlier run" in capsys.readouterr().out
    (tmp_path / SWEEP_ID_FILE).write_text("abc\n")
    SweepDirectory().on_job_start(job_config(tmp_path, RunMode.MULTIRUN))
    assert (run / SWEEP_ID_FILE).read_text() == "abc\n"


def test_archiving_refuses_a_sweep_dir_holding_the_working_directory(tmp_path, monkeypatch):
    from indirect.errors import SweepError

    write_sweep(tmp_path / "m", ["n_components=8"], {0: (["n_components=8"], "error", None)})
    assert archive_previous_sweep(tmp_path / "empty") is None
    monkeypatch.chdir(tmp_path / "m" / "0")
    with pytest.raises(SweepError, match="holds an earlier sweep and the working directory"):
        archive_previous_sweep(tmp_path / "m")
    assert (tmp_path / "m" / "0" / "error.txt").is_file()


def test_every_run_installs_the_sweep_directory_callback():
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("train_eval", overrides=["experiment=sweep_dims"], return_hydra_config=True)
    assert list(cfg.hydra.callbacks) == ["sweep_directory", "sweep_plot"]  # sweep_plot's end hook runs first
    assert cfg.hydra.callbacks.sweep_directory._target_ == "indirect.sweep_callbacks.SweepDirectory"


@pytest.mark.slow
def test_the_issue_reproduction_two_notion_sweeps_into_one_folder(tmp_path):
    demo = ["dataset=shapes", "dataset.n_images=30", "backbone=demo", "embed.num_workers=0", "logger=none",
            "repetitions=1", "compare_with=[clip]", "n_components=8"]
    first = run_train_eval(tmp_path, *demo, "notion=color,species", multirun=True, check=False)
    assert first.returncode == 1 and "notion 'species' is not defined" in (tmp_path / "multirun/1/error.txt").read_text()
    run_train_eval(tmp_path, *demo, "notion=color,shape", multirun=True)
    report = write_sweep_report(tmp_path / "multirun")
    assert [(job.status, job.results["notion"]) for job in report["jobs"]] == [("ok", "color"), ("ok", "shape")]
    assert not (tmp_path / "multirun" / "1" / "error.txt").exists()
