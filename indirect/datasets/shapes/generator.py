"""The ``shapes`` demo dataset: generated on first use, then read back from disk.

``load_shapes`` renders the evaluation images into ``root`` (PNGs, ``labels.csv``, the object
masks in ``masks.npz``, and ``manifest.json`` with the generation options, written last) and
reuses them whenever the manifest matches the requested options and every file is there, so
the embedding cache sees the same ids and paths on every run. Different options regenerate.
"""
from __future__ import annotations

import functools
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
from filelock import FileLock
from PIL import Image

from indirect.datasets.base import DatasetError, LabelledImages
from indirect.datasets.shapes.factors import FACTORS
from indirect.datasets.shapes.render import render_shapes

GENERATOR_VERSION = 2
NAME = "shapes"
IMAGE_DIR = "images"
LABELS_FILE = "labels.csv"
MASKS_FILE = "masks.npz"
MANIFEST_FILE = "manifest.json"


def image_id(index: int) -> str:
    return f"{NAME}_{index:06d}"


def load_shapes(root, n_images: int = 2000, seed: int = 0, image_size: int = 64) -> LabelledImages:
    """The demo evaluation set: ``n_images`` images from the generator seeded with ``seed``.

    Label columns: one per factor (shape, color, background, size, texture, position,
    lighting; string values) plus ``rotation`` (degrees). ``object_mask`` reads each image's object mask.
    """
    if n_images < 1 or image_size < 16:
        raise DatasetError(f"dataset '{NAME}': n_images={n_images}, image_size={image_size}; "
                           "need n_images >= 1 and image_size >= 16")
    root = Path(str(root)).expanduser().resolve()
    root.mkdir(parents=True, exist_ok=True)
    options = {"generator_version": GENERATOR_VERSION, "n_images": int(n_images), "seed": int(seed),
               "image_size": int(image_size)}
    with FileLock(str(root / ".generate.lock")):
        if not _complete(root, options):
            _generate(root, options)
    labels = pd.read_csv(root / LABELS_FILE, index_col="id", dtype={f: str for f in FACTORS})
    ids = list(labels.index)
    paths = [root / IMAGE_DIR / f"{i}.png" for i in ids]
    return LabelledImages(NAME, root, ids, paths, labels, object_mask=functools.partial(object_mask, root))


def object_mask(root, image_id: str) -> np.ndarray:
    """(H, W) bool mask of the object in image ``image_id`` of the set stored in ``root``."""
    path = Path(str(root)).expanduser() / MASKS_FILE
    if not path.is_file():
        raise DatasetError(f"{path} not found; run indirect.datasets.shapes.load_shapes('{root}') first")
    ids, masks = _read_masks(str(path), path.stat().st_mtime_ns)
    if image_id not in ids:
        raise DatasetError(f"{path}: no image '{image_id}' (ids run from {_id_range(ids)})")
    return masks[ids[image_id]]


def _id_range(ids: dict) -> str:
    names = sorted(ids)
    return f"{names[0]} to {names[-1]}" if names else "nothing"


@functools.lru_cache(maxsize=4)
def _read_masks(path: str, mtime_ns: int):
    with np.load(path) as stored:
        ids = {str(i): row for row, i in enumerate(stored["ids"])}
        masks = np.unpackbits(stored["masks"], axis=-1, count=int(stored["width"])).astype(bool)
    return ids, masks


def _complete(root: Path, options: dict) -> bool:
    manifest = root / MANIFEST_FILE
    if not manifest.is_file():
        return False
    try:
        if json.loads(manifest.read_text()).get("options") != options:
            return False
    except json.JSONDecodeError:
        return False
    if not ((root / LABELS_FILE).is_file() and (root / MASKS_FILE).is_file()):
        return False
    return all((root / IMAGE_DIR / f"{image_id(i)}.png").is_file() for i in range(options["n_images"]))


def _generate(root: Path, options: dict) -> None:
    started = time.perf_counter()
    (root / MANIFEST_FILE).unlink(missing_ok=True)
    image_dir = root / IMAGE_DIR
    image_dir.mkdir(exist_ok=True)
    for stale in image_dir.glob(f"{NAME}_*.png"):
        stale.unlink()
    world = render_shapes(options["n_images"], options["seed"], options["image_size"])
    ids = [image_id(i) for i in range(options["n_images"])]
    for name, pixels in zip(ids, world.images):
        Image.fromarray(pixels).save(image_dir / f"{name}.png", compress_level=1)
    world.labels.insert(0, "id", ids)
    world.labels.to_csv(root / LABELS_FILE, index=False)
    np.savez_compressed(root / MASKS_FILE, ids=np.asarray(ids), width=options["image_size"],
                        masks=np.packbits(world.masks, axis=-1))
    manifest = {"options": options, "files": {"images": f"{IMAGE_DIR}/{NAME}_*.png",
                                              "labels": LABELS_FILE, "masks": MASKS_FILE},
                "factors": FACTORS, "seconds": round(time.perf_counter() - started, 2)}
    (root / MANIFEST_FILE).write_text(json.dumps(manifest, indent=1))
