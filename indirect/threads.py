"""How many threads a piece of work may use, so that small linear algebra does not oversubscribe.

BLAS/LAPACK and OpenMP start one thread per core by default and synchronise them with
spin-waits. For the small matrices of a projector fit (a few hundred rows) the threads gain
little even on a quiet machine, and with a busy neighbour (the second job of a sweep, a data
loader) a descheduled thread stalls the others at every barrier: fitting then slows down far
more than the neighbour's share of the cores. ``limited_threads`` caps BLAS/OpenMP (through
threadpoolctl) and torch's intra-op pool for a block of code; ``core_share`` is the number of
cores one of several concurrent jobs should use.
"""
from __future__ import annotations

import contextlib
import os

import torch
from threadpoolctl import ThreadpoolController

SMALL_PROBLEM = 2048      # matrices up to this size are fitted on one thread
_controller: ThreadpoolController | None = None     # found once: scanning the loaded libraries takes ms


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, which SLURM and taskset restrict)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:                                   # macOS, Windows
        return os.cpu_count() or 1


def core_share(n_jobs: int, cores: int | None = None) -> int:
    """Cores each of ``n_jobs`` concurrent jobs gets (at least 1)."""
    cores = available_cores() if cores is None else cores
    return max(1, cores // max(1, n_jobs))


def threads_for(size: int) -> int:
    """Threads for linear algebra on matrices of dimension ``size``: 1 when small, else all cores."""
    return 1 if size <= SMALL_PROBLEM else available_cores()


@contextlib.contextmanager
def limited_threads(n: int):
    """Run the block with at most ``n`` BLAS/OpenMP threads and ``n`` torch intra-op threads."""
    global _controller
    if _controller is None:
        _controller = ThreadpoolController()
    before = torch.get_num_threads()
    with _controller.limit(limits=n):
        torch.set_num_threads(min(n, before))
        try:
            yield
        finally:
            torch.set_num_threads(before)
