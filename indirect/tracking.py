"""Experiment tracking: Weights & Biases (offline by default) or nothing.

Local results are always written before anything is logged, and every tracker call is
guarded: a tracking failure warns and never loses a run. An online W&B run that cannot reach
the server gives up after ``init_timeout`` seconds (10, about 13 s with W&B's own start-up; W&B's
default is 90) and says so in one line.
"""
from __future__ import annotations

import functools
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)


def _guarded(method):
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except Exception as error:  # tracking must never cost the run its results
            log.warning("tracker %s.%s failed (%s: %s); local results are kept",
                        type(self).__name__, method.__name__, type(error).__name__, error)
    return wrapper


def numeric_values(values: dict, prefix: str) -> dict[str, float]:
    """The numbers in a nested dict, keyed ``prefix/<key>/<key>...``; strings (file paths) are left out."""
    flat = {}
    for key, value in values.items():
        if isinstance(value, dict):
            flat.update(numeric_values(value, f"{prefix}/{key}"))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            flat[f"{prefix}/{key}"] = value
    return flat


class NoTracker:
    def start(self, config: dict, run_dir: Path, tags: list[str], name: str, group: str | None = None) -> None:
        pass

    def log_results(self, results: dict, table_columns: list[str], table_rows: list[list]) -> None:
        pass

    def log_images(self, images: dict[str, Path]) -> None:
        pass

    def finish(self, exit_code: int = 0) -> None:
        pass


class WandbTracker(NoTracker):
    """Summary metrics under ``<method>/<metric>`` (e.g. ``indirect/precision_at_1``, the
    mean over repetitions, plus ``.../std``), the run's table (``indirect.reporting.run_rows``:
    the columns of its results.csv) as a W&B table, the resolved config, tags (dataset, notion,
    backbone, projector), and the sweep as the W&B group. Analysis figures are logged as images,
    the analyses' numeric summary values under ``analysis/<key>`` (nested dicts as
    ``analysis/<key>/<name>``), whatever the analysis."""

    def __init__(self, project: str = "indirect", mode: str = "offline", entity: str | None = None,
                 group: str | None = None, init_timeout: float = 10.0):
        self.project, self.mode, self.entity, self.group = project, mode, entity, group
        self.init_timeout = init_timeout
        self.run = None

    def start(self, config, run_dir, tags, name, group=None):
        os.environ.setdefault("WANDB_SILENT", "true")
        try:
            import wandb

            self.run = wandb.init(project=self.project, entity=self.entity, mode=self.mode, dir=str(run_dir),
                                  config=config, tags=tags, name=name, group=self.group or group,
                                  reinit="finish_previous", settings=wandb.Settings(init_timeout=self.init_timeout))
        except Exception as error:  # no network, no login, a server error: the run goes on without W&B
            first_line = (str(error).strip().splitlines() or [""])[0]
            waited = f" (it gives up after {self.init_timeout:g} s)" if "timed out" in first_line.lower() else ""
            log.warning("W&B (mode=%s) could not start a run%s; nothing is logged to W&B, local results are kept "
                        "(logger.mode=offline logs now, `wandb sync` uploads later) [%s: %s]",
                        self.mode, waited, type(error).__name__, first_line)
            self.run = None

    @_guarded
    def log_results(self, results, table_columns, table_rows):
        import wandb

        if self.run is None:
            return
        for prefix, methods in (("", results["methods"]), ("ignored/", (results.get("ignored") or {}).get("methods", {}))):
            for method, metrics in methods.items():     # an ignore run's figures on the ignored notion: ignored/...
                for metric, stats in metrics.items():
                    self.run.summary[f"{prefix}{method}/{metric}"] = stats["mean"]
                    self.run.summary[f"{prefix}{method}/{metric}/std"] = stats["std"]
        self.run.summary.update(numeric_values(results.get("analysis") or {}, "analysis"))
        self.run.log({"results": wandb.Table(columns=table_columns, data=table_rows)})

    @_guarded
    def log_images(self, images):
        import wandb

        if self.run is not None:
            self.run.log({key: wandb.Image(str(path)) for key, path in images.items()})

    @_guarded
    def finish(self, exit_code: int = 0):
        """Close the run; a non-zero ``exit_code`` marks it failed in W&B (not an empty success)."""
        if self.run is not None:
            self.run.finish(exit_code=exit_code)
            self.run = None
