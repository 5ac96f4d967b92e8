"""Nearest-neighbour indexes over unit vectors (faiss): exact for small collections, approximate above.

Vectors are L2-normalised before they are indexed, so the L2 ranking is the cosine ranking and
every distance reported is the cosine distance ``1 - cos`` (faiss returns squared L2 = 2 - 2 cos).
Above ``EXACT_LIMIT`` vectors an exact scan costs tens of milliseconds per query on a CPU, so an
inverted-file index (IVF-Flat, about sqrt(n) k-means cells) is built instead; the number of cells
scanned per query (``nprobe``) is raised until recall@10 against the exact answer reaches
``target_recall`` on a sample of the collection's own vectors (each query's own row left out) and,
when the prompts are given, on text-like queries: the prompts and random blends of them. Text
queries sit away from the image clusters, so image rows alone overstate their recall (4,000 demo
images, 8 colour prompts: 0.99 stored, 0.74 measured on 48 held-out texts); both measured recalls
are stored with the index.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import faiss
import numpy as np

EXACT_LIMIT = 100_000
NPROBE_STEPS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
TRAIN_PER_CELL = 40  # k-means training points per cell (faiss warns below 39)
TEXT_BLENDS = 200  # random convex blends of the prompts calibrated on, besides the prompts themselves


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
    text_recall_at_10: float | None = None  # the same on the prompts and TEXT_BLENDS blends of them
    text_recall_queries: int | None = None

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
                recall_queries: int = 500, seed: int = 0, prompts=None) -> tuple[faiss.Index, IndexInfo]:
    """An index over the unit-normalised ``vectors``: exact up to ``exact_limit`` rows, else IVF-Flat
    with the smallest ``nprobe`` in ``NPROBE_STEPS`` whose measured recall@10 reaches ``target_recall``
    on image rows and, given ``prompts`` (the prompts' vectors in this space), on :func:`text_like`."""
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
    texts = text_like(prompts, rng) if prompts is not None and len(prompts) else None
    text_truth = exact_neighbours(data, texts, 10) if texts is not None else None
    recall = text_recall = 0.0
    for nprobe in [step for step in NPROBE_STEPS if step < nlist] + [nlist]:  # nlist cells: every vector scanned
        index.nprobe = nprobe
        recall = recall_at(_without_self(index.search(data[rows], 11)[1], rows), truth)
        text_recall = recall_at(index.search(texts, 10)[1], text_truth) if texts is not None else 1.0
        if recall >= target_recall and text_recall >= target_recall:
            break
    texts_info = {} if texts is None else {"text_recall_at_10": round(float(text_recall), 4),
                                           "text_recall_queries": len(texts)}
    return index, IndexInfo("ivf", n, dim, nlist=nlist, nprobe=int(index.nprobe),
                            recall_at_10=round(float(recall), 4), recall_queries=len(rows), **texts_info)


def text_like(prompts, rng: np.random.Generator, blends: int = TEXT_BLENDS) -> np.ndarray:
    """Unit queries where text queries fall: the prompts and ``blends`` random convex blends of them
    (Dirichlet weights). A held-out text ("a grey circle") is such a blend in the prompts' space;
    on 4,000 demo images the blends' recall curve over nprobe follows that of 48 held-out texts
    within 0.02 at the chosen nprobe, the 8 prompts alone reach 1.0 where held-out texts reach 0.93."""
    prompts = unit_rows(prompts)
    weights = rng.dirichlet(np.ones(len(prompts)), blends).astype(np.float32)
    return np.vstack([prompts, unit_rows(weights @ prompts)])


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
    """(rows, cosine distances) of the ``k`` nearest unit vectors to one ``query``.

    When the IVF cells probed hold fewer than ``k`` vectors (faiss pads with row -1), ``nprobe``
    is doubled for this query until ``k`` are found or every cell is scanned: a search asked for
    30 neighbours at nprobe 1 of 4 cells returned 15. Only -1 rows left then (``k`` above the
    collection's size) are dropped.

    One query runs on one thread: faiss's OpenMP team costs more than it saves on a single
    vector, and on a busy machine (tens of ms on a loaded 2-core box, measured by
    scripts/bench_search.py) far more."""
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    query = unit_rows(query)
    calibrated = getattr(index, "nprobe", None)
    try:
        squared, rows = index.search(query, k)
        nprobe = calibrated
        # nprobe is set on the index and put back (not SearchParametersIVF: faiss.contrib.torch_utils,
        # which pytorch-metric-learning imports, replaces Index.search by one without ``params``)
        while nprobe is not None and (rows[0] < 0).any() and nprobe < index.nlist:
            nprobe = min(2 * nprobe, index.nlist)
            index.nprobe = nprobe
            squared, rows = index.search(query, k)
    finally:
        if calibrated is not None:
            index.nprobe = calibrated
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
