"""Wall-clock seconds per pipeline stage, printed at the end of a run."""
from __future__ import annotations

import time
from contextlib import contextmanager


class StageTimer:
    def __init__(self):
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, stage: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - start

    def summary(self) -> str:
        total = sum(self.seconds.values())
        parts = ", ".join(f"{stage} {sec:.1f}s" for stage, sec in self.seconds.items())
        return f"timings: {parts}; total {total:.1f}s"
