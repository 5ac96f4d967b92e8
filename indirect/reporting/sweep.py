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
    table = build_table(jobs, resolve_metrics(metrics), heading=f"Sweep report: {multirun_dir}")
    out_dir = Path(out_dir) if out_dir is not None else multirun_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"md": out_dir / "report.md", "csv": out_dir / "report.csv", "tex": out_dir / "report.tex"}
    for fmt, path in zip(("md", "csv", "latex"), paths.values()):
        path.write_text(render(table, fmt))
    if any(row.not_applicable is None for row in table.rows):
        paths["png"] = bar_chart(table, out_dir / "report.png")
    return {"paths": paths, "jobs": jobs, "rows": table.rows}
