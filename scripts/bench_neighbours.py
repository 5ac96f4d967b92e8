"""The cost of ``analysis=neighbours`` (the retrieval figure, on by default in every run) on the
demo world: one run of 2,000 images with the default analysis, then the analysis alone, repeated.

    python scripts/bench_neighbours.py                   # data/ and cache/ of the working directory
    python scripts/bench_neighbours.py --repeats 10 --data-dir /tmp/d --cache-dir /tmp/c

Printed: the analysis's median and worst seconds, and their share of the same run's own stages
(dataset, backbone, embed, fit, evaluate: the baseline, measured in the same process). The issue's
rule: on by default only if it costs under a second.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from hydra import compose, initialize_config_dir

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-images", type=int, default=2000, help="demo-world images (the default world: 2000)")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls of the analysis alone")
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--cache-dir", default="cache")
    args = parser.parse_args()

    from indirect.analysis.neighbours import Neighbours
    from indirect.experiment import run

    with tempfile.TemporaryDirectory(prefix="bench-neighbours-") as out, \
            initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("train_eval", overrides=[f"paths.data_dir={args.data_dir}", f"paths.cache_dir={args.cache_dir}",
                                               f"paths.output_dir={out}", "logger=none", "repetitions=1",
                                               "compare_with=[]", f"dataset.n_images={args.n_images}"])
        results, objects = run(cfg)
        times = []
        for repeat in range(args.repeats):
            started = time.perf_counter()
            Neighbours(seed=repeat)(objects)
            times.append(time.perf_counter() - started)
    stages = {k: v for k, v in results["timings"].items() if k != "analysis"}
    baseline = sum(stages.values())
    print(f"analysis=neighbours on {len(objects.ids)} images ({cfg.dataset.name}, {objects.backbone.name}, "
          f"k={cfg.n_components}): in the run {results['timings']['analysis']:.3f} s; alone, "
          f"median {np.median(times):.3f} s, worst {max(times):.3f} s over {len(times)} calls")
    print(f"the run's other stages: {baseline:.2f} s ({', '.join(f'{k} {v:.2f}' for k, v in stages.items())}); "
          f"the figure adds {np.median(times) / baseline:.1%} of that")


if __name__ == "__main__":
    main()
