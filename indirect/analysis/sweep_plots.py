"""Metric against swept value for the sweep experiments (conf/experiment/sweep_*.yaml).

Numeric parameters (n_components, max_prompts) are drawn by ``indirect.reporting.plot_sweep``;
categorical ones (the backbone of the CLIP-size sweep) are drawn here, one tick per value in the
order the sweep ran them. :class:`SweepPlot` is a Hydra callback the sweep experiments install,
so ``python train_eval.py -m experiment=sweep_dims`` ends with ``sweep_<param>.png`` in the
multirun folder; ``scripts/plot_sweep.py`` redraws it from any multirun folder.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path

import numpy as np
from hydra.experimental.callback import Callback
from matplotlib.figure import Figure

from indirect.reporting.results import metric_label
from indirect.reporting.sweep import SweepError, collect_jobs, plot_sweep, resolve_metrics, write_plot_table

log = logging.getLogger(__name__)


def _is_number(value) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def plot_categorical_sweep(multirun_dir, param: str, out_png, method: str = "indirect", metrics=None) -> int:
    """Metric (mean ± std over the pooled runs of each value) against a non-numeric swept value."""
    metrics = resolve_metrics(metrics)
    jobs = [job for job in collect_jobs(multirun_dir) if job.status == "ok"]
    if not jobs:
        raise SweepError(f"{multirun_dir}: no finished job (results.json) to plot")
    pooled: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for job in jobs:
        value = job.override(param)
        if value is None:
            raise SweepError(f"job {job.name} ({job.path}): {param!r} is not among its overrides {job.overrides}")
        per_method = job.results["methods"].get(method)
        if per_method is None:
            raise SweepError(f"job {job.name}: no method {method!r} in results.json (has {sorted(job.results['methods'])})")
        for m in metrics:
            if m in per_method:
                pooled[value][m].extend(per_method[m]["runs"])
    values = list(pooled)
    fig = Figure(figsize=(max(5.0, 1.6 * len(values)), 4))
    ax = fig.add_subplot(1, 1, 1)
    x = np.arange(len(values))
    rows = []
    for i, m in enumerate(metrics):
        mean = [100 * np.mean(pooled[v][m]) if pooled[v][m] else np.nan for v in values]
        std = [100 * np.std(pooled[v][m]) if pooled[v][m] else 0.0 for v in values]
        ax.errorbar(x + (i - (len(metrics) - 1) / 2) * 0.05, mean, yerr=std, marker="o", capsize=3, label=metric_label(m))
        rows += [{"metric": metric_label(m), param: v, "mean": f"{mu:.2f}", "std": f"{sd:.2f}", "runs": len(pooled[v][m])}
                 for v, mu, sd in zip(values, mean, std)]
    ax.set_xticks(x, values)
    targets = sorted({f"{job.results['dataset']}/{job.results['notion']}" for job in jobs})
    ax.set_xlabel(param)
    ax.set_ylabel("metric ×100 (mean ± std)")
    ax.set_title(f"{method} on {', '.join(targets)}")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_png, dpi=120)
    write_plot_table(out_png, rows)
    return len(values)


def plot_swept(multirun_dir, param: str, out_png=None, method: str = "indirect", metrics=None) -> tuple[Path, int]:
    """Draw ``sweep_<param>.png`` (default: in the multirun folder); returns (path, number of values)."""
    multirun_dir = Path(multirun_dir)
    out_png = Path(out_png) if out_png else multirun_dir / f"sweep_{param.replace('.', '_')}.png"
    values = [job.override(param) for job in collect_jobs(multirun_dir) if job.status == "ok"]
    if all(value is None or _is_number(value) for value in values):
        n = plot_sweep(multirun_dir, param, out_png, method=method, metrics=metrics)
    else:
        n = plot_categorical_sweep(multirun_dir, param, out_png, method=method, metrics=metrics)
    return out_png, n


class SweepPlot(Callback):
    """Hydra callback: after the last job of a multirun, plot the metrics against ``param``."""

    def __init__(self, param: str, method: str = "indirect"):
        self.param, self.method = param, method

    def on_multirun_end(self, config, **kwargs) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir))
        try:
            out_png, n = plot_swept(sweep_dir, self.param, method=self.method)
        except SweepError as error:  # the jobs' results are on disk; only the figure is lost
            log.error("sweep plot not drawn: %s", error)
            return
        log.info("%s: %d value(s) of %s", out_png, n, self.param)
        print(f"{out_png}: {n} value(s) of {self.param}")
