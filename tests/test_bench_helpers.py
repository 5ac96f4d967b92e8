"""The benchmark scripts' shared helpers measure what they say (scripts/busy_neighbour.py,
scripts/bench_eval.py)."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from busy_neighbour import busy_neighbour  # noqa: E402


def _cpu_seconds(pid: int) -> float:
    import os

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_busy_neighbour_burns_during_the_block_and_stops_after():
    # the block starts only once the neighbour's threads run: it has burned CPU already
    with busy_neighbour(1, warmup_s=0.2) as proc:
        assert proc.poll() is None
        assert _cpu_seconds(proc.pid) > 0
    assert proc.poll() is not None


def test_bench_eval_runs_pml_on_our_threads():
    import bench_eval
    from indirect.metrics.evaluate import SMALL_EVALUATION

    assert bench_eval.threads_of_ours(SMALL_EVALUATION, "cpu") == 1
    assert bench_eval.threads_of_ours(SMALL_EVALUATION + 1, "cpu") >= 1


@pytest.mark.parametrize("name", sorted(p.name for p in (Path(__file__).resolve().parents[1] / "scripts").glob("bench_*.py")))
def test_bench_scripts_import_indirect_before_torch(name):
    # libgomp reads GOMP_SPINCOUNT once, when torch loads it: a script importing torch first
    # times torch's OpenMP with the default 300,000 spins (3x the CPU of 10,000 in a loop of
    # small parallel ops with sleeps between), not what ``import indirect`` gives a run
    import re

    text = (Path(__file__).resolve().parents[1] / "scripts" / name).read_text()
    torch_at = re.search(r"^import torch\b|^from torch\b", text, re.M)
    if torch_at is None:
        return
    ours = re.search(r"^import indirect\b|^from indirect\b", text, re.M)
    assert ours is not None and ours.start() < torch_at.start(), f"{name} imports torch before indirect"
