"""Every results table, one renderer: a run is a sweep of one job.

Rows are (job, method) pairs, columns metrics, values x100. What every job shares (dataset,
notion, protocol, backbone, image and prompt counts) is said once in the caption; what differs
between jobs becomes a column, ``setting`` holding the command-line overrides that differ.
Markdown and LaTeX cells read ``mean ± std`` over the seeds; CSV keeps mean and std in separate
columns (also x100) and always has the same columns, so a spreadsheet can sort and plot them.
Upper-bound methods (the oracle, which trains on the evaluation labels) are marked and
explained in a footnote, so nobody reads them as competitors; methods the run's protocol does
not apply (``not_applicable`` in results.json) show ``-`` and the reason; jobs without results
(missing, failed, never started, stale) are listed under the table, and shard jobs (which only
embedded a slice of the image cache) are counted and named above it.
"""
from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from .jobs import PROBLEM_STATUSES, Job, run_job, varying_keys
from .results import (
    format_mean_std,
    is_upper_bound,
    metric_label,
    not_applicable,
    ordered_methods,
    ordered_metrics,
    single_run,
)

FORMATS = ("md", "csv", "latex")
UPPER_BOUND_NOTE = "upper bound: trained on the evaluation images' own labels, a ceiling rather than a competitor"
NOT_APPLICABLE = "-"
CONTEXT_COLUMNS = ("dataset", "notion", "protocol", "setting")


@dataclass
class Row:
    """One method of one job."""

    job: Job
    method: str
    context: dict[str, str]  # dataset, notion, protocol, setting
    upper_bound: bool
    metrics: dict[str, dict | None]
    n_runs: int
    not_applicable: str | None = None  # the reason, for a method the protocol does not apply


@dataclass
class Table:
    """What a report shows: the rows of the finished jobs, the metric columns, every job."""

    jobs: list[Job]
    rows: list[Row]
    metrics: list[str]
    heading: str | None = None  # a sweep report's title; None for a run's own table

    @property
    def ok_results(self) -> list[dict]:
        return [job.results for job in self.jobs if job.status == "ok"]

    @property
    def problems(self) -> list[Job]:
        return [job for job in self.jobs if job.status in PROBLEM_STATUSES]

    @property
    def shards(self) -> list[Job]:
        return [job for job in self.jobs if job.status == "shard"]

    def label_columns(self) -> list[str]:
        """Context columns whose value differs between rows, then ``method``."""
        varying = [c for c in CONTEXT_COLUMNS if len({row.context[c] for row in self.rows}) > 1]
        if any(row.context["setting"] for row in self.rows) and "setting" not in varying:
            varying.append("setting")
        return varying + ["method"]


def build_table(jobs: list[Job], metrics=None, heading: str | None = None) -> Table:
    """The rows of ``jobs`` (by dataset, notion, job order, method); ``metrics`` None = all present."""
    finished = [job for job in jobs if job.status == "ok"]
    if metrics is None:
        metrics = ordered_metrics({m for job in finished for per in job.results["methods"].values() for m in per})
    keys = [k for k in varying_keys([job for job in jobs if job.status != "shard"]) if k not in ("dataset", "notion")]
    rows = []
    for order, job in enumerate(finished):
        results = job.results
        skipped = not_applicable(results)
        context = {"dataset": results["dataset"], "notion": results["notion"],
                   "protocol": results.get("protocol", "unspecified"),
                   "setting": ", ".join(f"{k}={job.override(k)}" for k in keys if job.override(k) is not None)}
        for method in ordered_methods(list(results["methods"]) + list(skipped)):
            per_method = results["methods"].get(method, {})
            rows.append(Row(job, method, context, is_upper_bound(method, results),
                            {m: per_method.get(m) for m in metrics},
                            max((len(s.get("runs", [])) for s in per_method.values()), default=0),
                            skipped.get(method)))
    order = {id(job): i for i, job in enumerate(finished)}
    rows.sort(key=lambda r: (r.context["dataset"], r.context["notion"], order[id(r.job)]))
    return Table(jobs, rows, list(metrics), heading)


def _span(values, unit: str) -> str:
    low, high = min(values), max(values)
    return f"{low} {unit}" if low == high else f"{low}–{high} {unit}"


def caption(table: Table) -> str:
    """One line saying what was evaluated: what every finished job shares."""
    results = table.ok_results
    if not results:
        return "no finished job"
    shared = [key for key in ("dataset", "notion") if len({r[key] for r in results}) == 1]
    what = " / ".join(results[0][key] for key in shared)
    backbones = list(dict.fromkeys(r["backbone"] for r in results))
    details = [("backbone " if len(backbones) == 1 else "backbones ") + ", ".join(backbones),
               _span([r["n_images"] for r in results], "images"), _span([r["n_prompts"] for r in results], "prompts")]
    return f"{what} — {', '.join(details)}" if what else ", ".join(details)


def protocol_line(table: Table) -> str | None:
    """``protocol: paper`` when every finished job names the same protocol (else it is a column)."""
    protocols = {r.get("protocol") for r in table.ok_results}
    return f"protocol: {protocols.pop()}" if len(protocols) == 1 and None not in protocols else None


def runs_note(table: Table) -> str:
    counts = sorted({row.n_runs for row in table.rows if row.not_applicable is None})
    if counts == [1]:
        return "Values ×100, one run each."
    if len(counts) <= 1:
        return f"Values ×100, mean ± population std over {counts[0] if counts else 0} run(s)."
    return (f"Values ×100, mean ± population std over {counts[0]}–{counts[-1]} run(s) per method (n_runs in the CSV)"
            + ("; a value without ± is a single run (e.g. a method that does not depend on the seed, fitted once)."
               if counts[0] == 1
               else "."))


def not_applicable_notes(table: Table) -> list[str]:
    reasons = dict.fromkeys((row.method, row.not_applicable) for row in table.rows if row.not_applicable)
    return [f"{method}: not applicable ({reason})" for method, reason in reasons]


def status_line(jobs: list[Job]) -> str:
    counts = defaultdict(int)
    for job in jobs:
        counts[job.status] += 1
    parts = [f"{counts[s]} {s}" for s in ("ok", "shard") + PROBLEM_STATUSES if counts[s]]
    return f"{len(jobs)} job(s): " + ", ".join(parts)


def _method_name(row: Row, mark: str) -> str:
    return f"{row.method} (upper bound){mark}" if row.upper_bound else row.method


def _cells(row: Row, metrics, pm: str = "±") -> list[str]:
    if row.not_applicable is not None:
        return [NOT_APPLICABLE] * len(metrics)
    return [format_mean_std(row.metrics[m], pm=pm) for m in metrics]


def _markdown(table: Table) -> str:
    columns = table.label_columns()
    lines = [f"# {table.heading}", "", status_line(table.jobs), ""] if table.heading else []
    if table.shards:
        lines += [f"Shard job(s) {', '.join(job.name for job in table.shards)}: embedding only (embed.shard); one job "
                  "of a sharded sweep runs the experiment.", ""]
    lines += [f"**{caption(table)}**", ""]
    if protocol_line(table):
        lines += [protocol_line(table), ""]
    lines.append("| " + " | ".join(columns + [metric_label(m) for m in table.metrics]) + " |")
    lines.append("|" + "---|" * len(columns) + "---:|" * len(table.metrics))
    for row in table.rows:
        cells = [_method_name(row, " †") if c == "method" else row.context[c] for c in columns]
        lines.append("| " + " | ".join(cells + _cells(row, table.metrics)) + " |")
    lines += ["", runs_note(table)]
    if any(row.upper_bound for row in table.rows):
        lines.append(f"† {UPPER_BOUND_NOTE}.")
    lines += [f"{NOT_APPLICABLE} {note}." for note in not_applicable_notes(table)]
    if table.heading or table.problems:
        lines += ["", "## Missing and failed runs", ""]
        if table.problems:
            lines += ["| job | status | overrides | reason |", "|---|---|---|---|"]
            lines += [f"| {job.name} | {job.status} | {' '.join(job.overrides)} | {job.reason} |" for job in table.problems]
        else:
            lines.append("None: every job wrote its results.json" + (" or its shard." if table.shards else "."))
    return "\n".join(lines) + "\n"


def _percent(value):
    """x100, or None for a figure that is not a number (null in results.json, NaN in memory):
    an empty cell in results.csv, as in a table re-read from results.json."""
    return None if value is None or value != value else 100 * value


def csv_rows(table: Table) -> tuple[list[str], list[list]]:
    """The CSV's columns and rows (values x100 as floats, None where there is none): what results.csv
    holds and what a tracker logs as its table."""
    columns = ["method", "upper_bound", "n_runs"]
    for m in table.metrics:
        columns += [f"{metric_label(m)} mean", f"{metric_label(m)} std"]
    columns += ["dataset", "notion", "protocol", "backbone", "setting", "job", "status", "reason"]
    rows = []
    for row in table.rows:
        values = []
        for m in table.metrics:
            summary = None if row.not_applicable is not None else row.metrics[m]
            values += [None, None] if summary is None else [
                _percent(summary["mean"]), None if single_run(summary) else _percent(summary["std"])]
        status = "ok" if row.not_applicable is None else "not applicable"
        rows.append([row.method, row.upper_bound, row.n_runs, *values, row.context["dataset"], row.context["notion"],
                     row.job.results.get("protocol", ""), row.job.results["backbone"], row.context["setting"],
                     row.job.name, status, row.not_applicable or ""])
    for job in table.problems + table.shards:
        rows.append(["", "", ""] + [None] * (2 * len(table.metrics))
                    + ["", "", "", "", " ".join(job.overrides), job.name, job.status, job.reason])
    return columns, rows


def run_rows(results: dict) -> tuple[list[str], list[list]]:
    """One run's table as (columns, rows): its results.csv, ignored-notion rows included (for a tracker's table)."""
    return csv_rows(build_table([run_job(r) for r in (results, ignored_view(results)) if r is not None]))


def _csv(table: Table) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    columns, rows = csv_rows(table)
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if v is None else f"{v:.4f}" if isinstance(v, float) else v for v in row])
    return out.getvalue()


LATEX_SPECIAL = {"\\": r"\textbackslash{}", "_": r"\_", "&": r"\&", "%": r"\%", "#": r"\#", "$": r"\$",
                 "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", '"': "''"}


def latex_escape(text: str) -> str:
    """``text`` as LaTeX prints it literally (a template's ``{}`` included), one character at a time."""
    return "".join(LATEX_SPECIAL.get(char, char) for char in text)


def _latex(table: Table) -> str:
    columns = table.label_columns()
    width = len(columns) + len(table.metrics)
    lines = [
        f"% {caption(table)}; values x100, mean $\\pm$ population std",
        r"\begin{tabular}{" + "l" * len(columns) + "r" * len(table.metrics) + "}",
        r"\toprule",
        " & ".join([c.capitalize() for c in columns] + [latex_escape(metric_label(m)) for m in table.metrics]) + r" \\",
        r"\midrule",
    ]
    for row in table.rows:
        cells = [latex_escape(_method_name(row, "") if c == "method" else row.context[c]) for c in columns]
        if row.upper_bound:
            cells[-1] += r"$^\dagger$"
        lines.append(" & ".join(cells + _cells(row, table.metrics, pm=r"$\pm$")) + r" \\")
    lines.append(r"\bottomrule")
    notes = [protocol_line(table)] if protocol_line(table) else []
    if any(row.upper_bound for row in table.rows):
        notes.append(r"$^\dagger$ " + UPPER_BOUND_NOTE)
    notes += [f"{NOT_APPLICABLE} " + latex_escape(note) for note in not_applicable_notes(table)]
    notes += [latex_escape(f"job {job.name} {job.status}: {' '.join(job.overrides)} ({job.reason})") for job in table.problems]
    lines += [rf"\multicolumn{{{width}}}{{l}}{{\footnotesize {note}}} \\" for note in notes]
    lines.append(r"\end{tabular}")
    return "\n".join(lines) + "\n"


def render(table: Table, fmt: str = "md") -> str:
    """``table`` as Markdown (``md``), ``csv`` or ``latex``."""
    writers = {"md": _markdown, "csv": _csv, "latex": _latex}
    if fmt not in writers:
        raise ValueError(f"fmt={fmt!r} is unknown; use one of {list(FORMATS)}")
    return writers[fmt](table)


def results_table(results: dict, fmt: str = "md", metrics=None) -> str:
    """One run's table as Markdown (``md``), ``csv`` or ``latex``; ``metrics`` picks columns."""
    if fmt not in FORMATS:
        raise ValueError(f"fmt={fmt!r} is unknown; use one of {list(FORMATS)}")
    return render(build_table([run_job(results)], metrics), fmt)


def console_table(results: dict) -> str:
    """What the pipeline prints at the end of a run (the Markdown table reads well in a terminal)."""
    return results_table(results, "md")


def ignored_view(results: dict) -> dict | None:
    """An ``ignore=<notion>`` run's figures on the ignored notion as a results dict of their own
    (notion ``<name> (ignored notion)``), or None for a run without ``ignore``."""
    if "ignored" not in results:
        return None
    ignored = results["ignored"]
    return {**results, "notion": f"{ignored['notion']} (ignored notion)", "n_prompts": ignored["n_prompts"],
            "methods": ignored["methods"]}


def write_run_tables(results: dict, run_dir, latex: bool = False) -> list[Path]:
    """Write results.md and results.csv (and results.tex) into ``run_dir``; return their paths. An
    ``ignore`` run's figures on the ignored notion (the drop that is the point of it) follow in
    each: a second table in the Markdown and LaTeX files, rows of their own in the CSV."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    jobs = [run_job(r) for r in (results, ignored_view(results)) if r is not None]
    targets = [("results.md", "md"), ("results.csv", "csv")] + ([("results.tex", "latex")] if latex else [])
    written = []
    for name, fmt in targets:
        path = run_dir / name
        text = (render(build_table(jobs), fmt) if fmt == "csv"
                else "\n".join(render(build_table([job]), fmt) for job in jobs))
        path.write_text(text)
        written.append(path)
    return written
