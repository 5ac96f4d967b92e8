"""Results of runs and sweeps as tables and figures.

``results.py`` holds the results.json contract, ``jobs.py`` what a report covers (one run, or
the jobs of one multirun), ``tables.py`` the one table renderer (md/csv/latex) for both,
``figures.py`` the bar chart and the metric-vs-swept-value plot, ``sweep.py`` the report over a
Hydra multirun directory.
"""
from indirect.errors import ResultsError, SweepError

from .figures import plot_sweep
from .jobs import collect_jobs
from .results import load_results, summarize_runs
from .sweep import write_sweep_report
from .tables import console_table, results_table, run_rows, write_run_tables

__all__ = [
    "ResultsError",
    "SweepError",
    "collect_jobs",
    "console_table",
    "load_results",
    "plot_sweep",
    "results_table",
    "run_rows",
    "summarize_runs",
    "write_run_tables",
    "write_sweep_report",
]
