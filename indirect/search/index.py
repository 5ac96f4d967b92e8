"""Nearest-neighbour indexes over unit vectors (faiss): exact for small collections, approximate above.

Vectors are L2-normalised before they are indexed, so the L2 ranking is the cosine ranking and
every distance reported is the cosine distance ``1 - cos`` (faiss returns squared L2 = 2 - 2 cos).
Above ``EXACT_LIMIT`` vectors an exact scan costs tens of milliseconds per query on a CPU, so an
inverted-file index (IVF-Flat, about sqrt(n) k-means cells) is built instead; the number of cells
scanned per query (``nprobe``) is raised until recall@10 against the exact answer, measured on a
sample of the collection's own vectors (each query's own row left out), reaches ``target_recall``,
and that measured recall is stored with the index.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import faiss
import numpy as np

EXACT_LIMIT = 100_000
NPROBE_STEPS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
TRAIN_PER_CELL = 40  # k-means training points per cell (faiss warns below 39)


@dataclass
class IndexInfo:
    """What kind of index was built and, for an approximate one, the recall it was measured at."""

    kind: str                      # "exact" (IndexFlatL2) or "ivf" (IndexIVFFlat)
    n: int
    dim: int
    nlist: int | None = None
    nprobe: int | None = None
    recall_at_10: float | None = None  # measured against the exact index on ``recall_queries`` queries
    recall_queries: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def unit_rows(vectors) -> np.ndarray:
    """float32, C-contiguous, unit-length rows (an all-zero row stays zero)."""
    vectors = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))
    if vectors.ndim == 1:
        vectors = vectors[None, :]
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.ascontiguousarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)


def build_index(vectors, exact_limit: int = EXACT_LIMIT, target_recall: float = 0.95,
                recall_queries: int = 500, seed: int = 0) -> tuple[faiss.Index, IndexInfo]:
    """An index over the unit-normalised ``vectors``: exact up to ``exact_limit`` rows, else IVF-Flat
    with the smallest ``nprobe`` in ``NPROBE_STEPS`` whose measured recall@10 reaches ``target_recall``."""
    data = unit_rows(vectors)
    n, dim = data.shape
    if n <= exact_limit:
        index = faiss.IndexFlatL2(dim)
        index.add(data)
        return index, IndexInfo("exact", n, dim)
    rng = np.random.default_rng(seed)
    nlist = max(1, int(round(np.sqrt(n))))
    index = faiss.IndexIVFFlat(faiss.IndexFlatL2(dim), dim, nlist)
    index.cp.seed = seed
    index.train(data[np.sort(rng.choice(n, size=min(n, TRAIN_PER_CELL * nlist), replace=False))])
    index.add(data)
    rows = rng.choice(n, size=min(recall_queries, n), replace=False)
    truth = _without_self(exact_neighbours(data, data[rows], 11), rows)
    recall = 0.0
    for nprobe in [step for step in NPROBE_STEPS if step < nlist] + [nlist]:  # nlist cells: every vector scanned
        index.nprobe = nprobe
        recall = recall_at(_without_self(index.search(data[rows], 11)[1], rows), truth)
        if recall >= target_recall:
            break
    return index, IndexInfo("ivf", n, dim, nlist=nlist, nprobe=int(index.nprobe),
                            recall_at_10=round(float(recall), 4), recall_queries=len(rows))


def _without_self(found: np.ndarray, rows: np.ndarray, k: int = 10) -> np.ndarray:
    """The first ``k`` neighbours of each query other than the query's own row."""
    return np.array([([r for r in f if r != own] + [-1] * k)[:k] for f, own in zip(found, rows)])


def exact_neighbours(data: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """The exact top-``k`` rows of ``data`` for each query (faiss brute force)."""
    return faiss.knn(np.ascontiguousarray(queries, np.float32), data, k)[1]


def recall_at(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean fraction of the true neighbours found (recall@k with k = truth's width)."""
    k = truth.shape[1]
    return float(np.mean([len(set(f[:k]) & set(t)) / k for f, t in zip(found, truth)]))


def search_index(index: faiss.Index, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cosine distances) of the ``k`` nearest unit vectors to one ``query``; -1 rows dropped.

    One query runs on one thread: faiss's OpenMP team costs more than it saves on a single
    vector, and on a busy machine (tens of ms on a loaded 2-core box, measured by
    scripts/bench_search.py) far more."""
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        squared, rows = index.search(unit_rows(query), k)
    finally:
        faiss.omp_set_num_threads(threads)
    keep = rows[0] >= 0
    return rows[0][keep], (squared[0][keep] / 2.0).astype(np.float64)


def save_index(index: faiss.Index, path: Path) -> None:
    faiss.write_index(index, str(path))


def load_index(path: Path, info: dict | None = None) -> faiss.Index:
    index = faiss.read_index(str(path))
    if info and info.get("nprobe"):
        index.nprobe = int(info["nprobe"])
    return index
