"""Report a Hydra multirun: one table (md, csv, tex) and a grouped bar chart of every job.

    python scripts/report.py multirun/2026-01-01/12-00-00 [--out DIR] [--metric P@1 --metric MAP@R]
    python scripts/report.py <dir> --sweep-param n_components   # also metric vs swept value
    python scripts/report.py <dir> --sweep-param backbone       # categorical values: one tick each

Missing, failed, never-started and stale jobs (left by an earlier sweep into the same folder) are
listed in the report and their results never read; the exit status is 1 when there are any, or
when no job has results, so a CI step or a shell loop notices an incomplete sweep. Shard jobs
(``embed.shard``: they embed a slice of the cache, and one of them runs the experiment) are listed
and are no problem.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from indirect.errors import UserError  # noqa: E402
from indirect.reporting import plot_sweep, write_sweep_report  # noqa: E402
from indirect.reporting.jobs import PROBLEM_STATUSES  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("multirun_dir", type=Path, help="the folder holding multirun.yaml and the job folders 0/, 1/, ...")
    parser.add_argument("--out", type=Path, default=None, help="where to write report.* (default: the multirun folder)")
    parser.add_argument("--metric", action="append", default=None, help="a metric column, by name or label (repeatable; default P@1, MAP@R, R-Prec)")
    parser.add_argument("--sweep-param", default=None, help="also plot metrics against this swept override, numeric or not (sweep_<param>.png)")
    parser.add_argument("--method", default="indirect", help="the method plotted by --sweep-param (default: indirect)")
    args = parser.parse_args(argv)
    try:
        report = write_sweep_report(args.multirun_dir, args.out, args.metric)
        print(report["paths"]["md"].read_text())
        if args.sweep_param:
            out_png = report["paths"]["md"].parent / f"sweep_{args.sweep_param.replace('.', '_')}.png"
            plotted = plot_sweep(args.multirun_dir, args.sweep_param, out_png, method=args.method, metrics=args.metric)
            print(f"{out_png}: {plotted.n_values} value(s) of {args.sweep_param}")
            for note in plotted.notes:
                print(note)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for path in report["paths"].values():
        print(f"wrote {path}")
    statuses = {job.status for job in report["jobs"]}
    return 1 if statuses & set(PROBLEM_STATUSES) or "ok" not in statuses else 0


if __name__ == "__main__":
    sys.exit(main())
