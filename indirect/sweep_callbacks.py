"""One sweep per sweep directory, no stale outcome beside a new run, a failed job fails the sweep.

:class:`SweepDirectory` is a Hydra callback installed for every run by conf/hydra/default.yaml:

- before a run or a multirun, a ``hydra.run.dir`` / ``hydra.sweep.dir`` that cannot be created
  (an ancestor that is a file, a folder without write permission, a read-only disk) is one
  line naming the path and the fix, exit 2, instead of Hydra's traceback from its own ``mkdir``;
- at the start of a multirun, a ``hydra.sweep.dir`` that already holds a sweep (the Makefile's
  fixed sweep folders, a rerun) is moved aside whole, to ``<dir>.previous-<when that sweep
  started>``, and said so on stdout; the new sweep gets a fresh id in ``<dir>/.sweep_id``;
- at the start of every job (run or multirun), outcome files an earlier run left in the job's
  folder (``error.txt``, ``results.*``) are removed, so a new result never sits beside an old
  error; a multirun job is stamped with the sweep's id, which the report checks
  (:mod:`indirect.reporting.jobs`);
- at the end of a multirun, after every job ran and the other callbacks (the sweep plot) did
  their work, a sweep in which any job failed names the failed jobs and exits 1. Each failed
  job keeps its traceback in its ``error.txt`` (written by train_eval.py).
"""
from __future__ import annotations

import datetime
import os
import sys
import uuid
from pathlib import Path

from hydra.experimental.callback import Callback
from hydra.types import RunMode

from indirect.errors import ConfigError, SweepError, UserError
from indirect.reporting.jobs import ERROR_FILES, SHARD_FILE, SWEEP_ID_FILE, collect_jobs, job_settings, varying_keys

OUTCOME_FILES = ERROR_FILES + ("results.json", "results.md", "results.csv", "results.tex", SHARD_FILE)


def holds_a_sweep(folder: Path) -> bool:
    """True when ``folder`` holds what a multirun writes (its multirun.yaml, job folders or id)."""
    if not folder.is_dir():
        return False
    markers = (folder / "multirun.yaml").exists() or (folder / SWEEP_ID_FILE).exists()
    return markers or any(p.is_dir() and p.name.isdigit() for p in folder.iterdir())


def archive_previous_sweep(sweep_dir) -> Path | None:
    """Move an earlier sweep in ``sweep_dir`` to a sibling folder named for its start; return it."""
    sweep_dir = Path(sweep_dir).absolute()
    if not holds_a_sweep(sweep_dir):
        return None
    cwd = Path.cwd().absolute()
    if cwd == sweep_dir or sweep_dir in cwd.parents:
        raise SweepError(f"hydra.sweep.dir={sweep_dir} holds an earlier sweep and the working directory; "
                         "choose another hydra.sweep.dir or move that sweep away")
    marker = next((p for p in (sweep_dir / "multirun.yaml", sweep_dir / SWEEP_ID_FILE) if p.exists()), sweep_dir)
    started = datetime.datetime.fromtimestamp(marker.stat().st_mtime).strftime("%Y-%m-%d_%H-%M-%S")
    target = sweep_dir.with_name(f"{sweep_dir.name}.previous-{started}")
    number = 1
    while target.exists():
        number += 1
        target = sweep_dir.with_name(f"{sweep_dir.name}.previous-{started}-{number}")
    os.replace(sweep_dir, target)
    return target


def require_writable(folder, key: str) -> None:
    """Refuse a ``key`` folder that cannot be created or written, before Hydra creates it (without creating it:
    the run directory's ``${now:...}`` may resolve to another second when Hydra does)."""
    folder = Path(folder).absolute()
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    if not existing.is_dir():
        reason = f"{existing} is a file, not a folder"
    elif not os.access(existing, os.W_OK | os.X_OK):
        reason = f"{existing} is not writable"
    else:
        return
    raise ConfigError(f"{key}={folder} cannot be created ({reason}); set {key} (or paths.log_dir) to a writable folder")


def stop(error: UserError) -> None:
    """A callback's user error as the entry point shows one: one line on stderr, exit 2."""
    print(f"error: {error}", file=sys.stderr)
    raise SystemExit(2) from error


def clear_outcome(run_dir) -> list[str]:
    """Remove the outcome files an earlier run left in ``run_dir``; return their names."""
    removed = []
    for name in OUTCOME_FILES:
        path = Path(run_dir) / name
        if path.is_file():
            path.unlink()
            removed.append(name)
    return removed


def failed_jobs(sweep_dir) -> tuple[list[str], int]:
    """One line per failed job of the sweep in ``sweep_dir`` (folder, its own overrides, message), and the job count."""
    jobs = collect_jobs(sweep_dir)
    keys = varying_keys(jobs)
    return [f"{job.path}: {job_settings(job, keys)}: {job.reason}"
            for job in jobs if job.status == "failed"], len(jobs)


class SweepDirectory(Callback):
    """Keeps a sweep folder to one sweep and a run folder to one outcome; fails a sweep with a failed job."""

    def on_run_start(self, config, **kwargs) -> None:
        try:
            require_writable(str(config.hydra.run.dir), "hydra.run.dir")
        except UserError as error:
            stop(error)

    def on_multirun_start(self, config, **kwargs) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir))
        try:
            require_writable(sweep_dir, "hydra.sweep.dir")
            archived = archive_previous_sweep(sweep_dir)
        except UserError as error:
            stop(error)
        if archived is not None:
            print(f"{sweep_dir} held an earlier sweep: archived to {archived} (the report reads only this sweep's jobs)")
        sweep_dir.mkdir(parents=True, exist_ok=True)
        (sweep_dir / SWEEP_ID_FILE).write_text(f"{uuid.uuid4().hex}\n")

    def on_job_start(self, config, **kwargs) -> None:
        run_dir = Path(str(config.hydra.runtime.output_dir))
        removed = clear_outcome(run_dir)
        if removed:
            print(f"{run_dir}: removed {', '.join(removed)} left by an earlier run in this folder")
        if config.hydra.mode == RunMode.MULTIRUN:
            stamp = Path(str(config.hydra.sweep.dir)) / SWEEP_ID_FILE
            if stamp.is_file():
                (run_dir / SWEEP_ID_FILE).write_text(stamp.read_text())

    def on_multirun_end(self, config, **kwargs) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir))
        failed, total = failed_jobs(sweep_dir)
        if not failed:
            return
        print(f"{len(failed)} of {total} job(s) failed; each one's traceback is in its error.txt:", file=sys.stderr)
        for line in failed:
            print(f"  {line}", file=sys.stderr)
        raise SystemExit(1)
