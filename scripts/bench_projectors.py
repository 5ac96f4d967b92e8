"""Benchmark InDiReCT's fast solver against a plain implementation of the paper's loop.

The baseline is written here, independently of our solver classes: U ~ N(0, 0.1) (k x D),
full-batch Adam (lr 0.01) on the mean safe arccos between each prompt and its reconstruction,
stop when the best loss has not improved for 100 steps, keep the best U (float32, as the
original). Our ``solver="fast"`` and ``solver="faithful"`` are timed on the same prompts; every
loss is recomputed here in float64 from the returned U. Prompt embeddings are synthesised like
CLIP text embeddings: a shared mean direction, low-rank variation with decaying strength, a
little isotropic noise, L2-normalised.

The last columns time the fast solver again while a busy neighbour process (another Python
process burning ``--neighbour-threads`` cores, one column per value, scripts/busy_neighbour.py)
runs, against the quiet timing of the same run: the slowdown a sweep's second job or a data
loader causes.

Timings are medians of ``--repeats`` runs. Our solvers run with the library's own thread
settings; the plain loop with ``--baseline-threads`` torch threads (1, its faster setting on
2 cores).

    python scripts/bench_projectors.py [--sizes 20 150 550] [--dim 512] [--k 128] [--repeats 3]
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
from indirect.projectors import InDiReCT  # noqa: E402

EDGE = 1.0 - 1e-7


def text_like_prompts(n: int, dim: int, rank: int = 64, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mean = rng.normal(size=dim)
    mean /= np.linalg.norm(mean)
    basis = np.linalg.qr(rng.normal(size=(dim, rank)))[0].T
    variation = (rng.normal(size=(n, rank)) * 0.3 * 0.9 ** np.arange(rank)) @ basis
    x = mean + variation + 0.02 * rng.normal(size=(n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def paper_loss(U: np.ndarray, T: np.ndarray) -> float:
    """Mean safe arccos between the prompts and their reconstructions, in float64."""
    U, T = np.asarray(U, np.float64), np.asarray(T, np.float64)
    T = T / np.linalg.norm(T, axis=1, keepdims=True)
    v = T @ U.T
    v /= np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    t_hat = v @ U
    t_hat /= np.maximum(np.linalg.norm(t_hat, axis=1, keepdims=True), 1e-12)
    x = (T * t_hat).sum(axis=1)
    slope = -1.0 / np.sqrt(1.0 - EDGE * EDGE)
    inner = np.arccos(np.clip(x, -EDGE, EDGE))
    outer = np.where(x > EDGE, np.arccos(EDGE) + slope * (x - EDGE), np.arccos(-EDGE) + slope * (x + EDGE))
    return float(np.where(np.abs(x) > EDGE, outer, inner).mean())


def torch_safe_arccos(x: torch.Tensor) -> torch.Tensor:
    """arccos continued linearly beyond |x| > EDGE (finite gradient at a perfect reconstruction)."""
    slope = -1.0 / (1.0 - EDGE * EDGE) ** 0.5
    inner = torch.acos(x.clamp(-EDGE, EDGE))
    upper = float(np.arccos(EDGE)) + slope * (x - EDGE)
    lower = float(np.arccos(-EDGE)) + slope * (x + EDGE)
    return torch.where(x > EDGE, upper, torch.where(x < -EDGE, lower, inner))


def plain_paper_loop(prompts: np.ndarray, k: int, seed: int = 0, lr: float = 0.01, patience: int = 100,
                     max_steps: int = 10000) -> tuple[np.ndarray, int]:
    """The paper's optimisation, written out: returns the best U and the number of Adam steps."""
    T = torch.nn.functional.normalize(torch.from_numpy(prompts), dim=1)
    generator = torch.Generator().manual_seed(seed)
    U = (torch.randn(k, T.shape[1], generator=generator) * 0.1).requires_grad_(True)
    optimizer = torch.optim.Adam([U], lr=lr)
    best_loss, best_U, since_best, step = float("inf"), U.detach().clone(), 0, 0
    for step in range(1, max_steps + 1):
        optimizer.zero_grad()
        v = torch.nn.functional.normalize(T @ U.T, dim=1)
        t_hat = torch.nn.functional.normalize(v @ U, dim=1)
        loss = torch_safe_arccos((T * t_hat).sum(dim=1)).mean()
        if loss.item() < best_loss:
            best_loss, since_best = loss.item(), 0
            best_U = U.detach().clone()
        else:
            since_best += 1
            if since_best >= patience:
                break
        loss.backward()
        optimizer.step()
    return best_U.numpy(), step


def timed(fit, repeats: int, min_seconds: float = 0.2):
    """(median seconds per call, result of the last call) over ``repeats`` timings of ``fit``.

    A timing runs ``fit`` as many times as fill ``min_seconds`` (as timeit's autorange): a fit
    of a millisecond timed alone measures when the scheduler next hands the core back, which
    beside a busy neighbour is a time slice of a few ms whatever the fit does."""
    times, result = [], None
    for _ in range(repeats):
        calls, start = 0, time.perf_counter()
        while True:
            result = fit()
            calls += 1
            if time.perf_counter() - start >= min_seconds:
                break
        times.append((time.perf_counter() - start) / calls)
    return statistics.median(times), result


def ours(prompts: np.ndarray, k: int, solver: str, device: str):
    def fit():
        projector = InDiReCT(k, solver=solver, random_state=0, device=device).fit(prompts)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        return projector.components_.numpy(), projector.n_iter_
    return fit


def baseline(prompts: np.ndarray, k: int, threads: int):
    def fit():
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            return plain_paper_loop(prompts, k)
        finally:
            torch.set_num_threads(before)
    return fit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 150, 550])
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--k", type=int, default=128)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3, help="median of this many timings per cell")
    parser.add_argument("--baseline-threads", type=int, default=1, help="torch threads of the plain loop")
    parser.add_argument("--neighbour-threads", type=int, nargs="+", default=[1, 2],
                        help="cores the busy neighbour burns (a column each)")
    parser.add_argument("--no-faithful", action="store_true", help="skip our faithful solver (the slowest column)")
    args = parser.parse_args()
    load = Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "?"
    print(f"device={args.device} D={args.dim} k={args.k} repeats={args.repeats} (median) "
          f"plain-loop threads={args.baseline_threads} neighbour burns {args.neighbour_threads} cores "
          f"torch={torch.__version__} load average at start={load}")
    header = (f"{'prompts':>7} | {'plain s (steps)':>16} {'fast s':>7} {'ratio':>6} {'faithful s (steps)':>19} | "
              f"{'loss plain':>10} {'loss fast':>10} {'loss faithful':>13} |"
              + "".join(f" {f'busy {t} s':>9} {'slowdown':>8}" for t in args.neighbour_threads))
    print(header)
    print("-" * len(header))
    for n in args.sizes:
        prompts = text_like_prompts(n, args.dim, seed=n)
        plain_s, (plain_U, plain_steps) = timed(baseline(prompts, args.k, args.baseline_threads), args.repeats)
        fast_s, (fast_U, _) = timed(ours(prompts, args.k, "fast", args.device), args.repeats)
        if args.no_faithful:
            faithful_cell, faithful_loss = f"{'-':>19}", f"{'-':>13}"
        else:
            faithful_s, (faithful_U, faithful_steps) = timed(ours(prompts, args.k, "faithful", args.device), args.repeats)
            faithful_cell = f"{f'{faithful_s:.3f} ({faithful_steps})':>19}"
            faithful_loss = f"{paper_loss(faithful_U, prompts):>13.6f}"
        busy = []
        for threads in args.neighbour_threads:
            with busy_neighbour(threads):
                busy.append(timed(ours(prompts, args.k, "fast", args.device), args.repeats)[0])
        print(f"{n:>7} | {f'{plain_s:.3f} ({plain_steps})':>16} {fast_s:>7.4f} {plain_s / fast_s:>5.1f}x {faithful_cell} | "
              f"{paper_loss(plain_U, prompts):>10.6f} {paper_loss(fast_U, prompts):>10.6f} {faithful_loss} |"
              + "".join(f" {busy_s:>9.4f} {busy_s / fast_s:>7.1f}x" for busy_s in busy), flush=True)


if __name__ == "__main__":
    main()
