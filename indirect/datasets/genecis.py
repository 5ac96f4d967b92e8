"""GeneCIS (Vaze, Carion, Misra, CVPR 2023): the four conditional-similarity tasks from the official files.

The annotation files are the official ``genecis/<task>.json`` of github.com/facebookresearch/genecis
(CC-BY-NC 4.0, not shipped here): a list of templates, each a dict with ``reference``, ``target``
(one item each), ``gallery`` (a list of items; 14 in the official files) and ``condition`` (text).

* object tasks (``focus_object``, ``change_object``): an item is ``{"val_image_id": int}``, the
  COCO 2017 validation image ``<coco_images>/<id:012d>.jpg`` (datasets/coco_dataset.py
  ``COCODataset.load_sample``); the whole photo is used.
* attribute tasks (``focus_attribute``, ``change_attribute``): an item is ``{"image_id": int,
  "instance_bbox": [x, y, w, h], ...}``, a Visual Genome 1.2 image ``<vg_images>/<id>.jpg`` cropped
  as datasets/vaw_dataset.py ``VAWDataset.load_cropped_image`` does (DILATION = 0.7, PAD_CROP = True):
  left = max(0, x - 0.7 w), top = max(0, y - 0.7 h), right = min(W, left + 1.7 w),
  bottom = min(H, top + 1.7 h) — note that right and bottom start from the *moved* left and top,
  so the box grows 0.7 w to the left and up but not to the right and down, as in the official
  code — then padded to a square with black, the crop centred (``expand2square``).

The evaluation scores the target first, then the gallery (``gallery_and_target = [target] +
gallery``, target rank 0). Official counts (counted in the official files for the object tasks;
the attribute files were not available to us, their counts are left to :func:`query_counts`):
focus_object 1,960 templates, 97 conditions; change_object 1,960 templates, 109 conditions, one
of whose galleries repeats its target (kept: :mod:`indirect.conditional.metrics` counts a copy of
the target as the target); every gallery holds 14 items, so 15 candidates per template.

Crops are written once as PNG (lossless, so the pixels are those the official code feeds its
transform) into ``crops_dir`` and then read like any image, so the embedding cache and
DataLoader workers need nothing special; an item's id names its image and box. A crop is cut
again when its source changed (``crops.json`` keeps each source's path, size and times).
"""
from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path

import pandas as pd
from PIL import Image

from indirect.conditional.queries import Query, check_queries
from indirect.datasets.base import DatasetError, LabelledImages, require_root

NAME = "genecis"
SOURCE = "https://github.com/facebookresearch/genecis (annotations), COCO val2017, Visual Genome 1.2"
TASKS = ("focus_attribute", "change_attribute", "focus_object", "change_object")
DILATION = 0.7
OFFICIAL_COUNTS = {"focus_object": 1960, "change_object": 1960}
GALLERY_SIZE = 14
LAYOUT = ("genecis/<task>.json (the official annotation files), val2017/ (COCO 2017 validation images) and "
          "VG_100K_all/ (Visual Genome 1.2 images)")

log = logging.getLogger(__name__)


def dilated_box(bbox, image_size: tuple[int, int], dilation: float = DILATION) -> tuple[float, float, float, float]:
    """(left, top, right, bottom) exactly as vaw_dataset.py computes it (see the module docstring)."""
    x, y, width, height = (float(v) for v in bbox[:4])
    image_width, image_height = image_size
    left, top = max(0.0, x - dilation * width), max(0.0, y - dilation * height)
    right, bottom = min(image_width, left + (1 + dilation) * width), min(image_height, top + (1 + dilation) * height)
    return left, top, right, bottom


def expand_to_square(image: Image.Image) -> Image.Image:
    """vaw_dataset.py ``expand2square``: pad the shorter side with black, the image centred."""
    width, height = image.size
    if width == height:
        return image
    side = max(width, height)
    background = (0,) if image.mode == "L" else (0, 0, 0)
    square = Image.new(image.mode, (side, side), background)
    square.paste(image, (0, (side - height) // 2) if width > height else ((side - width) // 2, 0))
    return square


class BoxOutsideImage(ValueError):
    """A box that does not overlap its image, or whose crop has no pixel."""


def crop_item(path: Path, bbox, dilation: float = DILATION) -> Image.Image:
    """The official attribute-task crop of one image: dilated box, then padded to a square.
    A box outside the image (or whose crop rounds to no pixel) raises :class:`BoxOutsideImage`:
    the official code would crash on it, or crop a strip of the image that is not the object."""
    with Image.open(path) as image:
        x, y, width, height = (float(v) for v in bbox[:4])
        left, top, right, bottom = dilated_box(bbox, image.size, dilation)
        if (x >= image.width or y >= image.height or x + width <= 0 or y + height <= 0
                or round(right) <= round(left) or round(bottom) <= round(top)):
            raise BoxOutsideImage(f"instance_bbox {list(bbox)} is outside its {image.width}x{image.height} image "
                                  "(or its crop has no pixel)")
        return expand_to_square(image.crop((left, top, right, bottom)))


def load_genecis(root, task: str = "focus_attribute", annotations=None, coco_images=None, vg_images=None,
                 crops_dir=None) -> LabelledImages:
    """The items (images or crops) of one GeneCIS task, with its queries in ``LabelledImages.queries``.

    ``annotations`` defaults to ``<root>/genecis/<task>.json`` (``<root>/<task>.json`` also found),
    ``coco_images`` to ``<root>/val2017``, ``vg_images`` to ``<root>/VG_100K_all``, ``crops_dir``
    to ``<root>/crops`` (attribute tasks only). :func:`query_counts` gives templates, items,
    conditions, gallery sizes and galleries that repeat their target.
    """
    if task not in TASKS:
        raise DatasetError(f"dataset.task={task!r} is not a GeneCIS task; use one of {', '.join(TASKS)}")
    root = require_root(NAME, root, LAYOUT, SOURCE)
    templates, source = _read_templates(root, task, annotations)
    objects = task.endswith("_object")
    image_dir = Path(coco_images or root / "val2017") if objects else Path(vg_images or root / "VG_100K_all")
    items: dict[str, dict] = {}
    queries = []
    for number, template in enumerate(templates):
        try:
            reference, target = (_item(template[key], objects, items) for key in ("reference", "target"))
            gallery = tuple(_item(entry, objects, items) for entry in template["gallery"])
            condition = template["condition"]
            if not isinstance(condition, str) or not condition.strip():
                raise ValueError(f"condition {condition!r} is not a non-empty text")
        except (KeyError, TypeError, ValueError) as error:
            raise DatasetError(f"{source}: template {number} is not a GeneCIS template ({type(error).__name__}: {error}); "
                               "each needs reference, target, gallery (a list) and condition") from None
        if not gallery:
            raise DatasetError(f"{source}: template {number} has an empty gallery")
        queries.append(Query(reference, condition, target, gallery, task.split("_")[0], task.split("_")[1]))
    check_queries(queries, source=f"{source} (query = template)")
    sources = {item: image_dir / _file_name(entry, objects) for item, entry in items.items()}
    missing = sorted({str(p) for p in sources.values() if not p.is_file()})
    if missing:
        raise DatasetError(f"dataset '{NAME}' task {task}: {len(missing)} image(s) named in {source} are missing, "
                           f"e.g. {missing[0]}; set dataset.{'coco_images' if objects else 'vg_images'}=<folder holding them>")
    ids = list(items)
    if objects:
        paths = [sources[i] for i in ids]
    else:
        paths = _materialise_crops(items, sources, Path(crops_dir or root / "crops"), source)
    labels = pd.DataFrame({"source_image": [str(sources[i].name) for i in ids]}, index=pd.Index(ids, name="id"))
    labelled = LabelledImages(NAME, root, ids, paths, labels, queries=queries)
    log.info("genecis %s from %s: %s", task, source, query_counts(labelled))
    return labelled


def query_counts(labelled: LabelledImages) -> dict:
    """What the official counts are stated in: templates, items, conditions, gallery sizes and
    galleries that repeat their target."""
    queries = labelled.queries
    return {"templates": len(queries), "items": len(labelled.ids), "conditions": len({q.condition for q in queries}),
            "gallery_sizes": sorted({len(q.gallery) for q in queries}),
            "repeated_targets": sum(q.target in q.gallery for q in queries)}


def _read_templates(root: Path, task: str, annotations) -> tuple[list, Path]:
    candidates = [Path(annotations).expanduser()] if annotations else [root / "genecis" / f"{task}.json", root / f"{task}.json"]
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        raise DatasetError(f"dataset '{NAME}': {candidates[0]} not found; expected {LAYOUT} under dataset.root "
                           f"(or set dataset.annotations=<file>; download: {SOURCE})")
    try:
        templates = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DatasetError(f"{path} is not JSON ({error}); use the official genecis/{task}.json") from None
    if not isinstance(templates, list) or not templates:
        raise DatasetError(f"{path} holds no list of templates; use the official genecis/{task}.json")
    return templates, path


def _exact(value: float) -> str:
    """A box coordinate in an id: every digit it has (10 -> "10", 1000.25 -> "1000.25"); the
    six significant digits of ``{:g}`` made two boxes of one photo a single item."""
    return str(int(value)) if value.is_integer() else repr(value)


def _image_id(entry: dict, key: str) -> int:
    """An image id as the official files write it, a whole number (or its digits): 1.7 or true is
    refused, not read as image 1."""
    value = entry[key]
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).strip().isdigit():
        raise ValueError(f"{key} {value!r} is not a whole number")
    return int(value)


def _item(entry: dict, objects: bool, items: dict) -> str:
    if objects:
        item = f"{_image_id(entry, 'val_image_id'):012d}"
    else:
        image_id = _image_id(entry, "image_id")
        if isinstance(entry["instance_bbox"], (str, bytes)) or any(isinstance(v, bool) for v in entry["instance_bbox"]):
            raise ValueError(f"instance_bbox {entry['instance_bbox']!r} is not a list of four numbers")
        bbox = [float(v) for v in entry["instance_bbox"]]
        if len(bbox) != 4 or not all(math.isfinite(v) for v in bbox) or bbox[2] <= 0 or bbox[3] <= 0:
            raise ValueError(f"instance_bbox {entry['instance_bbox']} is not [x, y, width > 0, height > 0] of finite numbers")
        item = f"{image_id}_" + "_".join(_exact(v) for v in bbox)
    items.setdefault(item, entry)
    return item


def _file_name(entry: dict, objects: bool) -> str:
    return f"{int(entry['val_image_id']):012d}.jpg" if objects else f"{int(entry['image_id'])}.jpg"


def _source_identity(source: Path, box) -> list:
    """What a crop was cut from: the source's real path, size, mtime and ctime, and the box."""
    try:
        st = os.stat(source)
    except OSError:
        return [str(source), -1, -1, -1, box]
    return [os.path.realpath(source), st.st_size, st.st_mtime_ns, st.st_ctime_ns, box]


def _materialise_crops(items: dict, sources: dict, crops_dir: Path, annotations: Path) -> list[Path]:
    """Each item's crop as ``<crops_dir>/<item>.png``, cut again when its source image (or the
    folder it is read from, or its box) changed since: ``crops.json`` records what each crop was
    cut from, so a replaced source never leaves its old crop (and the old crop's embedding) in use."""
    crops_dir.mkdir(parents=True, exist_ok=True)
    manifest_path = crops_dir / "crops.json"
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        manifest = {}
    paths, changed = [], False
    for item, entry in items.items():
        path = crops_dir / f"{item}.png"
        identity = _source_identity(sources[item], entry["instance_bbox"])
        if not path.is_file() or manifest.get(item) != json.loads(json.dumps(identity)):
            try:
                crop = crop_item(sources[item], entry["instance_bbox"])
            except OSError as error:
                raise DatasetError(f"{sources[item]} cannot be read ({error}); replace the file") from None
            except BoxOutsideImage as error:
                raise DatasetError(f"{annotations}: image {sources[item]}: {error}; fix that box or drop the "
                                   "templates that name it") from None
            if crop.mode not in ("L", "RGB", "RGBA", "P", "I", "1"):
                crop = crop.convert("RGB")
            temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp.png")
            crop.save(temporary)
            os.replace(temporary, path)
            manifest[item], changed = identity, True
        paths.append(path)
    if changed:
        temporary = manifest_path.with_name(f".{manifest_path.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(manifest))
        os.replace(temporary, manifest_path)
    return paths
