"""Retrieval and clustering metrics under pytorch-metric-learning's names.

``evaluate`` is the single entry point; ``backend="exact"`` is our blocked k-NN (fast, bounded
memory), ``backend="pml"`` is pytorch-metric-learning's AccuracyCalculator, the reference the
exact backend is tested against.
"""
from .evaluate import METRIC_NAMES, MetricsError, evaluate

__all__ = ["METRIC_NAMES", "MetricsError", "evaluate"]
