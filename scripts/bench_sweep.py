"""Sweep throughput: the demo sweep (make demo-sweep) sequential vs hydra/launcher=parallel, one run.

Runs `train_eval.py --multirun experiment=demo_paper` once to warm the caches (the demo world,
its image and prompt embeddings: they depend on no method, so the warm-up runs clip alone, one
repetition; not timed), then --rounds times each: the basic (sequential) launcher and
hydra/launcher=parallel with --jobs jobs, alternating, and prints wall seconds and the ratio per
round. Extra Hydra overrides after `--` shrink the sweep for a quick figure.

    python scripts/bench_sweep.py                          # the full demo sweep, 2 rounds
    python scripts/bench_sweep.py -- repetitions=1 'compare_with=[clip,random,pca,lae]'
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def sweep(overrides: list[str], sweep_dir: Path, cache_dir: Path, data_dir: Path) -> float:
    args = [sys.executable, str(ROOT / "train_eval.py"), "--multirun", "experiment=demo_paper", "logger=none",
            f"hydra.sweep.dir={sweep_dir}", f"paths.cache_dir={cache_dir}", f"paths.data_dir={data_dir}", *overrides]
    start = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "WANDB_SILENT": "true"})
    elapsed = time.perf_counter() - start
    failed = list(sweep_dir.glob("*/error.txt"))
    if proc.returncode != 0 or failed:
        sys.exit(f"sweep failed ({proc.returncode}, {len(failed)} failed jobs): {proc.stderr[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="sequential/parallel pairs (default 2)")
    parser.add_argument("--jobs", type=int, default=2, help="hydra.launcher.n_jobs of the parallel sweep")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for both sweeps (after --)")
    args = parser.parse_args()
    load = Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "?"
    print(f"demo sweep {' '.join(args.overrides) or '(full)'}; {os.cpu_count()} cores; load average at start={load}")
    with tempfile.TemporaryDirectory(prefix="bench_sweep_") as tmp:
        tmp = Path(tmp)
        cache, data = tmp / "cache", tmp / "data"
        sweep([*args.overrides, "repetitions=1", "compare_with=[clip]", "analysis=none"], tmp / "warm", cache, data)
        for r in range(1, args.rounds + 1):
            seq = sweep(args.overrides, tmp / f"seq{r}", cache, data)
            par = sweep([*args.overrides, "hydra/launcher=parallel", f"hydra.launcher.n_jobs={args.jobs}"],
                        tmp / f"par{r}", cache, data)
            print(f"round {r}: sequential {seq:.1f} s, parallel (n_jobs={args.jobs}) {par:.1f} s, "
                  f"speed-up {seq / par:.2f}x", flush=True)


if __name__ == "__main__":
    main()
