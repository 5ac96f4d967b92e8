"""Cars196 (Stanford Cars): the second half of the 196 classes, with labels read off the class names.

Model, make and year come from the class name, the body type from the table of all 196 class
names (:mod:`indirect.datasets.car_names`), so every image has one. Colour is not part of the
official data: the paper's authors annotated it in their own CSV, which is used when present
(its ``type`` column, when it has one, overrides the table for the images it covers); without it
the ``color`` column is reported missing with the exact file and columns needed
(``LabelledImages.missing_columns``).
"""
from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from indirect.datasets.base import DatasetError, LabelledImages, require_root
from indirect.datasets.car_names import BODY_TYPES, TYPE_TABLE, parse_car_name
from indirect.datasets.cars196_csv import by_image, color_hint, match_rows, read_authors_table, unmatched_note
from indirect.datasets.parsing import integer, loadmat

log = logging.getLogger(__name__)

NAME = "cars196"
SOURCE = "https://ai.stanford.edu/~jkrause/cars/car_dataset.html"
LAYOUT = ("car_ims/ + cars_annos.mat (full release) or devkit/cars_meta.mat, devkit/cars_train_annos.mat, "
          "cars_test_annos_withlabels.mat, cars_train/, cars_test/ (devkit release)")


def load_cars196(root, color_csv=None) -> LabelledImages:
    """Evaluation images of Cars196 (classes 99..196 of 196: 8,131 images in the full release).

    Layouts tolerated: the full release (``cars_annos.mat`` + ``car_ims/``) and the devkit
    release (``devkit/cars_meta.mat``, ``devkit/cars_train_annos.mat``,
    ``cars_test_annos_withlabels.mat`` at the root or in ``devkit/`` (check), images in
    ``cars_train/`` and ``cars_test/``). The ``test`` field of the full release is the
    classification split and is ignored: the DML split is by class. Ids are image paths relative
    to ``root`` (``car_ims/008055.jpg``), so they do not depend on the order of the .mat rows.

    Label columns: ``class_id``, ``class_name`` (the model notion), ``manufacturer``, ``car_model``,
    ``type`` (body type, from ``car_types.csv``; the authors' CSV's ``type`` where it has one),
    ``year``, and ``color`` when ``color_csv`` (default ``<root>/Cars196.csv``) exists. The CSV's
    ``img_name`` is the full release's image number as in the authors' file (``8055``:
    ``car_ims/008055.jpg``), a relative path or a file name (:mod:`indirect.datasets.cars196_csv`);
    images the CSV does not cover get no colour and keep the table's type, rows that match no image
    are counted in a warning, and a CSV that colours no evaluation image leaves ``color`` in
    ``missing_columns`` with that warning as its reason. The images per type
    are logged; images of a class without a type are counted in ``unlabelled["type"]`` and named
    in a warning.
    """
    root = require_root(NAME, root, LAYOUT, SOURCE)
    if (root / "cars_annos.mat").exists():
        class_names, images = _full_release(root)
    elif (root / "devkit" / "cars_meta.mat").exists():
        class_names, images = _devkit_release(root)
    else:
        raise DatasetError(f"dataset '{NAME}': neither {root / 'cars_annos.mat'} nor {root / 'devkit' / 'cars_meta.mat'} "
                           f"found; expected {LAYOUT} (download: {SOURCE})")
    _check_classes(images, len(class_names), root)
    all_ids = sorted(path for path, _ in images)
    first_eval_class = len(class_names) // 2 + 1
    images = sorted((path, label) for path, label in images if label >= first_eval_class)
    ids = [path for path, _ in images]
    rows = []
    for _, label in images:
        car = parse_car_name(class_names[label - 1])
        rows.append({"class_id": label, "class_name": car.class_name, "manufacturer": car.manufacturer,
                     "car_model": car.model, "type": car.body_type, "year": car.year})
    labels = pd.DataFrame(rows, index=pd.Index(ids, name="id"))
    missing_columns, unlabelled = {}, {}
    csv_path = Path(color_csv).expanduser() if color_csv else root / "Cars196.csv"
    if color_csv and not csv_path.is_absolute() and not csv_path.exists():
        csv_path = root / csv_path
    if csv_path.exists():
        missing_columns = _apply_authors_csv(labels, csv_path, all_ids, unlabelled)
    elif color_csv:
        raise DatasetError(f"dataset '{NAME}': color_csv {csv_path} does not exist; {color_hint(csv_path)}")
    else:
        missing_columns = {"color": f"dataset '{NAME}': label 'color' is not in the official release; "
                                    f"{color_hint(csv_path)}"}
    untyped = _log_types(labels)
    if untyped:
        unlabelled["type"] = untyped
    return LabelledImages(NAME, root, ids, [(root / path).resolve() for path in ids], labels,
                          missing_columns=missing_columns, unlabelled=unlabelled)


_CANONICAL_TYPE = {body_type.lower(): body_type for body_type in BODY_TYPES}


def _canonical_type(value) -> str | None:
    """The table's spelling of a type the CSV spells in another case (``suv`` -> ``SUV``); others as they are."""
    return _CANONICAL_TYPE.get(value.lower(), value) if isinstance(value, str) else None


def images_per_type(labels: pd.DataFrame) -> dict[str, int]:
    """Images per body type, the most frequent first."""
    return dict(sorted(Counter(labels["type"].dropna()).items(), key=lambda item: (-item[1], item[0])))


def _log_types(labels: pd.DataFrame) -> int:
    """Log the images per body type; name the classes without one (not dropped in silence) and
    return how many images they hold."""
    log.info("%s: images per body type: %s", NAME, ", ".join(f"{t} {n}" for t, n in images_per_type(labels).items()))
    untyped = sorted(set(labels.loc[labels["type"].isna(), "class_name"]))
    if untyped:
        log.warning("%s: %d image(s) of %d class(es) have no body type (not in %s, no body-type word): %s; the type "
                    "notion leaves them out", NAME, int(labels["type"].isna().sum()), len(untyped), TYPE_TABLE,
                    "; ".join(untyped))
    return int(labels["type"].isna().sum())


def _apply_authors_csv(labels: pd.DataFrame, csv_path: Path, all_ids: list[str], unlabelled: dict) -> dict:
    """Add the CSV's colours (and its types over the table's) to ``labels``; returns the missing columns."""
    table = read_authors_table(csv_path)
    targets = match_rows(table, all_ids)
    note = unmatched_note(csv_path, table, targets)
    ids = list(labels.index)
    colors = by_image(table, targets, "color", ids, csv_path)
    if not any(color is not None for color in colors):
        reason = note or f"dataset '{NAME}': {csv_path} has no colour for any evaluation image"
        log.warning("%s", reason)
        return {"color": f"{reason}; {color_hint(csv_path)}"}
    if note:
        log.warning("%s", note)
    labels["color"] = colors
    unlabelled["color"] = int(labels["color"].isna().sum())
    if "type" in table.columns:
        csv_types = pd.Series(by_image(table, targets, "type", ids, csv_path), index=labels.index, dtype=object)
        csv_types = csv_types.map(_canonical_type)
        log.info("%s: body type of %d image(s) from %s", NAME, int(csv_types.notna().sum()), csv_path)
        labels["type"] = csv_types.where(csv_types.notna(), labels["type"])
    return {}


def _check_classes(images: list[tuple[str, int]], n_classes: int, root: Path) -> None:
    bad = next(((path, label) for path, label in images if not 1 <= label <= n_classes), None)
    if bad:
        raise DatasetError(f"dataset '{NAME}': image {bad[0]} has class {bad[1]} but the class_names of {root} list "
                           f"{n_classes} classes (1..{n_classes}); the annotation files come from different releases: "
                           f"re-extract them from one download ({SOURCE})")


def _full_release(root: Path) -> tuple[list[str], list[tuple[str, int]]]:
    if not (root / "car_ims").is_dir():
        raise DatasetError(f"dataset '{NAME}': {root / 'car_ims'} not found next to cars_annos.mat; expected {LAYOUT}")
    path = root / "cars_annos.mat"
    mat = _loadmat(path, ("annotations", "class_names"))
    rows = _struct_rows(mat["annotations"], path, ("relative_im_path", "class"))
    images = [(_relative(str(row["relative_im_path"])), _class(row, path)) for row in rows]
    return _strings(mat["class_names"]), images


def _devkit_release(root: Path) -> tuple[list[str], list[tuple[str, int]]]:
    class_names = _strings(_loadmat(root / "devkit" / "cars_meta.mat", ("class_names",))["class_names"])
    images = []
    for folder, annotation_file in (("cars_train", "cars_train_annos.mat"), ("cars_test", "cars_test_annos_withlabels.mat")):
        candidates = [root / "devkit" / annotation_file, root / annotation_file]
        found = next((path for path in candidates if path.exists()), None)
        if found is None:
            raise DatasetError(f"dataset '{NAME}': {annotation_file} not found in {root / 'devkit'} or {root}; "
                               f"expected {LAYOUT} (download: {SOURCE})")
        if not (root / folder).is_dir():
            raise DatasetError(f"dataset '{NAME}': image folder {root / folder} not found; expected {LAYOUT}")
        rows = _struct_rows(_loadmat(found, ("annotations",))["annotations"], found, ("fname", "class"))
        images += [(f"{folder}/{row['fname']}", _class(row, found)) for row in rows]
    return class_names, images


def _loadmat(path: Path, keys: tuple[str, ...]) -> dict:
    mat = loadmat(path, NAME, f"re-extract it from the official archive ({SOURCE}); expected {LAYOUT}")
    missing = [key for key in keys if key not in mat]
    if missing:
        raise DatasetError(f"dataset '{NAME}': {path} lacks variable(s) {', '.join(missing)}; expected {LAYOUT}")
    return mat


def _struct_rows(struct: np.ndarray, path: Path, needed: tuple[str, ...]) -> list[dict]:
    """A MATLAB struct array as plain dicts of scalars (loadmat wraps every field in 2-D arrays)."""
    fields = struct.dtype.names or ()
    missing = [field for field in needed if field not in fields]
    if missing:
        raise DatasetError(f"dataset '{NAME}': the annotations struct of {path} lacks field(s) {', '.join(missing)} "
                           f"(it has {', '.join(fields) or 'none'}); re-extract it from the official archive ({SOURCE})")
    return [{field: _scalar(record[field]) for field in fields} for record in struct.ravel()]


def _class(row: dict, path: Path) -> int:
    return integer(row["class"], NAME, path, None, f"the class of {row.get('relative_im_path', row.get('fname'))}",
                   f"re-extract it from the official archive ({SOURCE})")


def _scalar(value):
    value = np.asarray(value)
    while value.dtype == object and value.size == 1:
        value = np.asarray(value.item())
    return value.squeeze().item() if value.size == 1 else value.squeeze()


def _strings(array: np.ndarray) -> list[str]:
    return [str(_scalar(item)).strip() for item in np.asarray(array).ravel()]


def _relative(path: str) -> str:
    """``./car_ims\\000001.jpg`` -> ``car_ims/000001.jpg``: one spelling per image, whatever wrote the .mat."""
    return PurePosixPath(path.replace("\\", "/")).as_posix()
