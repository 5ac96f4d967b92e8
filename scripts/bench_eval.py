"""Time our exact evaluation backend against pytorch-metric-learning's AccuracyCalculator.

    python scripts/bench_eval.py            # N = 2,000 / 8,000 / 32,000, d = 128 / 512
    python scripts/bench_eval.py --quick    # N = 1,000 / 2,000, d = 128
    python scripts/bench_eval.py --quick --neighbour-only   # only the busy-neighbour line

Clustered data (about 100 classes, Gaussian blobs), both backends on the same embeddings and
the same k-means seed. Retrieval (the five k-NN metrics) and clustering (NMI/AMI, the same
faiss k-means in both backends) are timed separately, since only retrieval differs between
them. Both backends run on the same threads: ours picks them itself (one up to 4,096
embeddings on the CPU, else --threads), and pml is run under that same limit (the "thr" column),
so a ratio compares the algorithms, not one thread against two. pml is skipped for a size when
its retrieval time, extrapolated quadratically from the previous size, exceeds --pml-budget
seconds (the table says so).

The last lines time our evaluation (all seven metrics) at --neighbour-sizes again while a busy
neighbour process burns --neighbour-threads cores (scripts/busy_neighbour.py), against its quiet
timing in the same run (medians of --repeats, not the best: a lucky run under load says little).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import indirect  # noqa: E402,F401  (first: sets GOMP_SPINCOUNT, read once when torch loads libgomp)
import torch  # noqa: E402

from busy_neighbour import busy_neighbour  # noqa: E402
from indirect.backbones.base import auto_device  # noqa: E402
from indirect.metrics import evaluate  # noqa: E402
from indirect.metrics.evaluate import SMALL_EVALUATION  # noqa: E402
from indirect.threads import limited_threads, threads_for  # noqa: E402
from indirect.metrics.clustering import CLUSTERING_METRICS  # noqa: E402
from indirect.metrics.knn_retrieval import RETRIEVAL_METRICS  # noqa: E402


def clustered(n, d, n_classes, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_classes, d)) / np.sqrt(d)
    labels = rng.integers(0, n_classes, n)
    x = centres[labels] + 1.5 * rng.normal(size=(n, d)) / np.sqrt(d)
    return x.astype(np.float32), labels


def threads_of_ours(n: int, device: str) -> int:
    """The threads our backend runs on for ``n`` embeddings (capped by --threads via torch)."""
    return min(threads_for(n, SMALL_EVALUATION, auto_device(device)), torch.get_num_threads())


def pml_evaluate(x, y, **kw):
    """pml's evaluation on the threads ours gets for this N, not on more or fewer."""
    with limited_threads(threads_of_ours(len(x), kw["device"])):
        return evaluate(x, y, backend="pml", **kw)


def timed(fn, repeats):
    best, value = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - start)
    return best, value


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes only (a smoke test)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for torch and faiss (default 2)")
    parser.add_argument("--pml-budget", type=float, default=120.0, help="skip pml when its estimated time exceeds this (s)")
    parser.add_argument("--repeats", type=int, default=2, help="best of this many timings per cell")
    parser.add_argument("--classes", type=int, default=100, help="number of classes (default 100)")
    parser.add_argument("--k", default="max_bin_count",
                        help="neighbours per query for both backends: max_bin_count, none (pml's default: all) or an int")
    parser.add_argument("--device", default="cpu", help="device of our backend (pml's k-NN is faiss on CPU either way)")
    parser.add_argument("--neighbour-threads", type=int, nargs="+", default=[1, 2],
                        help="cores the busy neighbour burns (a column each)")
    parser.add_argument("--neighbour-sizes", type=int, nargs="+", default=[1000, 4000, 8000],
                        help="N of the busy-neighbour lines (d is the first of the table's)")
    parser.add_argument("--neighbour-only", action="store_true", help="only the busy-neighbour line")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    import faiss

    faiss.omp_set_num_threads(args.threads)
    k = None if args.k.lower() == "none" else (int(args.k) if args.k.isdigit() else args.k)
    sizes = [1000, 2000] if args.quick else [2000, 8000, 32000]
    dims = [128] if args.quick else [128, 512]
    load = Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "?"
    print(f"k={k} threads={args.threads} device={args.device} torch={torch.__version__} load average at start={load}")
    header = f"{'N':>6} {'d':>4} {'C':>4} {'thr':>3} | {'ours ret s':>10} {'pml ret s':>10} {'ratio':>7} | {'ours clu s':>10} {'pml clu s':>10} | {'total ratio':>11} | {'max |diff| ret':>14} {'max |diff| NMI/AMI':>18}"
    if not args.neighbour_only:
        table(args, sizes, dims, k, header)
    for n in args.neighbour_sizes:
        neighbour_line(args, n, dims[0], k)


def median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def neighbour_line(args, n, d, k):
    x, y = clustered(n, d, args.classes)
    run = lambda: evaluate(x, y, seed=0, device=args.device, k=k)  # noqa: E731
    run()                                                            # warm-up
    quiet = median_time(run, args.repeats)
    cells = []
    for threads in args.neighbour_threads:
        with busy_neighbour(threads):
            busy = median_time(run, args.repeats)
        cells.append(f"{threads} core(s) burning {busy:.3f} s ({busy / quiet:.1f}x)")
    print(f"busy neighbour, N={n} d={d} k={k}, all seven metrics (median of {args.repeats}): quiet {quiet:.3f} s, "
          + ", ".join(cells), flush=True)


def table(args, sizes, dims, k, header):
    print(header)
    print("-" * len(header))
    for d in dims:
        previous = None
        for n in sizes:
            x, y = clustered(n, d, args.classes)
            kw = dict(seed=0, device=args.device, k=k)
            t_ret, ours_ret = timed(lambda: evaluate(x, y, metrics=list(RETRIEVAL_METRICS), **kw), args.repeats)
            t_clu, ours_clu = timed(lambda: evaluate(x, y, metrics=list(CLUSTERING_METRICS), **kw), 1)
            estimate = None if previous is None else previous[1] * (n / previous[0]) ** 2
            row = f"{n:>6} {d:>4} {len(np.unique(y)):>4} {threads_of_ours(n, args.device):>3} | {t_ret:>10.3f} "
            if estimate is not None and estimate > args.pml_budget:
                print(row + f"{'skipped':>10}  pml retrieval estimated at {estimate:.0f} s > --pml-budget {args.pml_budget:.0f} s; ours clu {t_clu:.3f} s")
                continue
            p_ret, ref_ret = timed(lambda: pml_evaluate(x, y, metrics=list(RETRIEVAL_METRICS), **kw), args.repeats)
            p_clu, ref_clu = timed(lambda: pml_evaluate(x, y, metrics=list(CLUSTERING_METRICS), **kw), 1)
            previous = (n, p_ret)
            diff_ret = max(abs(ours_ret[m] - ref_ret[m]) for m in RETRIEVAL_METRICS)
            diff_clu = max(abs(ours_clu[m] - ref_clu[m]) for m in CLUSTERING_METRICS)
            print(
                row + f"{p_ret:>10.3f} {p_ret / t_ret:>6.1f}x | {t_clu:>10.3f} {p_clu:>10.3f} | "
                f"{(p_ret + p_clu) / (t_ret + t_clu):>10.1f}x | {diff_ret:>14.2e} {diff_clu:>18.2e}",
                flush=True,
            )


if __name__ == "__main__":
    main()
