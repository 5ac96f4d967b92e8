"""The report over a Hydra multirun directory: one table in three formats, one bar chart.

The table is the same renderer as a single run's (a run is a sweep of one job); the sweep adds
its heading, the job status line and the list of missing, failed, never-started and stale jobs.
"""
from __future__ import annotations

from pathlib import Path

from .figures import bar_chart
from .jobs import collect_jobs
from .results import resolve_metrics
from .tables import build_table, render


def write_sweep_report(multirun_dir, out_dir=None, metrics=None) -> dict:
    """Write report.md, report.csv, report.tex and report.png; return their paths, the jobs and the rows."""
    multirun_dir = Path(multirun_dir)
    jobs = collect_jobs(multirun_dir)
    chosen = resolve_metrics(metrics)
    reported = {m for job in jobs if job.status == "ok" for per in job.results["methods"].values() for m in per}
    if not metrics and reported and not reported & set(chosen):
        chosen = None  # runs of another protocol (conditional: recall_at_k): every metric they report
    elif not metrics:  # a sweep mixing retrieval and conditional jobs: the recalls get columns too
        chosen += sorted(m for m in reported if m.startswith("recall_at_"))
    table = build_table(jobs, chosen, heading=f"Sweep report: {multirun_dir}")
    out_dir = Path(out_dir) if out_dir is not None else multirun_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"md": out_dir / "report.md", "csv": out_dir / "report.csv", "tex": out_dir / "report.tex"}
    for fmt, path in zip(("md", "csv", "latex"), paths.values()):
        path.write_text(render(table, fmt))
    if any(row.not_applicable is None for row in table.rows):
        paths["png"] = bar_chart(table, out_dir / "report.png")
    return {"paths": paths, "jobs": jobs, "rows": table.rows}
