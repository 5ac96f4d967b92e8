"""Benchmark InDiReCT's fast solver against the faithful (original) one on text-like prompt sets.

Prompt embeddings are synthesised like CLIP text embeddings: a shared mean direction, low-rank
variation with decaying strength, a little isotropic noise, L2-normalised. For each size the
script prints the final value of the paper's loss and the fit time of both solvers.

    python scripts/bench_projectors.py [--sizes 20 150 550] [--dim 512] [--k 128] [--threads 1]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from indirect.projectors import InDiReCT


def text_like_prompts(n: int, dim: int, rank: int = 64, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mean = rng.normal(size=dim)
    mean /= np.linalg.norm(mean)
    basis = np.linalg.qr(rng.normal(size=(dim, rank)))[0].T
    variation = (rng.normal(size=(n, rank)) * 0.3 * 0.9 ** np.arange(rank)) @ basis
    x = mean + variation + 0.02 * rng.normal(size=(n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def timed_fit(prompts: np.ndarray, k: int, solver: str, device: str) -> tuple[float, float, int]:
    start = time.perf_counter()
    projector = InDiReCT(k, solver=solver, random_state=0, device=device).fit(prompts)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return projector.loss(prompts), time.perf_counter() - start, projector.n_iter_


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 150, 550])
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--k", type=int, default=128)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (1 keeps timings stable on a shared machine)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"device={args.device} threads={args.threads} D={args.dim} k={args.k} torch={torch.__version__}")
    print(f"{'prompts':>7} {'faithful loss':>14} {'fast loss':>10} {'faithful s':>10} {'fast s':>7} "
          f"{'speed-up':>8} {'steps (faithful/fast)':>22}")
    for n in args.sizes:
        prompts = text_like_prompts(n, args.dim, seed=n)
        slow_loss, slow_s, slow_it = timed_fit(prompts, args.k, "faithful", args.device)
        fast_loss, fast_s, fast_it = timed_fit(prompts, args.k, "fast", args.device)
        print(f"{n:>7} {slow_loss:>14.6f} {fast_loss:>10.6f} {slow_s:>10.2f} {fast_s:>7.2f} "
              f"{slow_s / fast_s:>7.1f}x {f'{slow_it}/{fast_it}':>22}", flush=True)


if __name__ == "__main__":
    main()
