"""Plot a sweep's metrics (P@1, MAP@R, R-Prec; mean ± std) against the swept value.

    python scripts/plot_sweep.py <multirun dir> n_components
    python scripts/plot_sweep.py <multirun dir> max_prompts --out prompts.png
    python scripts/plot_sweep.py <multirun dir> backbone           # categorical values work too

The sweep experiments (conf/experiment/sweep_*.yaml) draw this at the end of the multirun; this
script redraws it, e.g. after a partial sweep was completed. Numeric values get a value axis;
backbone names and other labels one tick each (indirect.reporting.plot_sweep draws both).
Jobs that failed, are missing, never started or are stale are named on stdout and under the
figure, and the exit status is 1, as scripts/report.py's: a partial sweep never passes for whole.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from indirect.analysis.sweep_plots import plot_swept  # noqa: E402
from indirect.reporting import SweepError  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("multirun_dir", type=Path, help="the folder holding multirun.yaml and the job folders 0/, 1/, ...")
    parser.add_argument("param", help="the swept override, e.g. n_components, max_prompts, backbone")
    parser.add_argument("--out", type=Path, default=None, help="PNG to write (default: <multirun dir>/sweep_<param>.png)")
    parser.add_argument("--method", default="indirect", help="the method plotted (default: indirect)")
    parser.add_argument("--metric", action="append", default=None, help="a metric, by name or label (repeatable; default P@1, MAP@R, R-Prec)")
    args = parser.parse_args(argv)
    try:
        out_png, plotted = plot_swept(args.multirun_dir, args.param, args.out, method=args.method, metrics=args.metric)
    except SweepError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{out_png}: {plotted.n_values} value(s) of {args.param}")
    for note in plotted.notes:
        print(note)
    return 1 if plotted.n_not_plotted else 0


if __name__ == "__main__":
    sys.exit(main())
