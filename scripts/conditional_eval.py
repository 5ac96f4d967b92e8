"""The conditional-similarity benchmark (issue 15) over several notions: Recall@1/2/3 of every method.

    python scripts/conditional_eval.py --notion color            # one demo notion, focus and change
    python scripts/conditional_eval.py --notion all --json out.json
    python scripts/conditional_eval.py --genecis-root /data/genecis --task focus_attribute --backbone vit_b32_openai

Each notion (or GeneCIS task) is one ``python train_eval.py evaluation=conditional ...`` run,
called in process on the composed config (its run folder under --out); this script only adds the
one table over all of them. A user error prints one line and exits 2.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from indirect.conditional import METHODS, OTHER_FACTOR  # noqa: E402
from indirect.errors import UserError, quiet_interrupt  # noqa: E402

COLUMNS = ("recall_at_1", "recall_at_2", "recall_at_3")


def table(results: dict) -> str:
    """notion -> results.json dict, as one Markdown table (means over the repetitions)."""
    lines = ["| notion | kind | method | R@1 | R@2 | R@3 | queries |", "|---|---|---|---:|---:|---:|---:|"]
    for notion, result in results.items():
        for name, metrics in sorted(result["methods"].items(), key=lambda item: (item[0].split("+")[1], item[0])):
            method, kind = name.split("+")
            lines.append(f"| {notion} | {kind} | {method} | " + " | ".join(f"{metrics[c]['mean']:.3f}" for c in COLUMNS)
                         + f" | {result['n_queries'][kind]} |")
    return "\n".join(lines)


def run_one(overrides: list[str]) -> dict:
    from hydra import compose, initialize_config_dir

    from indirect.experiment import run

    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("train_eval", overrides=["evaluation=conditional", "logger=none", *overrides])
    return run(cfg)[0]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notion", default="color", help=f"one of {', '.join(OTHER_FACTOR)}, or 'all'")
    parser.add_argument("--kinds", nargs="+", default=["focus", "change"], choices=["focus", "change"])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--n-queries", type=int, default=1000)
    parser.add_argument("--repetitions", type=int, default=1, help="query draws (demo) / space fits, seed .. seed+r-1")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--cache-dir", default="cache")
    parser.add_argument("--out", default="outputs/conditional", help="the runs' folders go under this one")
    parser.add_argument("--json", help="also write notion -> results.json dict to this file")
    parser.add_argument("--genecis-root", help="run the real benchmark from this root instead (conf/dataset/genecis.yaml layout)")
    parser.add_argument("--task", default="focus_attribute", help="the GeneCIS task (with --genecis-root)")
    parser.add_argument("--backbone", default="demo", help="a conf/backbone/<name>.yaml")
    args = parser.parse_args(argv)
    common = [f"paths.data_dir={args.data_dir}", f"paths.cache_dir={args.cache_dir}", f"backbone={args.backbone}",
              f"seed={args.seed}", f"repetitions={args.repetitions}", f"evaluation.n_queries={args.n_queries}",
              f"evaluation.kinds=[{','.join(args.kinds)}]", f"evaluation.methods=[{','.join(args.methods)}]"]
    if args.genecis_root:
        runs = {f"genecis {args.task}": ["dataset=genecis", f"dataset.root={args.genecis_root}", f"dataset.task={args.task}",
                                         f"paths.output_dir={args.out}/genecis_{args.task}"]}
    else:
        notions = list(OTHER_FACTOR) if args.notion == "all" else [args.notion]
        runs = {notion: ["dataset=shapes", f"notion={notion}", f"paths.output_dir={args.out}/shapes_{notion}"]
                for notion in notions}
    try:
        results = {name: run_one(common + overrides) for name, overrides in runs.items()}
    except UserError as error:
        print(f"error: {error}".splitlines()[0], file=sys.stderr)
        return 2
    print(table(results))
    if "indirect" in args.methods and "clip" in args.methods:
        for name, result in results.items():
            for kind in result["n_queries"]:
                gain = result["methods"][f"indirect+{kind}"]["recall_at_1"]["mean"] - result["methods"][f"clip+{kind}"]["recall_at_1"]["mean"]
                print(f"{name} {kind}: indirect R@1 - clip R@1 = {gain:+.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(quiet_interrupt(main))
