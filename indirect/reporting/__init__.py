"""Results of runs and sweeps as tables and figures.

``results.py`` holds the results.json contract, ``tables.py`` one run's table (md/csv/latex),
``sweep.py`` the report over a Hydra multirun directory.
"""
from .results import ResultsError, load_results, summarize_runs
from .sweep import SweepError, plot_sweep, write_sweep_report
from .tables import console_table, results_table, write_run_tables

__all__ = [
    "ResultsError",
    "SweepError",
    "console_table",
    "load_results",
    "plot_sweep",
    "results_table",
    "summarize_runs",
    "write_run_tables",
    "write_sweep_report",
]
