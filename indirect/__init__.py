"""indirect: language-guided zero-shot deep metric learning (InDiReCT, WACV 2023) as a toolkit."""
import os as _os

__version__ = "0.1.0"

# GNU OpenMP (torch's runtime; faiss's OpenMP calls resolve to it too) spins 300,000 times at
# every barrier before a waiting thread sleeps. Beside a busy neighbour process the thread it
# waits for is often descheduled, and the spinning takes the core it needs: all seven metrics
# at N = 1,000 took 13.9x their quiet time with a neighbour burning 2 cores, 3.5x with 10,000
# spins, quiet times unchanged (scripts/bench_eval.py). Read when torch loads, so it is set
# here, before anything of ours imports torch; a value set by the user is kept.
_os.environ.setdefault("GOMP_SPINCOUNT", "10000")


def __getattr__(name):
    """``from indirect import NotionSpace`` without importing torch and faiss on ``import indirect``."""
    if name == "NotionSpace":
        from indirect.search import NotionSpace

        return NotionSpace
    raise AttributeError(f"module 'indirect' has no attribute {name!r}")
