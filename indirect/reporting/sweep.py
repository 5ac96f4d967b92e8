"""The report over a Hydra multirun directory: one table, one bar chart, every missing run named.

Layout read (Hydra's)::

    <multirun dir>/multirun.yaml              the sweep's config and command-line overrides
    <multirun dir>/<job number>/results.json  one run (see results.py)
    <multirun dir>/<job number>/.hydra/overrides.yaml

A job directory without results.json is *missing*; one holding an error file
(:data:`ERROR_FILES`, written by the pipeline when a job fails) or an unreadable results.json
is *failed*; a job the sweep defines (Hydra's basic sweeper, read from multirun.yaml) that has
no directory at all *never started*. All three are listed in every report format: a sweep
report that silently drops runs would make a partial sweep look complete.
"""
from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml
from matplotlib.figure import Figure

from .results import (
    HEADLINE_METRICS,
    METRIC_LABELS,
    ResultsError,
    format_mean_std,
    is_upper_bound,
    load_results,
    metric_label,
    ordered_methods,
)
from .tables import UPPER_BOUND_NOTE, latex_escape
from indirect.errors import SweepError

ERROR_FILES = ("error.txt", "error.json", "ERROR")
ROW_KEYS = ("dataset", "notion")



@dataclass
class Job:
    """One job of a sweep and what became of it."""

    name: str
    path: Path
    status: str  # "ok", "missing", "failed" or "not started"
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
    except Exception:  # an unusual multirun.yaml only costs the "never started" check
        return None


def _read_overrides(job_dir: Path) -> list[str] | None:
    path = job_dir / ".hydra" / "overrides.yaml"
    if not path.is_file():
        return None
    return [str(item) for item in (yaml.safe_load(path.read_text()) or [])]


def _error_reason(job_dir: Path) -> str | None:
    for name in ERROR_FILES:
        path = job_dir / name
        if path.is_file():
            lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
            return f"{name}: {lines[-1] if lines else '(empty)'}"
    return None


def collect_jobs(multirun_dir) -> list[Job]:
    """Every job of the sweep, in job-number order, with its status and results."""
    multirun_dir = Path(multirun_dir)
    if not multirun_dir.is_dir():
        raise SweepError(f"{multirun_dir}: no such directory; pass the folder that holds multirun.yaml")
    job_dirs = sorted((p for p in multirun_dir.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name))
    expected = _expected_overrides(multirun_dir)
    if not job_dirs and not expected:
        raise SweepError(f"{multirun_dir}: no job directories (0/, 1/, ...); pass the folder that holds multirun.yaml")
    jobs = []
    for job_dir in job_dirs:
        number = int(job_dir.name)
        overrides = _read_overrides(job_dir)
        if overrides is None:
            overrides = expected[number] if expected and number < len(expected) else []
        job = Job(job_dir.name, job_dir, "ok", overrides)
        reason = _error_reason(job_dir)
        results_path = job_dir / "results.json"
        if reason is not None:
            job.status, job.reason = "failed", reason
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


def _setting_keys(jobs: list[Job]) -> list[str]:
    """Override keys whose value differs between jobs, other than dataset and notion."""
    values = defaultdict(set)
    for job in jobs:
        for item in job.overrides:
            key, _, value = item.partition("=")
            values[key.lstrip("+~")].add(value)
    keys = [k for k, v in values.items() if k not in ROW_KEYS and (len(v) > 1 or any(job.override(k) is None for job in jobs))]
    return sorted(keys)


def _setting(job: Job, keys: list[str]) -> str:
    return ", ".join(f"{k}={job.override(k)}" for k in keys if job.override(k) is not None)


def sweep_rows(jobs: list[Job], metrics) -> list[dict]:
    """One row per (job, method) of the finished jobs, by dataset, notion, job (sweep order), method."""
    keys = _setting_keys(jobs)
    rows = []
    for job in jobs:
        if job.status != "ok":
            continue
        results = job.results
        for method in ordered_methods(results["methods"]):
            rows.append(
                {
                    "dataset": results["dataset"],
                    "notion": results["notion"],
                    "setting": _setting(job, keys),
                    "method": method,
                    "upper_bound": is_upper_bound(method, results),
                    "job": job.name,
                    "metrics": {m: results["methods"][method].get(m) for m in metrics},
                }
            )
    method_rank = {m: i for i, m in enumerate(ordered_methods({r["method"] for r in rows}))}
    return sorted(rows, key=lambda r: (r["dataset"], r["notion"], int(r["job"]), method_rank[r["method"]]))


def _row_label_columns(rows) -> list[str]:
    columns = ["dataset"] if len({r["dataset"] for r in rows}) > 1 else []
    columns.append("notion")
    if any(r["setting"] for r in rows):
        columns.append("setting")
    return columns + ["method"]


def _method_cell(row, mark: str) -> str:
    return f"{row['method']} (upper bound){mark}" if row["upper_bound"] else row["method"]


def _problem_jobs(jobs):
    return [job for job in jobs if job.status != "ok"]


def _status_line(jobs) -> str:
    counts = defaultdict(int)
    for job in jobs:
        counts[job.status] += 1
    parts = [f"{counts[s]} {s}" for s in ("ok", "missing", "failed", "not started") if counts[s]]
    return f"{len(jobs)} job(s): " + ", ".join(parts)


def _markdown(multirun_dir, jobs, rows, metrics) -> str:
    label_columns = _row_label_columns(rows)
    lines = [f"# Sweep report: {multirun_dir}", "", _status_line(jobs), ""]
    lines.append("| " + " | ".join(label_columns + [metric_label(m) for m in metrics]) + " |")
    lines.append("|" + "---|" * len(label_columns) + "---:|" * len(metrics))
    for row in rows:
        cells = [_method_cell(row, " †") if c == "method" else str(row[c]) for c in label_columns]
        cells += [format_mean_std(row["metrics"][m]) for m in metrics]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Values ×100, mean ± population std over each run's seeds."]
    if any(r["upper_bound"] for r in rows):
        lines.append(f"† {UPPER_BOUND_NOTE}.")
    problems = _problem_jobs(jobs)
    lines += ["", "## Missing and failed runs", ""]
    if problems:
        lines += ["| job | status | overrides | reason |", "|---|---|---|---|"]
        for job in problems:
            lines.append(f"| {job.name} | {job.status} | {' '.join(job.overrides)} | {job.reason} |")
    else:
        lines.append("None: every job wrote its results.json.")
    return "\n".join(lines) + "\n"


def _csv(jobs, rows, metrics) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    header = ["dataset", "notion", "setting", "method", "upper_bound", "job", "status", "reason"]
    for m in metrics:
        header += [f"{metric_label(m)} mean", f"{metric_label(m)} std"]
    writer.writerow(header)
    for row in rows:
        values = []
        for m in metrics:
            summary = row["metrics"][m]
            values += ["", ""] if summary is None else [f"{100 * summary['mean']:.4f}", f"{100 * summary['std']:.4f}"]
        writer.writerow([row["dataset"], row["notion"], row["setting"], row["method"], row["upper_bound"], row["job"], "ok", ""] + values)
    for job in _problem_jobs(jobs):
        writer.writerow(["", "", " ".join(job.overrides), "", "", job.name, job.status, job.reason] + [""] * (2 * len(metrics)))
    return out.getvalue()


def _latex(jobs, rows, metrics) -> str:
    label_columns = _row_label_columns(rows)
    width = len(label_columns) + len(metrics)
    lines = [
        "% values x100, mean $\\pm$ population std over each run's seeds",
        r"\begin{tabular}{" + "l" * len(label_columns) + "r" * len(metrics) + "}",
        r"\toprule",
        " & ".join([c.capitalize() for c in label_columns] + [latex_escape(metric_label(m)) for m in metrics]) + r" \\",
        r"\midrule",
    ]
    for row in rows:
        cells = []
        for c in label_columns:
            text = latex_escape(_method_cell(row, "") if c == "method" else str(row[c]))
            cells.append(text + (r"$^\dagger$" if c == "method" and row["upper_bound"] else ""))
        cells += [format_mean_std(row["metrics"][m], pm=r"$\pm$") for m in metrics]
        lines.append(" & ".join(cells) + r" \\")
    lines.append(r"\bottomrule")
    if any(r["upper_bound"] for r in rows):
        lines.append(rf"\multicolumn{{{width}}}{{l}}{{\footnotesize $^\dagger$ {UPPER_BOUND_NOTE}}} \\")
    for job in _problem_jobs(jobs):
        text = latex_escape(f"job {job.name} {job.status}: {' '.join(job.overrides)} ({job.reason})")
        lines.append(rf"\multicolumn{{{width}}}{{l}}{{\footnotesize {text}}} \\")
    lines.append(r"\end{tabular}")
    return "\n".join(lines) + "\n"


def _group_label(row, several_datasets: bool) -> str:
    label = f"{row['dataset']}/{row['notion']}" if several_datasets else row["notion"]
    return f"{label}\n{row['setting']}" if row["setting"] else label


def bar_chart(rows, metrics, out_png) -> Path:
    """Grouped bars: one panel per metric, groups = notions (and settings), bars = methods."""
    several_datasets = len({r["dataset"] for r in rows}) > 1
    groups = list(dict.fromkeys(_group_label(r, several_datasets) for r in rows))
    methods = ordered_methods({r["method"] for r in rows})
    cells = {(_group_label(r, several_datasets), r["method"]): r for r in rows}
    fig = Figure(figsize=(max(6.0, 1.2 * len(groups) * max(1, len(methods)) / 3 + 2), 3.2 * len(metrics)))
    width = 0.8 / max(1, len(methods))
    x = np.arange(len(groups))
    for panel, metric in enumerate(metrics):
        ax = fig.add_subplot(len(metrics), 1, panel + 1)
        for i, method in enumerate(methods):
            means, stds = [], []
            for group in groups:
                summary = cells.get((group, method), {}).get("metrics", {}).get(metric)
                means.append(np.nan if summary is None else 100 * summary["mean"])
                stds.append(0.0 if summary is None else 100 * summary["std"])
            hatch = "//" if any(r["upper_bound"] for r in rows if r["method"] == method) else None
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


def resolve_metrics(metrics) -> list[str]:
    """Metric names or their table labels (``P@1``, ``MAP@R``...) -> metric names."""
    if not metrics:
        return list(HEADLINE_METRICS)
    by_label = {label.lower(): name for name, label in METRIC_LABELS.items()}
    return [by_label.get(m.lower(), m) for m in metrics]


def write_sweep_report(multirun_dir, out_dir=None, metrics=None) -> dict:
    """Write report.md, report.csv, report.tex and report.png; return their paths and the jobs."""
    multirun_dir = Path(multirun_dir)
    metrics = resolve_metrics(metrics)
    jobs = collect_jobs(multirun_dir)
    out_dir = Path(out_dir) if out_dir is not None else multirun_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = sweep_rows(jobs, metrics)
    paths = {
        "md": out_dir / "report.md",
        "csv": out_dir / "report.csv",
        "tex": out_dir / "report.tex",
        "png": out_dir / "report.png",
    }
    paths["md"].write_text(_markdown(multirun_dir, jobs, rows, metrics))
    paths["csv"].write_text(_csv(jobs, rows, metrics))
    paths["tex"].write_text(_latex(jobs, rows, metrics))
    if rows:
        bar_chart(rows, metrics, paths["png"])
    else:
        del paths["png"]
    return {"paths": paths, "jobs": jobs, "rows": rows}


def _swept_value(job: Job, param: str) -> float:
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
    try:
        return float(value)
    except (TypeError, ValueError) as error:
        raise SweepError(f"job {job.name}: {param}={value!r} is not numeric; plot_sweep needs a numeric swept parameter") from error


def plot_sweep(multirun_dir, param: str, out_png, method: str = "indirect", metrics=None,
               reference: str = "clip") -> int:
    """Metric (mean ± std) against the swept value of ``param``, one line per metric.

    Jobs with the same value (e.g. seeds swept as separate jobs) are pooled: their per-seed
    runs are concatenated before mean and std. A sweep over several notions gets one line per
    notion and metric. The ``reference`` method (the raw backbone), when the jobs ran it, is a
    dashed line of the same colour (its mean over all jobs: it does not depend on the swept
    value). Values spanning 16x or more are drawn on a log2 axis. The plotted numbers are also
    written next to the PNG as ``<name>.csv``. Returns the number of distinct swept values.
    """
    metrics = resolve_metrics(metrics)
    jobs = [job for job in collect_jobs(multirun_dir) if job.status == "ok"]
    if not jobs:
        raise SweepError(f"{multirun_dir}: no finished job (results.json) to plot")
    pooled = defaultdict(lambda: defaultdict(list))
    raw = defaultdict(list)
    for job in jobs:
        per_method = job.results["methods"].get(method)
        if per_method is None:
            raise SweepError(f"job {job.name}: no method {method!r} in results.json (has {sorted(job.results['methods'])})")
        x = _swept_value(job, param)
        target = f"{job.results['dataset']}/{job.results['notion']}"
        reference_runs = job.results["methods"].get(reference) if reference != method else None
        for m in metrics:
            if m in per_method:
                pooled[(target, m)][x].extend(per_method[m]["runs"])
            if reference_runs and m in reference_runs:
                raw[(target, m)].extend(reference_runs[m]["runs"])
    targets = sorted({target for target, _ in pooled})
    values = sorted({x for by_value in pooled.values() for x in by_value})
    if not values:
        raise SweepError(f"{multirun_dir}: the jobs' results hold none of the metrics {metrics}")
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot(1, 1, 1)
    rows = []
    for (target, m), by_value in pooled.items():
        xs = sorted(by_value)
        mean = [100 * np.mean(by_value[x]) for x in xs]
        std = [100 * np.std(by_value[x]) for x in xs]
        label = metric_label(m) if len(targets) == 1 else f"{target.split('/')[1]}: {metric_label(m)}"
        line = ax.errorbar(xs, mean, yerr=std, marker="o", capsize=3, label=label)
        raw_mean = 100 * np.mean(raw[(target, m)]) if raw[(target, m)] else None
        if raw_mean is not None:
            ax.axhline(raw_mean, color=line[0].get_color(), linestyle="--", linewidth=1,
                       label=f"{label}, raw ({reference})")
        rows += [{"dataset": target.split("/")[0], "notion": target.split("/")[1], "metric": metric_label(m),
                  param: f"{x:g}", "mean": f"{mu:.2f}", "std": f"{sd:.2f}", "runs": len(by_value[x]),
                  f"{reference} mean": "" if raw_mean is None else f"{raw_mean:.2f}"}
                 for x, mu, sd in zip(xs, mean, std)]
    if values[0] > 0 and values[-1] / values[0] >= 16:
        ax.set_xscale("log", base=2)
        ax.set_xticks(values, [f"{x:g}" for x in values])
        ax.minorticks_off()
    ax.set_xlabel(param)
    ax.set_ylabel("metric ×100 (mean ± std)")
    ax.set_title(f"{method} on {', '.join(targets)}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(out_png, dpi=120)
    write_plot_table(out_png, rows)
    return len(values)


def write_plot_table(out_png, rows: list[dict]) -> Path:
    """The numbers a sweep plot draws, as ``<png name>.csv`` next to it."""
    path = Path(out_png).with_suffix(".csv")
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path
