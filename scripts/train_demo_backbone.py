"""Train the demo backbone's image tower and write its weights (seeded, CPU, a few minutes).

    python scripts/train_demo_backbone.py --steps 600 --out indirect/backbones/demo/weights/image_tower.pt

The shipped weights in indirect/backbones/demo/weights/ were made by this script with its defaults.
"""
from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import torch

from indirect.backbones.demo.training import TrainingConfig, checkpoint, train_image_tower

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "indirect" / "demo" / "weights" / "image_tower.pt"


def main(argv: list[str] | None = None) -> dict:
    defaults = TrainingConfig()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=defaults.steps)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--n-train-images", type=int, default=defaults.n_train_images)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--lr", type=float, default=defaults.lr)
    parser.add_argument("--noise", type=float, default=defaults.noise,
                        help="Gaussian-noise augmentation, std up to this fraction of the input range")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    config = TrainingConfig(steps=args.steps, n_train_images=args.n_train_images, seed=args.seed,
                            batch_size=args.batch_size, lr=args.lr, noise=args.noise)
    result = train_image_tower(config)
    state = checkpoint(result, config)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, args.out)
    digest = hashlib.sha256(args.out.read_bytes()).hexdigest()
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB, sha256 {digest[:12]})")
    return state


if __name__ == "__main__":
    main()
