"""The demo-world GeneCIS (issue 15): Recall@1/2/3 of every method, focus and change queries.

    python scripts/conditional_eval.py --notion color            # one notion, both kinds
    python scripts/conditional_eval.py --notion all --json out.json
    python scripts/conditional_eval.py --genecis-root /data/genecis --task focus_attribute --backbone vit_b32_openai

Queries: indirect.conditional.shapes_queries (1,000 seeded queries per kind, 15 candidates);
methods: indirect.conditional.scorers. Images and prompts go through the project's HDF5 caches.
A user error prints one line and exits 2.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from indirect.conditional import METHODS, OTHER_FACTOR, demo_benchmark, genecis_benchmark  # noqa: E402
from indirect.errors import UserError  # noqa: E402

COLUMNS = ("recall_at_1", "recall_at_2", "recall_at_3")


def table(results: dict) -> str:
    lines = ["| notion | kind | method | R@1 | R@2 | R@3 | chance R@1 | queries |", "|---|---|---|---:|---:|---:|---:|---:|"]
    for notion, kinds in results.items():
        for kind, methods in kinds.items():
            for method, m in methods.items():
                lines.append(f"| {notion} | {kind} | {method} | " + " | ".join(f"{m[c]:.3f}" for c in COLUMNS)
                             + f" | {m['chance_recall_at_1']:.3f} | {m['n_queries']} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notion", default="color", help=f"one of {', '.join(OTHER_FACTOR)}, or 'all'")
    parser.add_argument("--kinds", nargs="+", default=["focus", "change"], choices=["focus", "change"])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--n-queries", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-components", type=int, default=128)
    parser.add_argument("--data-dir", default=str(ROOT / "data"))
    parser.add_argument("--cache-dir", default=str(ROOT / "cache"))
    parser.add_argument("--json", help="also write the figures to this JSON file")
    parser.add_argument("--genecis-root", help="run the real benchmark from this root instead (conf/dataset/genecis.yaml layout)")
    parser.add_argument("--task", default="focus_attribute", help="the GeneCIS task (with --genecis-root)")
    parser.add_argument("--backbone", default="demo", help="a conf/backbone/<name>.yaml (with --genecis-root)")
    args = parser.parse_args(argv)
    if args.genecis_root:
        return run_genecis(args)
    notions = list(OTHER_FACTOR) if args.notion == "all" else [args.notion]
    try:
        results = {notion: demo_benchmark(notion, args.kinds, args.n_queries, args.seed, args.data_dir, args.cache_dir,
                                          n_components=args.n_components, methods=args.methods)
                   for notion in notions}
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(table(results))
    if "indirect" in args.methods and "clip" in args.methods and "focus" in args.kinds:
        for notion in notions:
            focus = results[notion]["focus"]
            print(f"{notion} focus: indirect R@1 - clip R@1 = {focus['indirect']['recall_at_1'] - focus['clip']['recall_at_1']:+.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


def run_genecis(args) -> int:
    """One GeneCIS task with a configured backbone; the same table, the task in place of the notion."""
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    from indirect.datasets.genecis import load_genecis

    try:
        labelled = load_genecis(args.genecis_root, args.task, crops_dir=Path(args.cache_dir) / "genecis_crops")
        with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
            backbone = instantiate(compose("train_eval", overrides=[f"backbone={args.backbone}"]).backbone)
        results = {f"genecis {args.task}": {args.task.split("_")[0]: genecis_benchmark(
            labelled, backbone, args.cache_dir, args.methods, args.n_components, args.seed)}}
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(table(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
