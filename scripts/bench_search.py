"""Notion-space search speed: build time and single-query latency of the exact and the approximate
index (indirect.search.index.build_index), and the approximate index's recall@10 against exact.

    python scripts/bench_search.py                       # 10k and 1M vectors, k = 128, raw d = 512
    python scripts/bench_search.py --sizes 10000 --out bench.json

A vector query is timed as the search sees it: a raw d-dim embedding, projected to k dims (a
k x d matrix, as InDiReCT's), normalised, searched; model time (the text or image tower) is
excluded. Two kinds of random vectors: ``clustered`` (a Gaussian mixture of 10,000 centres, each
point's noise as large as its centre, so same-cluster cosines are about 0.5: embedding-like) and
``isotropic`` (uniform on the sphere: no structure at all, the worst case of any approximate
index). Queries are fresh draws, not database rows. The targets: under 10 ms per query at 1M
vectors on CPU, recall@10 >= 0.95.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import faiss  # noqa: E402

from indirect.search.index import build_index, exact_neighbours, recall_at, search_index, unit_rows  # noqa: E402


CENTRES = 10_000  # ten times the IVF cells at 1M, so cells and clusters do not coincide


def vectors(kind: str, n: int, dim: int, rng: np.random.Generator, centres: np.ndarray | None) -> np.ndarray:
    if kind == "isotropic":
        return unit_rows(rng.standard_normal((n, dim), dtype=np.float32))
    chosen = centres[rng.integers(0, len(centres), n)]
    return unit_rows(chosen + rng.standard_normal((n, dim), dtype=np.float32))


def latency_ms(index, queries_raw: np.ndarray, projection: np.ndarray | None, k: int = 10) -> tuple[float, float]:
    """Median and 95th-percentile milliseconds of one query at a time (projection included)."""
    times = []
    for query in queries_raw:
        started = time.perf_counter()
        vector = query[None, :] @ projection.T if projection is not None else query[None, :]
        search_index(index, vector, k)
        times.append((time.perf_counter() - started) * 1000)
    return float(np.median(times)), float(np.percentile(times, 95))


def bench(kind: str, n: int, dim: int, raw_dim: int, n_queries: int, exact_queries: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((CENTRES, dim), dtype=np.float32) if kind == "clustered" else None
    data = vectors(kind, n, dim, rng, centres)
    queries = vectors(kind, n_queries, dim, rng, centres)
    # raw queries whose projection is ``queries``: the pseudo-inverse of a random k x d projection
    projection = rng.standard_normal((dim, raw_dim), dtype=np.float32) / np.sqrt(raw_dim)
    queries_raw = (queries @ np.linalg.pinv(projection).T).astype(np.float32) if dim != raw_dim else queries
    proj = projection if dim != raw_dim else None
    truth = exact_neighbours(data, unit_rows(queries), 10)
    rows = []
    for exact_limit, label in ((n, "exact"), (0, "approximate")):
        started = time.perf_counter()
        index, info = build_index(data, exact_limit=exact_limit)
        build_s = time.perf_counter() - started
        timed = queries_raw if info.kind != "exact" else queries_raw[:exact_queries]
        median, p95 = latency_ms(index, timed, proj)
        found = np.stack([search_index(index, q, 10)[0] for q in unit_rows(queries)])
        rows.append({"vectors": kind, "n": n, "dim": dim, "index": info.kind, "build_s": round(build_s, 2),
                     "query_ms_median": round(median, 3), "query_ms_p95": round(p95, 3),
                     "recall_at_10": round(recall_at(found, truth), 4), "nlist": info.nlist, "nprobe": info.nprobe,
                     "calibrated_recall_at_10": info.recall_at_10, "queries_timed": len(timed), "which": label})
        print(_row(rows[-1]), flush=True)
        del index
    return rows


HEADER = ("| vectors | n | dim | index | build s | query ms (median) | query ms (p95) | recall@10 vs exact | nprobe/nlist |\n"
          "|---|---:|---:|---|---:|---:|---:|---:|---|")


def _row(r: dict) -> str:
    probe = f"{r['nprobe']}/{r['nlist']}" if r["nlist"] else "-"
    return (f"| {r['vectors']} | {r['n']:,} | {r['dim']} | {r['index']} | {r['build_s']:.1f} | {r['query_ms_median']:.2f} | "
            f"{r['query_ms_p95']:.2f} | {r['recall_at_10']:.3f} | {probe} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,1000000", help="collection sizes (comma-separated)")
    parser.add_argument("--kinds", default="clustered,isotropic", help="clustered, isotropic")
    parser.add_argument("--k", type=int, default=128, help="projected dimension")
    parser.add_argument("--raw-dim", type=int, default=512, help="raw backbone dimension (queries arrive in it)")
    parser.add_argument("--raw-space-sizes", default="10000", help="sizes also benchmarked in the raw d-dim space")
    parser.add_argument("--queries", type=int, default=200, help="timed queries per approximate index")
    parser.add_argument("--exact-queries", type=int, default=30, help="timed queries per exact index")
    parser.add_argument("--threads", type=int, default=0, help="faiss threads (0 = faiss's default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="also write the rows as JSON here")
    args = parser.parse_args()
    if args.threads:
        faiss.omp_set_num_threads(args.threads)
    print(f"faiss {faiss.__version__}, {faiss.omp_get_max_threads()} thread(s)")
    print(HEADER)
    rows = []
    for kind in args.kinds.split(","):
        for n in (int(s) for s in args.sizes.split(",")):
            rows += bench(kind, n, args.k, args.raw_dim, args.queries, args.exact_queries, args.seed)
        for n in (int(s) for s in args.raw_space_sizes.split(",") if s):
            rows += bench(kind, n, args.raw_dim, args.raw_dim, args.queries, args.exact_queries, args.seed)
    if args.out:
        args.out.write_text(json.dumps({"faiss": faiss.__version__, "threads": faiss.omp_get_max_threads(),
                                        "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
