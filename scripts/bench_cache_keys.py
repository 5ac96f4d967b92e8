"""What keying the image cache by content costs: a stat pass (every run), a sha1 pass (only
images whose stat changed, or whose mtime was too recent to trust) and a full decode (what
embedding costs before the model even runs), on the 2,000 demo images and on large JPEGs.

    python scripts/bench_cache_keys.py [--large 40] [--side 4000]

Prints ms per image and each pass as a ratio of the decode pass measured in the same run.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from indirect.datasets.shapes import load_shapes  # noqa: E402
from indirect.embedding.images import file_sha1, open_rgb, stat_stamp  # noqa: E402


def timed(function, paths) -> float:
    start = time.perf_counter()
    for path in paths:
        function(path)
    return (time.perf_counter() - start) / len(paths) * 1000


def report(name: str, paths) -> None:
    for path in paths:  # warm the page cache: every pass reads from memory, as a rerun does
        path.read_bytes()
    decode = timed(open_rgb, paths)
    stat = timed(stat_stamp, paths)
    sha1 = timed(file_sha1, paths)
    megabytes = sum(p.stat().st_size for p in paths) / len(paths) / 1e6
    print(f"{name}: {len(paths)} images, {megabytes:.2f} MB each | stat {stat:.4f} ms ({stat / decode:.4f} x decode) | "
          f"sha1 {sha1:.3f} ms ({sha1 / decode:.3f} x decode, {megabytes / sha1 * 1000:.0f} MB/s) | decode {decode:.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large", type=int, default=40, help="number of large JPEGs")
    parser.add_argument("--side", type=int, default=4000, help="their longer side in pixels")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        report("demo shapes", load_shapes(scratch / "shapes").paths)
        rng = np.random.default_rng(0)
        large = []
        for i in range(args.large):
            base = rng.integers(0, 255, (args.side * 3 // 4 // 8, args.side // 8, 3), dtype=np.uint8)
            picture = Image.fromarray(base).resize((args.side, args.side * 3 // 4), Image.BILINEAR)
            large.append(scratch / f"{i}.jpg")
            picture.save(large[-1], quality=92)
        report(f"large JPEGs {args.side}x{args.side * 3 // 4}", large)


if __name__ == "__main__":
    main()
