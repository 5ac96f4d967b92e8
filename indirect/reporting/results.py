"""The results.json contract between the pipeline and every report.

One run directory holds one ``results.json``::

    {"dataset": str, "notion": str, "backbone": str, "n_images": int, "n_prompts": int,
     "methods": {method: {metric: {"mean": float, "std": float, "runs": [float, ...]}}}}

plus optional keys the tables show: ``protocol`` (str, e.g. ``"paper"``: which protocol produced
the numbers) and ``not_applicable`` (``{method: reason}``: methods the protocol does not run,
shown as ``-`` with the reason). Any other top-level key (``projector``, ``timings``,
``upper_bound_methods``...) is ignored by readers. Method names are the projector names (``indirect``, ``clip``, ``random``,
``random_transform``, ``pca``, ``lae``, ``ae``, ``oracle``), possibly with a ``+suffix``
(``indirect+ignore``).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from indirect.errors import ResultsError

REQUIRED_KEYS = {"dataset": str, "notion": str, "backbone": str, "n_images": int, "n_prompts": int, "methods": dict}
METHOD_ORDER = ("indirect", "clip", "random", "random_transform", "pca", "lae", "ae", "oracle")
UPPER_BOUND_METHODS = ("oracle",)
HEADLINE_METRICS = ("precision_at_1", "mean_average_precision_at_r", "r_precision")
# pml's metric names in table order (headline metrics first) and their column labels; kept here
# rather than imported from indirect.metrics so that reading results never loads torch or faiss.
METRIC_LABELS = {
    "precision_at_1": "P@1",
    "mean_average_precision_at_r": "MAP@R",
    "r_precision": "R-Prec",
    "mean_average_precision": "MAP",
    "mean_reciprocal_rank": "MRR",
    "NMI": "NMI",
    "AMI": "AMI",
}


def summarize_runs(runs: list[dict[str, float]]) -> dict[str, dict]:
    """Per-seed metric dicts -> ``{metric: {"mean", "std", "runs"}}``, population std (ddof=0).

    Every run must report the same metrics, otherwise the mean would silently mix run counts.
    """
    if not runs:
        raise ResultsError("summarize_runs got no runs; pass one metric dict per seed")
    names = list(runs[0])
    for i, run in enumerate(runs):
        if set(run) != set(names):
            raise ResultsError(f"run {i} reports metrics {sorted(run)} but run 0 reports {sorted(names)}")
    summary = {}
    for name in names:
        values = [float(run[name]) for run in runs]
        summary[name] = {"mean": float(np.mean(values)), "std": float(np.std(values)), "runs": values}
    return summary


def base_method(method: str) -> str:
    """``indirect+ignore`` -> ``indirect``."""
    return method.split("+", 1)[0]


def is_upper_bound(method: str, results: dict) -> bool:
    """The oracle (and any method the run lists in ``upper_bound_methods``) sees the labels."""
    listed = results.get("upper_bound_methods") or []
    return method in listed or base_method(method) in UPPER_BOUND_METHODS


def ordered_methods(methods) -> list[str]:
    """Paper order (InDiReCT first, upper bounds last), suffixed variants after their base."""
    def key(method):
        base = base_method(method)
        rank = METHOD_ORDER.index(base) if base in METHOD_ORDER else len(METHOD_ORDER)
        upper = base in UPPER_BOUND_METHODS
        return (upper, rank, method != base, method)

    return sorted(methods, key=key)


def ordered_metrics(metrics) -> list[str]:
    """Headline metrics first (P@1, MAP@R, R-Prec), then the other pml metrics, then the rest."""
    known = [m for m in METRIC_LABELS if m in metrics]
    return known + sorted(m for m in metrics if m not in METRIC_LABELS)


def metric_label(metric: str) -> str:
    return METRIC_LABELS.get(metric, metric)


def validate_results(results: dict, source: str = "results") -> dict:
    """Check the contract; return ``results`` unchanged or raise one ResultsError naming ``source``."""
    if not isinstance(results, dict):
        raise ResultsError(f"{source}: expected a JSON object, got {type(results).__name__}")
    for key, kind in REQUIRED_KEYS.items():
        if key not in results:
            raise ResultsError(f"{source}: missing key {key!r} (required: {sorted(REQUIRED_KEYS)})")
        if not isinstance(results[key], kind) or isinstance(results[key], bool):
            raise ResultsError(f"{source}: {key!r} must be {kind.__name__}, got {results[key]!r}")
    for method, metrics in results["methods"].items():
        if not isinstance(metrics, dict):
            raise ResultsError(f"{source}: methods[{method!r}] must map metric names to summaries")
        for metric, summary in metrics.items():
            if not isinstance(summary, dict) or not {"mean", "std", "runs"} <= set(summary):
                raise ResultsError(
                    f"{source}: methods[{method!r}][{metric!r}] must be {{'mean', 'std', 'runs'}} (use summarize_runs)"
                )
    if "protocol" in results and not isinstance(results["protocol"], str):
        raise ResultsError(f"{source}: 'protocol' must be a string such as 'paper', got {results['protocol']!r}")
    skipped = results.get("not_applicable") or {}
    if not isinstance(skipped, dict) or not all(isinstance(v, str) for v in skipped.values()):
        raise ResultsError(f"{source}: 'not_applicable' must map method names to a reason string, got {skipped!r}")
    both = sorted(set(skipped) & set(results["methods"]))
    if both:
        raise ResultsError(f"{source}: {both} listed under both 'methods' and 'not_applicable'; keep one of the two")
    return results


def not_applicable(results: dict) -> dict[str, str]:
    """``{method: reason}`` for the methods the run's protocol does not apply (shown as ``-``)."""
    return dict(results.get("not_applicable") or {})


def load_results(path) -> dict:
    """Read and validate one results.json."""
    path = Path(path)
    try:
        results = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ResultsError(f"{path}: not valid JSON ({error}); rerun the job or delete the file") from error
    return validate_results(results, str(path))


def format_mean_std(summary: dict | None, scale: float = 100.0, digits: int = 2, pm: str = "±") -> str:
    """``{"mean": .4567, "std": .0123}`` -> ``"45.67 ± 1.23"``; missing or NaN -> ``"–"``; one run
    (``"runs": [x]``, e.g. a method that does not depend on the seed, fitted once) -> ``"45.67"``
    alone: its "± 0.00" would read as a spread measured over seeds like the other rows'."""
    if summary is None or summary.get("mean") is None or math.isnan(summary["mean"]):
        return "–"
    if single_run(summary):
        return f"{scale * summary['mean']:.{digits}f}"
    return f"{scale * summary['mean']:.{digits}f} {pm} {scale * summary['std']:.{digits}f}"


def single_run(summary: dict) -> bool:
    """Whether a metric summary comes from one run (its std is no spread)."""
    return len(summary.get("runs") or ()) == 1


def resolve_metrics(metrics) -> list[str]:
    """Metric names or their table labels (``P@1``, ``MAP@R``...) -> metric names; None -> the headline ones."""
    if not metrics:
        return list(HEADLINE_METRICS)
    by_label = {label.lower(): name for name, label in METRIC_LABELS.items()}
    return [by_label.get(m.lower(), m) for m in metrics]
