"""A busy neighbour process for load benchmarks: another program keeping cores busy meanwhile.

On a shared node the second job of a sweep, a data loader or another user's process competes
for the cores. ``busy_neighbour(threads)`` starts a separate Python process whose ``threads``
threads each run a tight numpy loop (numpy releases the GIL in it, so each thread burns a core)
and stops it on exit, so a benchmark can time the same work quiet and under load in one run.

    python scripts/busy_neighbour.py 2     # burn 2 cores until interrupted
"""
from __future__ import annotations

import contextlib
import os
import select
import subprocess
import sys
import time

_BURN = """
import os, sys, threading
os.environ["OMP_NUM_THREADS"] = "1"
import numpy as np
def burn():
    a = np.random.default_rng(0).random(200_000)
    while True:
        np.sqrt(a, out=a); np.add(a, 1.0, out=a)
for _ in range(int(sys.argv[1]) - 1):
    threading.Thread(target=burn, daemon=True).start()
print("burning", flush=True)
burn()
"""


@contextlib.contextmanager
def busy_neighbour(threads: int = 2, warmup_s: float = 0.2, start_timeout_s: float = 60.0):
    """Run a process burning ``threads`` cores for the duration of the ``with`` block.

    The block starts only once the process says its threads run (its numpy import alone takes
    0.2 s quiet and longer on a loaded machine, so a fixed sleep could time the start of the
    block without the neighbour), plus ``warmup_s``."""
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-c", _BURN, str(threads)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        ready, _, _ = select.select([proc.stdout], [], [], start_timeout_s)
        if not ready or proc.stdout.readline().strip() != "burning":
            raise RuntimeError(f"the busy neighbour did not start within {start_timeout_s:.0f} s "
                               f"(exit code {proc.poll()})")
        time.sleep(warmup_s)
        if proc.poll() is not None:
            raise RuntimeError(f"the busy neighbour exited at once with code {proc.returncode}")
        yield proc
    finally:
        proc.kill()
        proc.wait()


if __name__ == "__main__":
    with busy_neighbour(int(sys.argv[1]) if len(sys.argv) > 1 else 2) as neighbour:
        print(f"busy neighbour pid {neighbour.pid}; Ctrl-C stops it", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            neighbour.wait()
