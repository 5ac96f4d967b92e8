"""Your own labelled images: class sub-folders, or a CSV with a path column and label columns."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from indirect.datasets.base import DatasetError, LabelledImages, require_root

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
LAYOUT = "class sub-folders <root>/<label>/<image> or a CSV with a path column"


def load_folder(root, csv: str | None = None, path_column: str = "path") -> LabelledImages:
    """Read ``root/<label>/<image>`` (one label column, ``label``) or, when ``csv`` is given, a CSV
    whose ``path_column`` holds image paths (relative to ``root`` or absolute) and whose other
    columns are labels. Ids are paths relative to ``root``, so they survive re-ordering."""
    root = require_root("folder", root, LAYOUT, "your own images")
    if csv is None:
        return _from_subfolders(root)
    return _from_csv(root, Path(csv) if Path(csv).is_absolute() else root / csv, path_column)


def _from_subfolders(root: Path) -> LabelledImages:
    paths = sorted(p for p in root.glob("*/*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise DatasetError(f"dataset 'folder': no images found in {root}/<label>/; expected {LAYOUT}")
    ids = [p.relative_to(root).as_posix() for p in paths]
    labels = pd.DataFrame({"label": [p.parent.name for p in paths]}, index=ids)
    return LabelledImages("folder", root, ids, paths, labels)


def _from_csv(root: Path, csv_path: Path, path_column: str) -> LabelledImages:
    if not csv_path.is_file():
        raise DatasetError(f"dataset 'folder': CSV {csv_path} not found; set dataset.csv=<file> or leave it null for class sub-folders")
    table = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    if path_column not in table.columns:
        raise DatasetError(
            f"dataset 'folder': {csv_path} has no column '{path_column}' (columns: {', '.join(table.columns)}); "
            "set dataset.path_column=<column>"
        )
    raw = table.pop(path_column).tolist()
    paths = [Path(p) if Path(p).is_absolute() else root / p for p in raw]
    ids = [Path(p).as_posix() for p in raw]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise DatasetError(f"dataset 'folder': {len(missing)} image(s) listed in {csv_path} do not exist, e.g. {missing[0]}")
    table.index = ids
    return LabelledImages("folder", root, ids, paths, table)
