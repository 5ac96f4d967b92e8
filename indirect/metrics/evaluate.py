"""``evaluate``: embeddings and labels in, pml-named metric values out."""
from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import pandas as pd
import torch

from ..backbones.base import auto_device
from ..threads import limited_threads, threads_for
from .clustering import CLUSTERING_METRICS, clustering_metrics
from .knn_retrieval import RETRIEVAL_METRICS, retrieval_metrics
from indirect.errors import MetricsError

METRIC_NAMES = RETRIEVAL_METRICS + CLUSTERING_METRICS
SMALL_EVALUATION = 4096   # embeddings evaluated on one CPU thread
BACKENDS = ("exact", "pml")
SAFE_SCALE = (2.0 ** -30, 2.0 ** 30)   # largest |embedding value| evaluated as given



def _as_float_matrix(embeddings) -> np.ndarray:
    if isinstance(embeddings, torch.Tensor):
        tensor = embeddings.detach().to("cpu")
        embeddings = (tensor if tensor.dtype == torch.float64 else tensor.to(torch.float32)).numpy()
    x = np.asarray(embeddings)
    if x.dtype.kind not in "fiub":
        x = x.astype(np.float32)
    if x.ndim != 2:
        raise MetricsError(f"embeddings must be a 2-D (N, d) array; got shape {x.shape}")
    if not np.isfinite(x).all():
        raise MetricsError("embeddings contain NaN or inf values; check the projector output before evaluating")
    # Squared distances overflow float32 beyond ~1e19 (every distance inf: P@1 0.00 for a true 0.98
    # at scale 1e20) and underflow below ~1e-19 (false ties); a power-of-two scale is exact and
    # keeps every distance's order, ties included, so such embeddings are brought to about 1.
    largest = float(np.abs(x).max()) if x.size else 0.0
    if largest > 0 and not SAFE_SCALE[0] <= largest <= SAFE_SCALE[1]:
        x = np.ldexp(x.astype(np.float64), -int(np.frexp(largest)[1]))
    return np.ascontiguousarray(x, dtype=np.float32)


def _number_text(value) -> str:
    """A non-string label as text, equal numbers alike: 1, 1.0 and np.int64(1) are one class
    (as in a numeric array), not "1" and "1.0"."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def encode_labels(labels) -> np.ndarray:
    """Any 1-D labels (ints, strings, categories) -> int64 codes 0..C-1 in sorted label order."""
    if isinstance(labels, torch.Tensor):
        labels = labels.detach().cpu().numpy()
    values = np.asarray(labels)
    if values.ndim != 1:
        raise MetricsError(f"labels must be 1-D (one label per embedding); got shape {values.shape}")
    if pd.isna(values).any():
        raise MetricsError("labels contain missing values (None/NaN); drop unlabelled images before evaluating")
    if values.dtype == object:   # compared as text, but the number 1 and the string "1" stay two classes
        strings = [isinstance(v, str) for v in values]
        texts = [v if s else _number_text(v) for v, s in zip(values, strings)]
        values = np.array([f"{'s' if s else 'o'}:{v}" for v, s in zip(texts, strings)] if 0 < sum(strings) < len(values)
                          else texts)
    _, codes = np.unique(values, return_inverse=True)
    return codes.astype(np.int64)


def require_measurable(labels, what: str = "the labels") -> None:
    """Refuse labels that give no meaningful figure: retrieval needs a class with a second
    member, and a single class makes every method score 100 (random projections included).
    ``what`` names the notion/column in the one-line message."""
    codes = encode_labels(labels)
    counts = np.bincount(codes) if len(codes) else np.zeros(0, np.int64)
    usable = int((counts >= 2).sum())
    if usable < 2:
        raise MetricsError(f"{what}: {len(counts)} class(es) over {len(codes)} image(s), {usable} with at least two "
                           "images; a measurement needs at least two classes with two images each "
                           "(choose another notion or add labelled images)")


def _check_k(k):
    if k in ("max_bin_count", None) or (isinstance(k, int) and not isinstance(k, bool) and k > 0):
        return
    raise MetricsError(f"k={k!r} is not valid; use 'max_bin_count', null (all neighbours) or a positive integer")


R_METRICS = ("r_precision", "mean_average_precision_at_r")


def check_k_covers_classes(k, labels, metrics=None, what: str | None = None) -> None:
    """Refuse an integer ``k`` below a class's other members when R-precision or MAP@R is asked
    for: both look at the first R neighbours (R = the query's class size - 1), and pml's
    min(R, k) turns them into precision at k under their own names (k=5: "R-Prec" 99.40
    against a true 83.40 on the demo world's colour notion). The pipeline calls this before a
    run's tables would print them (for the ignored notion's labels too, ``what`` naming it);
    :func:`evaluate` itself keeps pml's definition."""
    if not (isinstance(k, int) and not isinstance(k, bool)):
        return
    wanted = [m for m in (METRIC_NAMES if metrics is None else metrics) if m in R_METRICS]
    if not wanted:
        return
    largest = int(np.bincount(encode_labels(labels)).max()) - 1
    if k < largest:
        raise MetricsError(f"evaluation.k={k} is below the {largest} other members of the largest class"
                           f"{'' if what is None else ' of ' + what}: "
                           f"{' and '.join(wanted)} would count only {k} neighbours under their names; set "
                           "evaluation.k=null (all, the default) or max_bin_count, or leave them out of evaluation.metrics")


@contextmanager
def _full_float32_matmul():
    """Keep float32 products in full precision (no TF32) so CUDA ranks neighbours like faiss."""
    previous = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(previous)


def evaluate(
    embeddings,
    labels,
    metrics=None,
    backend: str = "exact",
    k="max_bin_count",
    device="auto",
    seed: int = 0,
) -> dict[str, float]:
    """Leave-one-out retrieval and clustering metrics, keyed by pytorch-metric-learning's names.

    Every embedding is a query against all the others (pml's ``ref_includes_query=True``);
    distance is Euclidean on the embeddings as given (normalise first for cosine retrieval).
    ``metrics=None`` computes all of :data:`METRIC_NAMES`; ``k`` has pml's meaning;
    ``seed`` seeds the k-means behind NMI/AMI. Retrieval metrics are NaN when no class has
    two members; fewer than two classes is refused (:class:`MetricsError`), as every figure
    would be 100 whatever the embeddings. :func:`require_measurable` applies the full check.
    """
    if backend not in BACKENDS:
        raise MetricsError(f"backend={backend!r} is unknown; use one of {list(BACKENDS)}")
    wanted = list(METRIC_NAMES) if metrics is None else list(metrics)
    unknown = [m for m in wanted if m not in METRIC_NAMES]
    if unknown:
        raise MetricsError(f"unknown metric(s) {unknown}; choose from {list(METRIC_NAMES)}")
    _check_k(k)
    x = _as_float_matrix(embeddings)
    codes = encode_labels(labels)
    if len(codes) != len(x):
        raise MetricsError(f"{len(x)} embeddings but {len(codes)} labels; they must be aligned one to one")
    if len(np.unique(codes)) < 2:
        require_measurable(codes)
    target = auto_device(device)
    if backend == "pml":
        from .pml_reference import pml_metrics

        values = pml_metrics(x, codes, wanted, k, target, seed)
    else:
        # up to SMALL_EVALUATION embeddings on one thread: about as fast quiet (retrieval at N = 1,000
        # 15 vs 16 ms, 4,000: 0.20 vs 0.23 s; k-means 1.3x slower) and not stalled at every barrier
        # beside a busy neighbour (N = 1,000: 21 vs 68 ms); at 8,000 two threads are 1.3x faster quiet
        with limited_threads(threads_for(len(x), SMALL_EVALUATION, target)):
            values = _exact_metrics(x, codes, wanted, k, target, seed)
    return {name: values[name] for name in wanted}


def _exact_metrics(x: np.ndarray, codes: np.ndarray, wanted: list, k, target, seed: int) -> dict[str, float]:
    values = {}
    retrieval = [m for m in wanted if m in RETRIEVAL_METRICS]
    if retrieval:
        with torch.no_grad(), _full_float32_matmul():
            values.update(retrieval_metrics(torch.from_numpy(x).to(target), torch.from_numpy(codes).to(target),
                                            k=k, metrics=retrieval))
    clustering = [m for m in wanted if m in CLUSTERING_METRICS]
    if clustering:
        values.update(clustering_metrics(x, codes, clustering, seed=seed))
    return values
