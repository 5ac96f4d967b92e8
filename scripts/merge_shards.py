"""Merge the part files of a sharded extraction into the final HDF5 cache, and nothing else.

    python scripts/merge_shards.py dataset=cars196 backbone=vit_b32_openai embed.num_shards=8

Takes train_eval.py's overrides (dataset, backbone, paths and embed decide which cache). Exit
status 0: the cache is complete (merged now or before); 2: shard(s) missing, named in one line
with the command that embeds them. ``train_eval.py embed.merge_only=true`` merges the same way
and then runs the experiment.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hydra import compose, initialize_config_dir  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402


def main(overrides: list[str]) -> int:
    from indirect.embedding import embed_images
    from indirect.errors import UserError
    from indirect.experiment.inputs import build, load_dataset

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name="train_eval", overrides=overrides)
    try:
        labelled = load_dataset(cfg.dataset)
        backbone = build(cfg.backbone)
        options = {**OmegaConf.to_container(cfg.embed, resolve=True), "shard": None, "merge_only": True}
        result = embed_images(backbone, labelled, cfg.paths.cache_dir, **options)
    except UserError as error:
        print(f"error: {error}".splitlines()[0], file=sys.stderr)
        return 2
    print(f"{result.path}: {len(result.ids)} image embeddings, {len(result.skipped_ids)} unreadable image(s) skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
