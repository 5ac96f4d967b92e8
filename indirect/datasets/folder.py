"""Your own images: any folder tree, with or without labels.

Labels are optional because the main use of a notion space on one's own photos (search,
galleries) needs none; when they exist (class sub-folders, or a CSV) they add metrics. Ids are
paths relative to ``root``, so they survive re-ordering and name the file the user sees.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import pandas as pd

from indirect.datasets.base import LabelledImages, require_root
from indirect.errors import DatasetError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
LAYOUT = "images in any folder tree (labels optional: class sub-folders <root>/<label>/<image> or a CSV)"
LABEL_MODES = ("auto", "folders", "none")
NA_SPELLINGS = {"", "nan", "na", "n/a", "null", "<na>"}  # pandas' own, less "None" (a plausible class name)


def load_folder(root, csv: str | None = None, path_column: str = "path", labels: str = "auto") -> LabelledImages:
    """Every image under ``root`` (recursively; hidden files and folders and non-images skipped
    with a logged count), or, when ``csv`` is given, the images its ``path_column`` lists (relative
    to ``root`` or absolute) with its other columns as labels.

    Without a CSV, ``labels`` says where labels come from: ``auto`` takes the class sub-folder as
    the ``label`` column when every image sits at ``<root>/<label>/<image>`` and gives no labels
    otherwise; ``folders`` takes the first folder below ``root`` whatever the depth; ``none``
    never labels."""
    if labels not in LABEL_MODES:
        raise DatasetError(f"dataset 'folder': labels={labels!r}; use one of {', '.join(LABEL_MODES)}")
    root = require_root("folder", root, LAYOUT, "your own images")
    if not root.is_dir():
        raise DatasetError(f"dataset 'folder': {root} is not a folder; set dataset.root=<folder of images>")
    if csv is None:
        return _from_tree(root, labels)
    return _from_csv(root, Path(csv) if Path(csv).is_absolute() else root / csv, path_column)


def image_files(root: Path) -> list[Path]:
    """Image files below ``root`` in a stable order, skipping hidden entries and non-images; a
    folder reached twice through links (a loop such as ``up -> ..``) is listed once."""
    found, hidden, other, seen, again = [], 0, 0, {os.path.realpath(root)}, 0
    for folder, dirs, files in os.walk(root, followlinks=True):
        hidden += sum(d.startswith(".") for d in dirs)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        kept = []
        for name in dirs:                                # a linked folder met before (a loop: up -> ..) is left out
            real = os.path.realpath(os.path.join(folder, name))
            again += real in seen
            kept += [] if real in seen else [name]
            seen.add(real)
        dirs[:] = kept
        for name in files:
            if name.startswith("."):
                hidden += 1
            elif Path(name).suffix.lower() in IMAGE_SUFFIXES:
                found.append(Path(folder) / name)
            else:
                other += 1
    if hidden or other:
        log.info("dataset 'folder': %d image(s) under %s; skipped %d hidden file(s)/folder(s) and %d non-image file(s)",
                 len(found), root, hidden, other)
    if again:
        log.warning("dataset 'folder': %d linked folder(s) under %s lead to a folder already listed; each image is "
                    "listed once", again, root)
    found = sorted(found, key=lambda p: p.relative_to(root).as_posix())
    files, real_seen = [], {}
    for path in found:                                   # a linked file (dog/c.jpg -> ../cat/a.jpg) is its target again
        real = os.path.realpath(path)
        if real in real_seen:
            continue
        real_seen[real] = path
        files.append(path)
    if len(files) < len(found):
        log.warning("dataset 'folder': %d linked image file(s) under %s are another listed image (e.g. %s); each image "
                    "is listed once, under its first path", len(found) - len(files), root,
                    next(p.relative_to(root).as_posix() for p in found if p not in set(files)))
    return files


def _from_tree(root: Path, mode: str) -> LabelledImages:
    paths = image_files(root)
    if not paths:
        raise DatasetError(f"dataset 'folder': no images ({', '.join(sorted(IMAGE_SUFFIXES))}) found under {root}; "
                           "set dataset.root=<folder of images>")
    ids = [p.relative_to(root).as_posix() for p in paths]
    depths = {len(Path(i).parts) for i in ids}
    if mode == "folders" and 1 in depths:
        raise DatasetError(f"dataset 'folder': dataset.labels=folders but {sum(len(Path(i).parts) == 1 for i in ids)} "
                           f"image(s) sit directly in {root}, outside any class folder; move them into class folders "
                           "<root>/<label>/<image>, or set dataset.labels=none to search them unlabelled with scripts/search.py")
    labelled_by_folder = mode == "folders" or (mode == "auto" and depths == {2})
    if labelled_by_folder:
        table = pd.DataFrame({"label": [Path(i).parts[0] for i in ids]}, index=ids)
        return LabelledImages("folder", root, ids, paths, table)
    reason = ("dataset.labels=none" if mode == "none" else
              "its images are not all in class sub-folders <root>/<label>/<image>")
    note = (f"dataset 'folder' at {root} has no labels ({reason}); search it with scripts/search.py, or give "
            "labels as class sub-folders or dataset.csv=<file with a path column and label columns>")
    return LabelledImages("folder", root, ids, paths, pd.DataFrame(index=ids), missing_columns={"label": note})


def _from_csv(root: Path, csv_path: Path, path_column: str) -> LabelledImages:
    if not csv_path.is_file():
        raise DatasetError(f"dataset 'folder': CSV {csv_path} not found; set dataset.csv=<file> or leave it null for a folder tree")
    try:
        table = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise DatasetError(f"dataset 'folder': {csv_path} cannot be read as a CSV ({str(error).strip().splitlines()[0]}); "
                           "fix the file (a quote left open?) or set dataset.csv=<another file>") from None
    if path_column not in table.columns:
        raise DatasetError(
            f"dataset 'folder': {csv_path} has no column '{path_column}' (columns: {', '.join(table.columns)}); "
            "set dataset.path_column=<column>"
        )
    raw = table.pop(path_column).tolist()
    if not raw:
        raise DatasetError(f"dataset 'folder': {csv_path} lists no images (a header, no rows); add one row per image")
    paths = [Path(p) if Path(p).is_absolute() else root / p for p in raw]
    ids = [Path(p).as_posix() for p in raw]
    real = pd.Series([os.path.realpath(p) for p in paths])   # one image, however spelled (./a.jpg, /abs/a.jpg)
    again = real[real.duplicated()]
    if len(again):
        first, second = ids[int(real[real == again.iloc[0]].index[0])], ids[int(again.index[0])]
        how = f"more than once, e.g. {first}" if first == second else f"twice under two paths, e.g. {first} and {second}"
        raise DatasetError(f"dataset 'folder': {csv_path} lists {len(again)} image(s) {how}; keep one row per image")
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise DatasetError(f"dataset 'folder': {len(missing)} image(s) listed in {csv_path} do not exist, e.g. {missing[0]}; "
                           f"paths in column '{path_column}' are relative to dataset.root ({root}) or absolute: fix "
                           "them or drop those rows")
    table = table.apply(lambda column: column.str.strip())   # "a.jpg, cat" is class "cat", not " cat"
    table = _missing_as_na(table, csv_path)
    table.index = ids
    columns = ", ".join(table.columns) or "(none)"
    missing = {"label": f"dataset 'folder': {csv_path} has no label column 'label'; its label columns: "
                        f"{columns}; pass notion=custom notion.name=<column>"}
    return LabelledImages("folder", root, ids, paths, table, missing_columns=missing)


def _missing_as_na(table: pd.DataFrame, csv_path: Path) -> pd.DataFrame:
    """Empty cells and the usual spellings of a missing value are missing labels, not a class
    called 'NaN'; how many there are per column is logged as a warning."""
    missing_mask = table.apply(lambda column: column.str.strip().str.lower().isin(NA_SPELLINGS))
    counts = {column: int(n) for column, n in missing_mask.sum().items() if n}
    if counts:
        log.warning("dataset 'folder': %s has missing labels (%s); those images are left out of that notion's evaluation",
                    csv_path, ", ".join(f"{column}: {n}" for column, n in counts.items()))
    return table.mask(missing_mask)

