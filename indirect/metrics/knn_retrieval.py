"""Exact leave-one-out k-NN retrieval metrics, computed one block of queries at a time.

Why not pytorch-metric-learning directly: its AccuracyCalculator materialises an (N, k)
neighbour table and then several float64 (N, k) masks, and spends much of its time in Python
loops over labels and tensor elements; with its default k=None (every other item is a
neighbour, needed for exact MAP and MRR) that is N x N. Here each block of queries gets its
squared L2 distances to all references by one matrix product and is reduced at once to the
*ranks of its relevant items* (same-class references), from which every metric follows:
with rank_1 < ... < rank_R the ranks of a query's R relevant items among the N - 1 others,
the j-th hit sits at rank_j with j hits up to there, so

* precision_at_1 = [rank_1 = 1], mean_reciprocal_rank = 1 / rank_1 (0 beyond k),
* r_precision = #{j: rank_j <= min(R, k)} / min(R, k),
* mean_average_precision_at_r = sum over rank_j <= min(R, k) of j / rank_j, divided by R,
* mean_average_precision = sum over rank_j <= k of j / rank_j, divided by R

(pml's formulas in ``accuracy_calculator``). A rank is a count: one plus the number of others
closer than the item, read off each block's sorted rows with ``searchsorted``. On CPU the
sort is numpy's (vectorised x86-simd-sort, ~15x faster than ``torch.sort`` there); on CUDA
it is torch's, partial (``topk``) when k is small. Memory stays a few times
``block_elements`` whatever N is.

Agreement with pml (FaissKNN over ``faiss.IndexFlatL2``) is by construction:

* distances are computed as faiss does, ``|q|^2 + |r|^2 - 2 q.r`` clamped at 0, in float32
  (faiss' formula for large inputs; below its BLAS threshold it subtracts the vectors). That
  formula loses the distances when the embeddings share an offset much larger than their
  spread (|offset|^2 > :data:`OFFSET_RATIO` x the mean squared distance to the mean): such
  embeddings are centred first, which leaves every distance as it is and keeps its digits
  (offset 1000 on N(0, 1) data, d = 64: largest distance error 64 -> float32 rounding). There
  the figures are the true ones and pml's, at sizes where faiss uses the formula, are not;
* exact ties are ordered by reference index, smallest first, which is faiss' order
  (duplicate embeddings are the common source of ties, and they decide which label is ranked
  first). Ranks from distances alone are exact unless a relevant item shares its distance
  with another item; such rows (found by ``searchsorted`` left != right) are ranked again on
  unique int64 keys (distance bits, then index), i.e. in faiss' (distance, index) order;
* the query itself is set below every distance, so it never counts among its neighbours:
  the neighbour list is the first k of the others in (distance, index) order, which is what
  pml's ``return_results`` leaves after removing the query from its k + 1 neighbours
  wherever it sits (or dropping the last when it is not among them);
* queries whose class has no other member ("lone" queries) are left out of every retrieval
  metric (pml's ``not_lone_query_mask``).
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np
import torch

RETRIEVAL_METRICS = (
    "precision_at_1",
    "mean_average_precision_at_r",
    "r_precision",
    "mean_average_precision",
    "mean_reciprocal_rank",
)


def resolve_k(k, class_counts: torch.Tensor, n: int) -> int:
    """Number of neighbours per query, with pml's meaning of ``k`` for query = reference.

    ``"max_bin_count"``: the largest class size minus the query itself (enough for exact
    MAP@R and R-precision); ``None``: every other item; an int: that many (capped at n - 1).
    """
    if k == "max_bin_count":
        return int(class_counts.max()) - 1
    if k is None:
        return n - 1
    return min(int(k), n - 1)


def class_members(labels: torch.Tensor, class_counts: torch.Tensor) -> torch.Tensor:
    """(C, largest class) table of each class' item indices in increasing order, padded with -1."""
    order = torch.argsort(labels, stable=True)
    starts = torch.cumsum(class_counts, 0) - class_counts
    sorted_labels = labels[order]
    slot = torch.arange(len(labels), device=labels.device) - starts[sorted_labels]
    shape = (len(class_counts), int(class_counts.max()))
    table = torch.full(shape, -1, dtype=torch.long, device=labels.device)
    table[sorted_labels, slot] = order
    return table


@contextmanager
def _one_cpu_thread(device: torch.device):
    """Run a block's many small reductions on one CPU thread (no-op on CUDA).

    Each is microseconds of work, but a multi-threaded torch op ends at a barrier that waits
    for every worker; on a shared, oversubscribed CPU one of them is often descheduled for a
    whole time slice. Measured at load 8 on 2 cores (N = 8,000): 3.8 s with 2 threads,
    0.9 s with the reductions on one thread and the distance product on two. Yields the
    thread count in force before, for the row sort, which splits its rows across threads.
    """
    threads = torch.get_num_threads()
    if device.type != "cpu":
        yield threads
        return
    torch.set_num_threads(1)
    try:
        yield threads
    finally:
        torch.set_num_threads(threads)


def _sort_rows_numpy(rows: np.ndarray, threads: int) -> np.ndarray:
    """Each row of ``rows`` sorted, the rows split across ``threads`` (numpy sorts without the GIL)."""
    if threads < 2 or len(rows) < 2 * threads:
        return np.sort(rows, axis=1)
    out = np.empty_like(rows)
    bounds = np.linspace(0, len(rows), threads + 1).astype(int)

    def sort_part(i):
        part = out[bounds[i] : bounds[i + 1]]
        part[...] = rows[bounds[i] : bounds[i + 1]]
        part.sort(axis=1)

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(sort_part, range(threads)))
    return out


def _smallest_sorted(values: torch.Tensor, keep: int, threads: int) -> torch.Tensor:
    """At least the ``keep`` smallest entries of each row, ascending (values only, so ties are moot).

    On CPU the whole row is sorted by numpy: its vectorised sort beats ``torch.sort`` there
    by ~15x and even ``np.partition`` or ``torch.topk`` (measured on float32 rows of 8,000).
    """
    if values.device.type == "cpu":
        return torch.from_numpy(_sort_rows_numpy(values.numpy(), threads))
    if keep < values.shape[1]:
        return torch.topk(values, keep, dim=1, largest=False, sorted=True).values
    return torch.sort(values, dim=1).values


def _ranks_of(values, relevant_cols, excluded, top, keep: int, threads: int):
    """For each relevant entry of a row, how many entries of the row are strictly smaller.

    With the query itself set below everything, that count is the entry's 1-based rank among
    the others. Relevant entries are gathered at ``relevant_cols``, ``excluded`` ones set to
    ``top`` (they sort last), and sorted ascending. Returns (counts, tie_counts), tie_counts
    being how many row entries equal each relevant value (1 when it is unique). Counts are
    exact up to ``keep``; beyond, they only tell that the rank exceeds ``keep`` - 1.
    """
    relevant = values.gather(1, relevant_cols.clamp(min=0))
    relevant[excluded] = top
    relevant = torch.sort(relevant, dim=1).values.contiguous()
    smallest = _smallest_sorted(values, keep, threads).to(values.device).contiguous()
    below = torch.searchsorted(smallest, relevant)
    return below, torch.searchsorted(smallest, relevant, right=True) - below


def _relevant_ranks(dist, query_ids, members, r, k: int, threads: int) -> torch.Tensor:
    """Ranks (b, M) of each query's relevant items among the others in (distance, index) order.

    ``dist`` (b, N) squared distances of the queries ``query_ids`` (overwritten), ``members``
    (b, M) their classes' item indices padded with -1, ``r`` (b,) their relevant counts.
    Column j < r[q] holds the rank of the query's (j+1)-th nearest relevant item; columns past
    r[q] are padding. Only ranks up to ``k`` are exact (larger ones are just known to exceed k).
    ``threads``: how many threads may sort rows on CPU.
    """
    b, n = dist.shape
    rows = torch.arange(b, device=dist.device)
    excluded = (members < 0) | (members == query_ids[:, None])
    valid = torch.arange(members.shape[1], device=dist.device)[None, :] < r[:, None]
    # The query itself goes first; it is then counted in every "strictly smaller" count in
    # place of the 1 that turns a count of closer others into a 1-based rank.
    dist[rows, query_ids] = -float("inf")
    keep = min(n, k + 2)  # the query, the k nearest others and one more to see ties at rank k
    ranks, equal = _ranks_of(dist, members, excluded, float("inf"), keep, threads)
    tied = (((equal > 1) & valid & (ranks <= k)).any(1)).nonzero().flatten()
    if len(tied):
        # Unique keys ordered by (distance, index): non-negative float32 bits order like the
        # floats, and the index in the low 32 bits breaks ties as faiss does.
        bits = (dist[tied].view(torch.int32) & 0x7FFFFFFF).to(torch.int64)
        keys = (bits << 32) | torch.arange(n, device=dist.device)
        keys[torch.arange(len(tied), device=dist.device), query_ids[tied]] = -1
        top = torch.iinfo(torch.int64).max
        ranks[tied] = _ranks_of(keys, members[tied], excluded[tied], top, keep, threads)[0]
    return ranks


def _per_query_metrics(ranks: torch.Tensor, r: torch.Tensor, k: int) -> dict[str, torch.Tensor]:
    """pml's formulas for one block from the ranks of the relevant items (module docstring)."""
    hit_number = torch.arange(1, ranks.shape[1] + 1, device=ranks.device, dtype=torch.float64)
    valid = hit_number[None, :] <= r[:, None]
    cutoff = r.clamp(max=k)
    within_k = valid & (ranks <= k)
    within_r = valid & (ranks <= cutoff[:, None])
    precision = hit_number / ranks.to(torch.float64)
    r64, first = r.to(torch.float64), ranks[:, 0]
    return {
        "precision_at_1": (first == 1).to(torch.float64),
        "mean_average_precision_at_r": (precision * within_r).sum(1) / r64,
        "r_precision": within_r.sum(1) / cutoff.to(torch.float64),
        "mean_average_precision": (precision * within_k).sum(1) / r64,
        "mean_reciprocal_rank": torch.where(first <= k, 1.0 / first.to(torch.float64), 0.0),
    }


OFFSET_RATIO = 16.0   # demo-backbone features: |mean|^2 / spread 0.19 raw, 0.20 unit-normalised (measured)


def centred_if_offset(x: torch.Tensor) -> torch.Tensor:
    """``x`` minus its mean when a shared offset would swamp ``|q|^2 + |r|^2 - 2 q.r`` in float32,
    else ``x`` itself (so that exact ties, and agreement with faiss, stay bit for bit)."""
    mean = x.mean(0, dtype=torch.float64)
    offset = float((mean * mean).sum())
    spread = float(torch.linalg.vector_norm(x, dim=1).double().pow(2).mean()) - offset   # no (N, d) copy
    if offset <= OFFSET_RATIO * spread:
        return x
    return x - mean.to(x.dtype)      # x and the mean share their leading digits: exact differences


def retrieval_metrics(
    x: torch.Tensor,
    labels: torch.Tensor,
    k="max_bin_count",
    metrics=RETRIEVAL_METRICS,
    block_elements: int | None = None,
) -> dict[str, float]:
    """Leave-one-out retrieval metrics of float32 embeddings ``x`` (N, d) with int ``labels``.

    Both tensors live on the device to compute on. ``block_elements`` bounds the size of one
    block's distance matrix (queries x N), the largest allocation (its sorted copy and, on
    rows with exact ties, int64 keys come on top): by default 2^24 floats (64 MiB) on CPU and
    2^27 (512 MiB) on CUDA, where bigger blocks keep the GPU busy.
    """
    if block_elements is None:
        block_elements = 1 << 27 if x.device.type == "cuda" else 1 << 24
    n = len(x)
    class_counts = torch.bincount(labels)
    relevant = class_counts[labels] - 1
    if n < 2 or int(relevant.max()) == 0:
        return {name: float("nan") for name in metrics}
    k = resolve_k(k, class_counts, n)
    members = class_members(labels, class_counts)
    x = centred_if_offset(x)
    sq_norms = (x * x).sum(1)
    block = max(1, min(n, block_elements // n))
    totals = {name: torch.zeros((), dtype=torch.float64, device=x.device) for name in metrics}
    counted = 0
    for start in range(0, n, block):
        stop = min(n, start + block)
        r = relevant[start:stop]
        kept = (r > 0).nonzero().flatten()
        if len(kept) == 0:
            continue
        query_ids = start + kept
        dist = torch.addmm(sq_norms[None, :], x[query_ids], x.T, alpha=-2.0)
        dist.add_(sq_norms[query_ids, None]).clamp_(min=0.0)
        with _one_cpu_thread(x.device) as threads:
            ranks = _relevant_ranks(dist, query_ids, members[labels[query_ids]], r[kept], k, threads)
            del dist
            values = _per_query_metrics(ranks, r[kept], k)
            for name in metrics:
                totals[name] += values[name].sum()
        counted += len(kept)
    return {name: float(totals[name] / counted) for name in metrics}
