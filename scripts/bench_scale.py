"""Does everything after extraction scale to 100,000 images without an N x N matrix?

On synthetic CLIP-like data (unit vectors around class centres, prompts around word centres) it
times each stage and reads the process' peak resident memory during that stage:
  fit        - InDiReCT on the prompt embeddings (its cost does not depend on N),
  transform  - projecting the N image embeddings,
  evaluate   - ``indirect.metrics.evaluate`` (blocked exact leave-one-out k-NN + k-means) on the
               raw d-dim embeddings, the largest evaluation a run performs, with a run's
               default ``evaluation.k=null`` (every neighbour: exact MAP and MRR); ``--k
               max_bin_count`` times the cheaper top-k evaluation instead.

    python scripts/bench_scale.py                       # N=100,000, d=512 (CPU: a few minutes)
    python scripts/bench_scale.py --n 20000 --stages fit,transform
    python scripts/bench_scale.py --device cuda

Peak memory is the resident-set high-water mark (Linux: VmHWM, reset before each stage), so it
counts numpy, torch and faiss alike; an N x N float32 matrix would need N^2 * 4 bytes.
"""
from __future__ import annotations

import argparse
import resource
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

GIB = 1024 ** 3


def reset_peak() -> bool:
    """Reset the kernel's peak-RSS counter for this process; False where that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_rss_bytes() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


@contextmanager
def stage(name: str, rows: list):
    resettable = reset_peak()
    start = time.perf_counter()
    yield
    seconds = time.perf_counter() - start
    peak = peak_rss_bytes()
    rows.append((name, seconds, peak, resettable))
    print(f"  {name:<10} {seconds:8.1f} s   peak RSS {peak / GIB:6.2f} GiB" + ("" if resettable else " (process peak)"),
          flush=True)


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def synthetic(n: int, dim: int, classes: int, prompts: int, seed: int = 0):
    """Images: class centre + noise; prompts: noise around a few word directions."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((classes, dim)).astype(np.float32)
    labels = rng.integers(0, classes, n)
    images = np.empty((n, dim), np.float32)
    for start in range(0, n, 10_000):  # in blocks: no N x d float64 temporary
        stop = min(n, start + 10_000)
        images[start:stop] = unit(centres[labels[start:stop]] + 4.0 * rng.standard_normal((stop - start, dim)).astype(np.float32))
    text = unit(centres[rng.integers(0, classes, prompts)] + rng.standard_normal((prompts, dim)).astype(np.float32))
    return images, labels, text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000, help="images")
    parser.add_argument("--dim", type=int, default=512, help="embedding dimension (512: ViT-B CLIP)")
    parser.add_argument("--classes", type=int, default=1000, help="classes (sets k = max_bin_count ~ n/classes)")
    parser.add_argument("--prompts", type=int, default=2000, help="prompt embeddings InDiReCT is fitted on")
    parser.add_argument("--components", type=int, default=128, help="n_components of the projection")
    parser.add_argument("--k", default="none",
                        help="evaluation.k: none (all neighbours, a run's default), max_bin_count or an int")
    parser.add_argument("--stages", default="fit,transform,evaluate", help="comma-separated subset")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (projector and k-NN)")
    args = parser.parse_args()
    stages = set(args.stages.split(","))
    k = None if args.k.lower() in ("none", "null") else (int(args.k) if args.k.isdigit() else args.k)

    from indirect.metrics import evaluate
    from indirect.projectors.indirect import InDiReCT

    images, labels, text = synthetic(args.n, args.dim, args.classes, args.prompts)
    print(f"N={args.n:,} images, d={args.dim}, {args.classes} classes, {args.prompts} prompts, k={args.components}; "
          f"evaluation k={k}; inputs {images.nbytes / GIB:.2f} GiB; an N x N float32 matrix would be {args.n ** 2 * 4 / GIB:,.1f} GiB")
    print(f"  baseline   peak RSS {peak_rss_bytes() / GIB:6.2f} GiB (data generated)", flush=True)
    rows: list = []
    projector = InDiReCT(n_components=args.components, random_state=0, device=args.device)
    if stages & {"fit", "transform"}:
        with stage("fit", rows):
            projector.fit(text)
    if "transform" in stages:
        with stage("transform", rows):
            projected = projector.transform(images)
        assert projected.shape == (args.n, args.components)
    if "evaluate" in stages:
        with stage("evaluate", rows):
            metrics = evaluate(images, labels, device=args.device, k=k)
        print("  " + ", ".join(f"{name} {value:.3f}" for name, value in metrics.items()))


if __name__ == "__main__":
    main()
