"""pytorch-metric-learning's AccuracyCalculator, called the way our exact backend is defined.

This is the reference implementation: slow, but the field's definition of every metric.
"""
from __future__ import annotations

import numpy as np
import torch
from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator
from pytorch_metric_learning.utils.inference import FaissKMeans

from .clustering import KMEANS_ITERATIONS


def pml_metrics(x: np.ndarray, labels: np.ndarray, metrics, k, device: torch.device, seed: int) -> dict[str, float]:
    """The requested metrics from AccuracyCalculator, query = reference (leave-one-out).

    pml only runs its k-NN when a metric in its ``requires_knn`` list is asked for, and
    ``mean_reciprocal_rank`` is missing from that list; asking for precision_at_1 alongside
    makes MRR computable on its own. An integer ``k`` of N or more is capped at N - 1 (every
    other item), as the exact backend reads it: pml passes it on to faiss, whose -1 padding
    for the missing neighbours it keeps as indices (MAP 12.26 for k=1000 at N=159).
    """
    include = list(metrics)
    if isinstance(k, int) and not isinstance(k, bool):
        k = min(k, len(x) - 1)
    if "mean_reciprocal_rank" in include and not set(include) & {"precision_at_1", "mean_average_precision", "mean_average_precision_at_r", "r_precision"}:
        include.append("precision_at_1")
    calculator = AccuracyCalculator(
        include=tuple(include),
        k=k,
        device=device,
        kmeans_func=FaissKMeans(niter=KMEANS_ITERATIONS, gpu=False, seed=seed),
    )
    result = calculator.get_accuracy(x, labels)
    return {name: float(result[name]) for name in metrics}
