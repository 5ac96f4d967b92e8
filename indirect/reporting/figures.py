"""The figures of a sweep: a grouped bar chart of every job, and a metric-vs-swept-value plot.

The sweep plot serves numeric parameters (``n_components``, ``max_prompts``: a value axis,
log2 when the values span 16x or more) and categorical ones (``backbone``: one tick per value,
in the order the sweep ran them) alike; every plot writes the numbers it draws as a CSV next to
the PNG.
"""
from __future__ import annotations

import csv
import textwrap
from collections import defaultdict
from pathlib import Path
from typing import NamedTuple

import numpy as np
import yaml
from matplotlib.figure import Figure

from indirect.errors import SweepError

from .jobs import PROBLEM_STATUSES, Job, collect_jobs, job_settings, varying_keys
from .results import metric_label, not_applicable, ordered_methods, resolve_metrics
from .tables import Table


def _group_label(row, several_datasets: bool) -> str:
    label = f"{row.context['dataset']}/{row.context['notion']}" if several_datasets else row.context["notion"]
    return f"{label}\n{row.context['setting']}" if row.context["setting"] else label


def bar_chart(table: Table, out_png) -> Path:
    """Grouped bars: one panel per metric, groups = notions (and settings), bars = methods."""
    rows = [row for row in table.rows if row.not_applicable is None]
    several_datasets = len({row.context["dataset"] for row in rows}) > 1
    groups = list(dict.fromkeys(_group_label(row, several_datasets) for row in rows))
    methods = ordered_methods({row.method for row in rows})
    cells = {(_group_label(row, several_datasets), row.method): row for row in rows}
    metrics = table.metrics
    fig = Figure(figsize=(max(6.0, 1.2 * len(groups) * max(1, len(methods)) / 3 + 2), 3.2 * len(metrics)))
    width = 0.8 / max(1, len(methods))
    x = np.arange(len(groups))
    for panel, metric in enumerate(metrics):
        ax = fig.add_subplot(len(metrics), 1, panel + 1)
        for i, method in enumerate(methods):
            summaries = [cells[(g, method)].metrics.get(metric) if (g, method) in cells else None for g in groups]
            means = [np.nan if s is None or s["mean"] is None else 100 * s["mean"] for s in summaries]
            stds = [0.0 if s is None or s["std"] is None else 100 * s["std"] for s in summaries]
            hatch = "//" if any(row.upper_bound for row in rows if row.method == method) else None
            label = f"{method} (upper bound)" if hatch else method
            ax.bar(x + (i - (len(methods) - 1) / 2) * width, means, width, yerr=stds, capsize=2, label=label, hatch=hatch)
        ax.set_xticks(x, groups)
        ax.set_ylabel(f"{metric_label(metric)} ×100")
        ax.grid(axis="y", alpha=0.3)
        if panel == 0:
            ax.legend(fontsize="small", ncols=min(4, max(1, len(methods))), loc="lower left", bbox_to_anchor=(0, 1.02))
    fig.tight_layout()
    fig.savefig(out_png, dpi=120)
    return Path(out_png)


def swept_value(job: Job, param: str):
    """The value ``param`` took in ``job``: its override, else results.json, else .hydra/config.yaml."""
    value = job.override(param)
    if value is None and param in job.results:
        value = job.results[param]
    if value is None:
        config = job.path / ".hydra" / "config.yaml"
        node = yaml.safe_load(config.read_text()) if config.is_file() else None
        for part in param.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        value = node
    if value is None:
        raise SweepError(f"job {job.name} ({job.path}): no value for {param!r} in its overrides, results.json or .hydra/config.yaml")
    if isinstance(value, (dict, list)):
        raise SweepError(f"job {job.name}: {param!r} is a config node in .hydra/config.yaml, not a value; "
                         f"sweep it on the command line ({param}=a,b) so that each job's overrides name it")
    return value


def _numbers(values) -> list[float] | None:
    try:
        return [float(v) for v in values]
    except (TypeError, ValueError):
        return None


class SweepPlotted(NamedTuple):
    """What :func:`plot_sweep` drew: the number of distinct x values, the notes printed under the
    figure (jobs not plotted, x values that are not the override's), and how many jobs of the
    sweep are not in it (failed, missing, never started, stale: a partial sweep)."""

    n_values: int
    notes: list[str]
    n_not_plotted: int


def not_plotted(jobs: list[Job]) -> list[Job]:
    """The jobs a partial sweep lacks (failed, missing, never started, stale); a shard job is none of them."""
    return [job for job in jobs if job.status in PROBLEM_STATUSES]


def not_plotted_note(jobs: list[Job]) -> str | None:
    """``1 of 4 jobs not plotted: 1 failed (max_prompts=40 seed=1)``, or None when every job is ok."""
    keys = varying_keys(jobs)
    parts = []
    for status in PROBLEM_STATUSES:
        left = [job_settings(job, keys) for job in jobs if job.status == status]
        if left:
            parts.append(f"{len(left)} {status} ({'; '.join(left)})")
    n = len(not_plotted(jobs))
    return f"{n} of {len(jobs)} jobs not plotted: {', '.join(parts)}" if n else None


def prompts_used(jobs: list[Job], asked: list) -> tuple[list, str | None]:
    """x of a ``max_prompts`` sweep: the prompts each run used (results.json ``n_prompts``), since a
    size at or above the prompt set keeps all of it; and a note naming the sizes that differ."""
    used = [job.results.get("n_prompts", value) for job, value in zip(jobs, asked)]
    differ = defaultdict(list)
    for value, n in zip(asked, used):
        if str(value) != str(n) and str(value) not in differ[n]:
            differ[n].append(str(value))
    if not differ:
        return used, None
    return used, "; ".join(f"max_prompts={','.join(v)} kept all {n} prompts: drawn at x = {n}"
                           for n, v in sorted(differ.items()))


def plot_sweep(multirun_dir, param: str, out_png, method: str = "indirect", metrics=None,
               reference: str = "clip") -> SweepPlotted:
    """Metric (mean ± std) against the swept value of ``param``, one line per metric.

    Jobs with the same value and the same other settings (e.g. seeds swept as separate jobs)
    are pooled: their per-seed runs are concatenated before mean and std. Jobs that differ in
    anything else (notion, dataset, or any other swept key such as ``protocol``) get lines of
    their own. The ``reference`` method (the raw backbone), when the jobs ran it, is a dashed
    line of the same colour, its mean at each swept value (flat unless the swept value changes
    it, as a backbone sweep does). Numeric values are placed on a value axis, log2 when they span 16x or more; other
    values (backbone names) get one tick each, in sweep order. The plotted numbers are also
    written next to the PNG as ``<name>.csv``. For ``max_prompts`` x is the prompts a run used
    (see :func:`prompts_used`). Jobs that are not ok (a partial sweep) are not plotted and are
    named under the figure. Returns the number of distinct swept values and those notes.
    """
    metrics = resolve_metrics(metrics)
    every_job = collect_jobs(multirun_dir)
    left_out = not_plotted_note(every_job)
    notes = [left_out] if left_out else []
    jobs = [job for job in every_job if job.status == "ok"]
    if not jobs:
        raise SweepError(f"{multirun_dir}: no finished job (results.json) to plot")
    for job in jobs:
        if method not in job.results["methods"]:
            reason = not_applicable(job.results).get(method)
            why = f"method {method!r} is not applicable ({reason})" if reason else \
                f"no method {method!r} in results.json (has {sorted(job.results['methods'])})"
            raise SweepError(f"job {job.name}: {why}; plot another method")
    raw_values = [swept_value(job, param) for job in jobs]
    axis = param                                  # the x axis's name, in the figure and the CSV
    if param == "max_prompts":
        raw_values, note = prompts_used(jobs, raw_values)
        notes += [note] if note else []
        axis = "n_prompts"
    numbers = _numbers(raw_values)
    keys = numbers if numbers is not None else [str(v) for v in raw_values]
    others = [k for k in varying_keys(jobs) if k not in (param, "seed", "notion", "dataset")]
    pooled = defaultdict(lambda: defaultdict(list))
    raw = defaultdict(lambda: defaultdict(list))
    for job, key in zip(jobs, keys):
        per_method = job.results["methods"][method]
        target = (job.results["dataset"], job.results["notion"], " ".join(f"{k}={job.override(k)}" for k in others))
        reference_runs = job.results["methods"].get(reference) if reference != method else None
        for m in metrics:
            if m in per_method:
                pooled[(target, m)][key].extend(per_method[m]["runs"])
            if reference_runs and m in reference_runs:
                raw[(target, m)][key].extend(reference_runs[m]["runs"])
    values = sorted(set(keys)) if numbers is not None else list(dict.fromkeys(keys))
    if not pooled:
        raise SweepError(f"{multirun_dir}: the jobs' results hold none of the metrics {metrics}")
    position = {v: v if numbers is not None else i for i, v in enumerate(values)}
    label_of = {v: f"{v:g}" if numbers is not None else v for v in values}
    targets = sorted({target for target, _ in pooled})
    several_notions = len({target[:2] for target in targets}) > 1
    fig = Figure(figsize=(6 if numbers is not None else max(6.0, 1.6 * len(values)), 4))
    ax = fig.add_subplot(1, 1, 1)
    rows = []
    for (target, m), by_value in pooled.items():
        xs = [v for v in values if v in by_value]
        mean = [100 * np.mean(by_value[v]) for v in xs]
        std = [100 * np.std(by_value[v]) for v in xs]
        offset = 0.0 if numbers is not None else (metrics.index(m) - (len(metrics) - 1) / 2) * 0.05
        line_of = ", ".join(part for part in (target[1] if several_notions else "", target[2]) if part)
        label = f"{line_of}: {metric_label(m)}" if line_of else metric_label(m)
        line = ax.errorbar([position[v] + offset for v in xs], mean, yerr=std, marker="o", capsize=3, label=label)
        raw_mean = {v: 100 * np.mean(raw[(target, m)][v]) for v in xs if raw[(target, m)][v]}
        if raw_mean:
            style = dict(color=line[0].get_color(), linestyle="--", linewidth=1, label=f"{label}, raw ({reference})")
            levels = list(raw_mean.values())
            if max(levels) - min(levels) < 1e-9:          # the usual case: the swept value does not change it
                ax.axhline(levels[0], **style)
            else:
                ax.plot([position[v] + offset for v in raw_mean], levels, **style)
        rows += [{"dataset": target[0], "notion": target[1], "setting": target[2], "metric": metric_label(m),
                  axis: label_of[v], "mean": f"{mu:.2f}", "std": f"{sd:.2f}", "runs": len(by_value[v]),
                  f"{reference} mean": f"{raw_mean[v]:.2f}" if v in raw_mean else ""}
                 for v, mu, sd in zip(xs, mean, std)]
    if numbers is None:
        ax.set_xticks(range(len(values)), values)
    elif values[0] > 0 and values[-1] / values[0] >= 16:
        ax.set_xscale("log", base=2)
        ax.set_xticks(values, [label_of[v] for v in values])
        ax.minorticks_off()
    ax.set_xlabel(axis if axis == param else f"{axis} (prompts used; {param} asked)")
    ax.set_ylabel("metric ×100 (mean ± std)")
    ax.set_title(f"{method} on {', '.join(dict.fromkeys('/'.join(t[:2]) for t in targets))}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    footnote(fig, notes)
    fig.savefig(out_png, dpi=120)
    write_plot_table(out_png, rows)
    return SweepPlotted(len(values), notes, len(not_plotted(every_job)))


def footnote(fig: Figure, notes: list[str], width: int = 100) -> None:
    """Lay ``fig`` out with ``notes`` (wrapped) in small type under the axes, the figure grown to hold them."""
    text = "\n".join(textwrap.fill(note, width) for note in notes)
    if not text:
        fig.tight_layout()
        return
    height = 0.14 * (text.count("\n") + 1) + 0.1
    fig.set_figheight(fig.get_figheight() + height)
    fig.text(0.01, 0.01, text, fontsize=7, ha="left", va="bottom", color="#b2182b")
    fig.tight_layout(rect=(0, height / fig.get_figheight(), 1, 1))


def write_plot_table(out_png, rows: list[dict]) -> Path:
    """The numbers a sweep plot draws, as ``<png name>.csv`` next to it."""
    path = Path(out_png).with_suffix(".csv")
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path
