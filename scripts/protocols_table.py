"""One table of a `make protocols` multirun: every method of every notion, P@1 and MAP@R under
protocol=improved and protocol=paper side by side (written to <multirun dir>/protocols.md).

    python scripts/protocols_table.py outputs/multiruns/protocols [--out FILE]

Every job of the sweep must have finished: a missing, failed or stale job is refused (exit 2)
rather than shown as a gap. A method a protocol does not apply (results.json's
``not_applicable``) is "-", its reason under the table.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from indirect.errors import SweepError, UserError  # noqa: E402
from indirect.reporting import collect_jobs  # noqa: E402
from indirect.reporting.results import format_mean_std, ordered_methods  # noqa: E402

PROTOCOLS = ("improved", "paper")
METRICS = (("precision_at_1", "P@1"), ("mean_average_precision_at_r", "MAP@R"))


def by_notion_and_protocol(multirun_dir: Path) -> dict[str, dict[str, dict]]:
    """``{notion: {protocol: results}}``, refusing an unfinished sweep or a missing protocol."""
    jobs = collect_jobs(multirun_dir)
    problems = [f"job {job.name} {job.status} ({job.reason})" for job in jobs if job.status != "ok"]
    if problems:
        raise SweepError(f"{multirun_dir}: {'; '.join(problems)}; rerun make protocols")
    table: dict[str, dict[str, dict]] = {}
    for job in jobs:
        notion, protocol = job.results["notion"], job.results.get("protocol", "unspecified")
        if protocol in table.get(notion, {}):   # another swept key (k, seed, ...): one cell cannot hold both
            other = " ".join(o for o in job.overrides if not o.startswith(("notion=", "protocol=")))
            raise SweepError(f"{multirun_dir}: notion {notion} has more than one protocol={protocol} job (job {job.name}: "
                             f"{other or 'same overrides'}); this table compares the two protocols of one setting: "
                             "sweep only notion and protocol, or use scripts/report.py")
        table.setdefault(notion, {})[protocol] = job.results
    for notion, runs in table.items():
        missing = [p for p in PROTOCOLS if p not in runs]
        if missing:
            raise SweepError(f"{multirun_dir}: notion {notion} has no protocol={missing[0]} job; run both protocols")
    return table


def cell(results: dict, method: str, metric: str) -> str:
    if method in (results.get("not_applicable") or {}):
        return "-"
    summary = results["methods"].get(method, {}).get(metric)
    return format_mean_std(summary, digits=1) if summary is not None else "not run"


def render(table: dict[str, dict[str, dict]]) -> str:
    first = next(iter(next(iter(table.values())).values()))
    reps = sorted({r["repetitions"] for runs in table.values() for r in runs.values()})
    lines = [f"**Paper protocol vs our defaults — {first['dataset']}, backbone {first['backbone']}, "
             f"{first['n_images']} images, k = {first['n_components']}**", "",
             "| notion | method | " + " | ".join(f"{label} {p}" for p in PROTOCOLS for _, label in METRICS) + " |",
             "|---|---|" + "---:|" * (len(PROTOCOLS) * len(METRICS))]
    reasons = {}
    for notion, runs in table.items():
        methods = ordered_methods(dict.fromkeys(m for p in PROTOCOLS for m in
                                                [*runs[p]["methods"], *(runs[p].get("not_applicable") or {})]))
        for method in methods:
            cells = [cell(runs[p], method, metric) for p in PROTOCOLS for metric, _ in METRICS]
            lines.append(f"| {notion} | {method} | " + " | ".join(cells) + " |")
            for p in PROTOCOLS:
                if method in (runs[p].get("not_applicable") or {}):
                    reasons[(notion, p, method)] = runs[p]["not_applicable"][method]
    lines += ["", f"Values ×100, mean ± population std over {'/'.join(map(str, reps))} seed(s) for the seeded methods "
              "(one run for clip, which has no seed). oracle is an upper bound trained on the evaluation labels."]
    lines += [f"- {notion}, {method} under protocol={p}: not applicable ({reason})."
              for (notion, p, method), reason in reasons.items()]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("multirun_dir", type=Path, help="the folder of the make protocols multirun")
    parser.add_argument("--out", type=Path, default=None, help="the markdown file (default: <multirun_dir>/protocols.md)")
    args = parser.parse_args(argv)
    try:
        text = render(by_notion_and_protocol(args.multirun_dir))
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    out = args.out or args.multirun_dir / "protocols.md"
    out.write_text(text)
    print(text)
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
