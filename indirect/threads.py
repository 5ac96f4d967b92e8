"""How many threads a piece of work may use, so that small linear algebra does not oversubscribe.

BLAS/LAPACK and OpenMP start one thread per core by default and synchronise them with
spin-waits. For the small matrices of a projector fit (a few hundred rows) the threads gain
little even on a quiet machine, and with a busy neighbour (the second job of a sweep, a data
loader) a descheduled thread stalls the others at every barrier: fitting then slows down far
more than the neighbour's share of the cores. ``limited_threads`` caps BLAS/OpenMP (through
threadpoolctl) and torch's intra-op pool for a block of code; ``job_cores`` is the number of
cores one of several concurrent jobs may use.
"""
from __future__ import annotations

import contextlib
import os
import sys

import torch
from threadpoolctl import ThreadpoolController

SMALL_PROBLEM = 2048      # matrices up to this size are fitted on one thread


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, which SLURM and taskset restrict)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:                                   # macOS, Windows
        return os.cpu_count() or 1


def job_cores() -> int:
    """Cores this job may use: its CPU affinity, capped by ``OMP_NUM_THREADS`` when set.

    A parallel launcher states each job's share there: joblib sets it to cores // n_jobs in
    every loky worker (``hydra/launcher=parallel``), and a user running several jobs per node
    sets it for each. Decoding workers and threads sized by it then do not oversubscribe.
    """
    cores = available_cores()
    share = os.environ.get("OMP_NUM_THREADS", "")
    return max(1, min(cores, int(share))) if share.isdigit() and int(share) > 0 else cores


def threads_for(size: int, small: int = SMALL_PROBLEM, device: torch.device | str = "cpu") -> int:
    """CPU threads for work on matrices of dimension ``size``: 1 up to ``small``, else the job's
    cores; the job's cores whatever the size when the work runs on an accelerator."""
    return 1 if size <= small and torch.device(device).type == "cpu" else job_cores()


_controller: tuple[int, ThreadpoolController] | None = None


def _thread_pools() -> ThreadpoolController:
    """threadpoolctl's view of the loaded BLAS/OpenMP libraries, scanned again after new imports.

    A scan walks every loaded shared library (about 2 ms here, half of a 20-prompt fit), so it
    is kept while ``sys.modules`` does not grow; a native library (faiss, say) comes with an import.
    """
    global _controller
    if _controller is None or _controller[0] != len(sys.modules):
        _controller = (len(sys.modules), ThreadpoolController())
    return _controller[1]


@contextlib.contextmanager
def limited_threads(n: int):
    """Run the block with at most ``n`` BLAS/OpenMP threads and ``n`` torch intra-op threads."""
    before = torch.get_num_threads()
    with _thread_pools().limit(limits=n):
        torch.set_num_threads(min(n, before))
        try:
            yield
        finally:
            torch.set_num_threads(before)
