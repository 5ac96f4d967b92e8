"""NMI and AMI of a k-means clustering (k = number of classes) against the labels.

k-means is faiss' (``faiss.Kmeans``, 20 iterations), the very routine pml's FaissKMeans
runs, so with the same seed both backends cluster identically; across seeds NMI/AMI move by
k-means' own run-to-run spread, which is what a comparison between backends must allow.
"""
from __future__ import annotations

import faiss
import numpy as np
from sklearn.metrics import adjusted_mutual_info_score, normalized_mutual_info_score

CLUSTERING_METRICS = ("NMI", "AMI")
KMEANS_ITERATIONS = 20


def kmeans_assignments(x: np.ndarray, n_clusters: int, seed: int) -> np.ndarray:
    """Cluster index of every row of float32 ``x`` after faiss k-means with ``n_clusters``."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    # min_points_per_centroid only sets when faiss prints a "too few points" warning (classes
    # of a handful of images are normal here); the clustering itself is unchanged.
    kmeans = faiss.Kmeans(x.shape[1], n_clusters, niter=KMEANS_ITERATIONS, seed=seed, min_points_per_centroid=1)
    kmeans.train(x)
    _, assignment = kmeans.index.search(x, 1)
    return assignment[:, 0]


def clustering_metrics(x: np.ndarray, labels: np.ndarray, metrics=CLUSTERING_METRICS, seed: int = 0) -> dict[str, float]:
    """NMI/AMI between ``labels`` (ints) and a k-means clustering of ``x`` into as many clusters."""
    n_classes = len(np.unique(labels))
    if n_classes > len(x):
        raise ValueError(f"k-means needs at least as many points as classes ({n_classes}); got {len(x)}")
    clusters = kmeans_assignments(x, n_classes, seed)
    scores = {"NMI": normalized_mutual_info_score, "AMI": adjusted_mutual_info_score}
    return {name: float(scores[name](labels, clusters)) for name in metrics}
