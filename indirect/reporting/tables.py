"""One run's results as a table: methods in rows, metrics in columns, values x100.

Markdown and LaTeX cells read ``mean ± std`` over the seeds; CSV keeps mean and std in
separate columns (also x100) so that a spreadsheet can sort and plot them. Upper-bound methods
(the oracle, which trains on the evaluation labels) are marked in their row and explained in a
footnote, so nobody reads them as competitors.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

from .results import (
    format_mean_std,
    is_upper_bound,
    metric_label,
    ordered_methods,
    ordered_metrics,
    validate_results,
)

FORMATS = ("md", "csv", "latex")
UPPER_BOUND_NOTE = "upper bound: trained on the evaluation images' own labels, a ceiling rather than a competitor"


def _columns(results: dict, metrics=None) -> list[str]:
    if metrics is not None:
        return list(metrics)
    present = {m for per_method in results["methods"].values() for m in per_method}
    return ordered_metrics(present)


def _row_name(method: str, results: dict, mark: str) -> str:
    return f"{method} (upper bound){mark}" if is_upper_bound(method, results) else method


def _n_runs(per_method: dict) -> int:
    return max((len(s.get("runs", [])) for s in per_method.values()), default=0)


def caption(results: dict) -> str:
    """One line saying what was evaluated, for the top of every table."""
    return (
        f"{results['dataset']} / {results['notion']} — backbone {results['backbone']}, "
        f"{results['n_images']} images, {results['n_prompts']} prompts"
    )


def _markdown(results, columns) -> str:
    methods = ordered_methods(results["methods"])
    runs = max((_n_runs(results["methods"][m]) for m in methods), default=0)
    lines = [f"**{caption(results)}**", ""]
    lines.append("| method | " + " | ".join(metric_label(c) for c in columns) + " |")
    lines.append("|---|" + "---:|" * len(columns))
    for method in methods:
        cells = [format_mean_std(results["methods"][method].get(c)) for c in columns]
        lines.append(f"| {_row_name(method, results, ' †')} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(f"Values ×100, mean ± population std over {runs} run(s).")
    if any(is_upper_bound(m, results) for m in methods):
        lines.append(f"† {UPPER_BOUND_NOTE}.")
    return "\n".join(lines) + "\n"


def _csv(results, columns) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    header = ["method", "upper_bound", "n_runs"]
    for c in columns:
        header += [f"{metric_label(c)} mean", f"{metric_label(c)} std"]
    writer.writerow(header)
    for method in ordered_methods(results["methods"]):
        per_method = results["methods"][method]
        row = [method, is_upper_bound(method, results), _n_runs(per_method)]
        for c in columns:
            summary = per_method.get(c)
            row += ["", ""] if summary is None else [f"{100 * summary['mean']:.4f}", f"{100 * summary['std']:.4f}"]
        writer.writerow(row)
    return out.getvalue()


def latex_escape(text: str) -> str:
    for char, escaped in (("\\", r"\textbackslash{}"), ("_", r"\_"), ("&", r"\&"), ("%", r"\%"), ("#", r"\#"), ("$", r"\$")):
        text = text.replace(char, escaped)
    return text


def _latex(results, columns) -> str:
    methods = ordered_methods(results["methods"])
    lines = [
        f"% {caption(results)}; values x100, mean $\\pm$ population std",
        r"\begin{tabular}{l" + "r" * len(columns) + "}",
        r"\toprule",
        "Method & " + " & ".join(latex_escape(metric_label(c)) for c in columns) + r" \\",
        r"\midrule",
    ]
    for method in methods:
        cells = [format_mean_std(results["methods"][method].get(c), pm=r"$\pm$") for c in columns]
        name = latex_escape(_row_name(method, results, ""))
        if is_upper_bound(method, results):
            name += r"$^\dagger$"
        lines.append(name + " & " + " & ".join(cells) + r" \\")
    lines.append(r"\bottomrule")
    if any(is_upper_bound(m, results) for m in methods):
        lines.append(rf"\multicolumn{{{len(columns) + 1}}}{{l}}{{\footnotesize $^\dagger$ {UPPER_BOUND_NOTE}}} \\")
    lines.append(r"\end{tabular}")
    return "\n".join(lines) + "\n"


def results_table(results: dict, fmt: str = "md", metrics=None) -> str:
    """The run's table as Markdown (``md``), ``csv`` or ``latex``; ``metrics`` picks columns."""
    validate_results(results)
    writers = {"md": _markdown, "csv": _csv, "latex": _latex}
    if fmt not in writers:
        raise ValueError(f"fmt={fmt!r} is unknown; use one of {list(FORMATS)}")
    return writers[fmt](results, _columns(results, metrics))


def console_table(results: dict) -> str:
    """What the pipeline prints at the end of a run (the Markdown table reads well in a terminal)."""
    return results_table(results, "md")


def write_run_tables(results: dict, run_dir, latex: bool = False) -> list[Path]:
    """Write results.md and results.csv (and results.tex) into ``run_dir``; return their paths."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    targets = [("results.md", "md"), ("results.csv", "csv")] + ([("results.tex", "latex")] if latex else [])
    written = []
    for name, fmt in targets:
        path = run_dir / name
        path.write_text(results_table(results, fmt))
        written.append(path)
    return written
