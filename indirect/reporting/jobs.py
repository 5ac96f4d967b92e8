"""The jobs a report covers: one run, or every job of one Hydra multirun.

A single run is a sweep of one job (:func:`run_job`), so one renderer serves both. Layout read
for a multirun (Hydra's)::

    <multirun dir>/multirun.yaml              the sweep's config and command-line overrides
    <multirun dir>/.sweep_id                  this sweep's id (written by indirect.sweep_callbacks)
    <multirun dir>/<job number>/results.json  one run (see results.py)
    <multirun dir>/<job number>/shard.json    a shard job's {"shard": k, "num_shards": n}
    <multirun dir>/<job number>/.hydra/overrides.yaml
    <multirun dir>/<job number>/.sweep_id     the id of the sweep that ran the job

A job directory with ``shard.json`` and no results.json is a *shard* job (``embed.shard``): it
embedded its slice of the image cache and left the experiment to the job that completed the
cache; it is listed, neither as a result nor as a problem. Any other job directory without
results.json is *missing*; one holding an error file
(:data:`ERROR_FILES`, written by the pipeline when a job fails) or an unreadable results.json
is *failed*; a job the sweep defines (Hydra's basic sweeper, read from multirun.yaml) that has
no directory at all *never started*; a directory whose overrides or sweep id are not this
sweep's is *stale* (an earlier sweep into the same folder) and its results are never read. All
of them are listed in every report format: a report that silently dropped or mixed runs would
make a partial sweep look complete.
"""
from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from indirect.errors import ResultsError, SweepError

from .results import load_results, validate_results

ERROR_FILES = ("error.txt", "error.json", "ERROR")
SHARD_FILE = "shard.json"
SWEEP_ID_FILE = ".sweep_id"
PROBLEM_STATUSES = ("missing", "failed", "not started", "stale")


@dataclass
class Job:
    """One job of a sweep and what became of it."""

    name: str
    path: Path | None
    status: str  # "ok", "shard" or one of PROBLEM_STATUSES
    overrides: list[str] = field(default_factory=list)
    results: dict | None = None
    reason: str = ""

    def override(self, key: str):
        """The value given to ``key`` (also ``+key`` / ``++key``) on this job's command line."""
        for item in self.overrides:
            name, _, value = item.partition("=")
            if name.lstrip("+~") == key:
                return value
        return None


def varying_keys(jobs: list[Job]) -> list[str]:
    """Override keys whose value differs between jobs (or that some jobs lack), sorted."""
    values = _values_by_key(job.overrides for job in jobs)
    return sorted(k for k, v in values.items() if len(v) > 1 or any(job.override(k) is None for job in jobs))


def _values_by_key(override_lists) -> dict[str, set[str]]:
    values = defaultdict(set)
    for overrides in override_lists:
        for item in overrides:
            key, _, value = item.partition("=")
            values[key.lstrip("+~")].add(value)
    return values


def job_settings(job: Job, keys: list[str]) -> str:
    """``job``'s own values of the sweep's varying ``keys`` (``max_prompts=40 seed=1``), or ``job <name>``."""
    return " ".join(f"{k}={job.override(k)}" for k in keys) or f"job {job.name}"


def run_job(results: dict) -> Job:
    """One run's results as the only job of a sweep."""
    return Job("", None, "ok", results=validate_results(results))


def _expected_overrides(multirun_dir: Path) -> list[list[str]] | None:
    """Each job's overrides as Hydra's basic sweeper enumerates them, or None if unknown."""
    path = multirun_dir / "multirun.yaml"
    if not path.is_file():
        return None
    try:
        from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
        from hydra.core.override_parser.overrides_parser import OverridesParser

        hydra_cfg = (yaml.safe_load(path.read_text()) or {}).get("hydra", {})
        sweeper = hydra_cfg.get("sweeper", {}) or {}
        if "BasicSweeper" not in str(sweeper.get("_target_", "")):
            return None
        arguments = [f"{k}={v}" for k, v in (sweeper.get("params") or {}).items()]
        arguments += list((hydra_cfg.get("overrides") or {}).get("task") or [])
        parsed = OverridesParser.create().parse_overrides(arguments)
        return BasicSweeper.split_arguments(parsed, None)[0]
    except Exception:  # an unusual multirun.yaml only costs the "never started" and "stale" checks
        return None


def swept_keys(multirun_dir: Path) -> list[str]:
    """The keys whose value differs between the jobs ``multirun_dir/multirun.yaml`` defines (empty when
    there is none or it cannot be read): what a job can know of its sweep before the others ran."""
    values = _values_by_key(_expected_overrides(Path(multirun_dir)) or [])
    return sorted(k for k, v in values.items() if len(v) > 1)


def _read_overrides(job_dir: Path) -> list[str] | None:
    path = job_dir / ".hydra" / "overrides.yaml"
    if not path.is_file():
        return None
    return [str(item) for item in (yaml.safe_load(path.read_text()) or [])]


def read_sweep_id(folder: Path) -> str | None:
    path = Path(folder) / SWEEP_ID_FILE
    return path.read_text().strip() if path.is_file() else None


def error_reason(job_dir: Path) -> str | None:
    """``<error file>: <its last line>`` (the one-line message under the traceback), or None."""
    for name in ERROR_FILES:
        path = job_dir / name
        if path.is_file():
            lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
            return f"{name}: {lines[-1] if lines else '(empty)'}"
    return None


def shard_reason(job_dir: Path) -> str:
    """What a shard job did, from its shard.json."""
    try:
        shard = json.loads((job_dir / SHARD_FILE).read_text())
        which = f"shard {shard['shard']} of {shard['num_shards']}"
    except (OSError, ValueError, TypeError, KeyError):
        which = f"{SHARD_FILE} unreadable"
    return f"{which}: embedding only; one job of a sharded sweep runs the experiment"


def _stale_reason(number: int, overrides, expected, job_id, sweep_id) -> str | None:
    if expected is not None and number >= len(expected):
        return f"not a job of this sweep (multirun.yaml defines {len(expected)} job(s)); left by an earlier sweep"
    if expected is not None and overrides is not None and sorted(overrides) != sorted(expected[number]):
        return f"holds an earlier sweep's job ({' '.join(overrides)}); this sweep's job never wrote here"
    if sweep_id is not None and job_id != sweep_id:
        return f"sweep id {job_id or 'absent'} is not this sweep's ({sweep_id}); left by an earlier sweep"
    return None


def collect_jobs(multirun_dir) -> list[Job]:
    """Every job of the sweep, in job-number order, with its status and (if ok) its results."""
    multirun_dir = Path(multirun_dir)
    if not multirun_dir.is_dir():
        raise SweepError(f"{multirun_dir}: no such directory; pass the folder that holds multirun.yaml")
    job_dirs = sorted((p for p in multirun_dir.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name))
    expected = _expected_overrides(multirun_dir)
    sweep_id = read_sweep_id(multirun_dir)
    if not job_dirs and not expected:
        raise SweepError(f"{multirun_dir}: no job directories (0/, 1/, ...); pass the folder that holds multirun.yaml")
    jobs = []
    for job_dir in job_dirs:
        number = int(job_dir.name)
        overrides = _read_overrides(job_dir)
        wanted = expected[number] if expected and number < len(expected) else None
        stale = _stale_reason(number, overrides, expected, read_sweep_id(job_dir), sweep_id)
        if stale is not None:
            jobs.append(Job(job_dir.name, job_dir, "stale", wanted or overrides or [], reason=stale))
            continue
        job = Job(job_dir.name, job_dir, "ok", overrides if overrides is not None else wanted or [])
        reason = error_reason(job_dir)
        results_path = job_dir / "results.json"
        if reason is not None:
            job.status, job.reason = "failed", reason
        elif not results_path.is_file() and (job_dir / SHARD_FILE).is_file():
            job.status, job.reason = "shard", shard_reason(job_dir)
        elif not results_path.is_file():
            job.status, job.reason = "missing", "no results.json"
        else:
            try:
                job.results = load_results(results_path)
            except ResultsError as error:
                job.status, job.reason = "failed", str(error)
        jobs.append(job)
    found = {int(job.name) for job in jobs}
    for number, overrides in enumerate(expected or []):
        if number not in found:
            jobs.append(Job(str(number), multirun_dir / str(number), "not started", overrides, reason="no job directory"))
    return sorted(jobs, key=lambda job: int(job.name))
