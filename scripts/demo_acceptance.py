"""Does the demo world show InDiReCT's effect? P@1 of raw, random-transform and InDiReCT spaces.

    python scripts/demo_acceptance.py [--weights PATH] [--root DIR] [--out results.json]

On the shapes evaluation set, InDiReCT's P@1 (mean over seeds) must beat the raw demo
embedding's by at least --margin on color, shape and background, and the random transform
(U ~ N(0, 0.1), x -> normalize(U normalize(x))) must not. Exit status 1 when that fails.
P@1 is leave-one-out nearest-neighbour retrieval by cosine over all evaluation images.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from indirect.backbones.demo.backbone import DemoBackbone
from indirect.datasets.shapes import load_shapes
from indirect.embedding.images import open_rgb
from indirect.notions import lookup_notion

REPO = Path(__file__).resolve().parents[1]
REQUIRED = ("color", "shape", "background")
NOTIONS = ("color", "shape", "background", "size", "texture", "position")


def precision_at_1(embeddings: torch.Tensor, labels: np.ndarray) -> float:
    """Leave-one-out nearest neighbour by cosine: share of images whose neighbour shares the label."""
    unit = torch.nn.functional.normalize(embeddings.double(), dim=1)
    similarity = unit @ unit.T
    similarity.fill_diagonal_(-np.inf)
    neighbour = similarity.argmax(dim=1).numpy()
    return float(np.mean(labels[neighbour] == labels))


def random_transform(X: torch.Tensor, k: int, seed: int) -> torch.Tensor:
    U = torch.randn(k, X.shape[1], generator=torch.Generator().manual_seed(seed)) * 0.1
    return torch.nn.functional.normalize(torch.nn.functional.normalize(X, dim=1) @ U.T, dim=1)


def indirect_transform(texts: torch.Tensor, X: torch.Tensor, k: int, seed: int) -> torch.Tensor:
    try:
        from indirect.projectors import InDiReCT
    except ImportError:  # the package's export list is written in parallel; the class lives here
        from indirect.projectors.indirect import InDiReCT
    return InDiReCT(n_components=k, random_state=seed, device="cpu").fit(texts).transform(X)


def notion_prompts(notion: str, images) -> list[str]:
    """The notion's prompts as a run composes them: dataset.notions.<notion> of conf/dataset/shapes.yaml."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        dataset = compose("train_eval", overrides=["dataset=shapes"]).dataset
    return lookup_notion(dataset, notion, labelled=images).prompts(images)


def embed_images(backbone: DemoBackbone, paths, batch_size: int = 500) -> torch.Tensor:
    parts = []
    with torch.inference_mode():
        for start in range(0, len(paths), batch_size):
            batch = torch.stack([backbone.preprocess(open_rgb(p)) for p in paths[start:start + batch_size]])
            parts.append(backbone.image_features(batch).cpu())
    return torch.cat(parts)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=None, help="image-tower checkpoint (default: the shipped one)")
    parser.add_argument("--root", type=Path, default=Path(tempfile.gettempdir()) / "indirect_shapes_eval")
    parser.add_argument("--n-images", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0, help="evaluation-set seed")
    parser.add_argument("--k", type=int, default=128)
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--margin", type=float, default=0.10)
    parser.add_argument("--notions", nargs="+", default=list(NOTIONS))
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)

    started = time.perf_counter()
    images = load_shapes(args.root, n_images=args.n_images, seed=args.seed)
    backbone = DemoBackbone(weights=args.weights, device="cpu")
    X = embed_images(backbone, images.paths)
    print(f"{len(images)} images generated/read and embedded in {time.perf_counter() - started:.1f} s")

    results = {}
    for notion in args.notions:
        labels = images.label_column(notion).to_numpy()
        texts = backbone.text_features(notion_prompts(notion, images))
        seeds = range(args.repetitions)
        row = {"raw": precision_at_1(X, labels),
               "random_transform": [precision_at_1(random_transform(X, args.k, s), labels) for s in seeds],
               "indirect": [precision_at_1(indirect_transform(texts, X, args.k, s), labels) for s in seeds],
               "n_prompts": int(texts.shape[0]), "n_classes": int(len(set(labels)))}
        results[notion] = row

    print(f"\n| notion | classes | prompts | raw P@1 | random transform | InDiReCT | gain |")
    print("|---|---|---|---|---|---|---|")
    failures = []
    for notion, row in results.items():
        rnd, ind = np.mean(row["random_transform"]), np.mean(row["indirect"])
        gain = ind - row["raw"]
        print(f"| {notion} | {row['n_classes']} | {row['n_prompts']} | {row['raw']:.3f} | "
              f"{rnd:.3f} ± {np.std(row['random_transform']):.3f} | {ind:.3f} ± {np.std(row['indirect']):.3f} | "
              f"{gain:+.3f} |")
        if notion in REQUIRED and (gain < args.margin or rnd - row["raw"] >= args.margin):
            failures.append(notion)
    print(f"\ntotal {time.perf_counter() - started:.1f} s")
    summary = {"results": results, "weights": backbone.fingerprint()["weights"], "k": args.k,
               "n_images": args.n_images, "eval_seed": args.seed, "failures": failures}
    if args.out:
        args.out.write_text(json.dumps(summary, indent=1))
    missing = [n for n in REQUIRED if n not in results]
    if failures or missing:
        print(f"FAIL: InDiReCT does not beat raw by {args.margin:.2f} (or the random transform does) on "
              f"{', '.join(failures + missing)}")
    else:
        print(f"PASS: InDiReCT beats raw by >= {args.margin:.2f} on {', '.join(REQUIRED)}; the random transform does not")
    return summary


if __name__ == "__main__":
    sys.exit(1 if main()["failures"] else 0)
