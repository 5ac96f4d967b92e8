"""Synthetic cars: 3-D renders whose car model, car colour and background colour are known exactly.

From konstantinkobs/DML-analysis (folder ``3D_cars``). Every render is an evaluation image (no
class is trained on in LanZ-DML), but the paper kept frames 1..1000 only, so ``frames`` defaults
to 1000.
"""
from __future__ import annotations

import pandas as pd

from indirect.datasets.base import DatasetError, LabelledImages, require_root
from indirect.datasets.css_colors import synthetic_color_name
from indirect.datasets.parsing import numeric_column, read_table, refuse

NAME = "synthetic_cars"
LAYOUT = "cars/<frame>.png and cars.csv (columns frame, model, color_hue/sat/val, bg_color_hue/sat/val)"
SOURCE = "https://github.com/konstantinkobs/DML-analysis/tree/master/3D_cars"
REQUIRED = ("frame", "model", "color_hue", "color_sat", "color_val", "bg_color_hue", "bg_color_sat", "bg_color_val")


def load_synthetic_cars(root, frames: int | None = 1000) -> LabelledImages:
    """Frames 1..``frames`` (all when None) with labels ``model``, ``color``, ``background_color``.

    Every other ``cars.csv`` column (camera and light parameters) stays available as a label
    column. Colours are named by :func:`synthetic_color_name`, the paper's ``hsv_to_name`` (the 17
    CSS2.1 names, and webcolors' exact CSS3 name where the RGB is one, e.g. ``dimgray``). A frame
    number that is not an integer, or an empty or non-numeric HSV cell of a frame kept, is refused
    with its line, and so is a frame listed twice with different values. Tolerated variants (check): frame files named with or without zero padding
    (``cars/7.png`` or ``cars/0007.png``), and frames listed in the CSV without an image on disk
    (dropped, counted in ``LabelledImages.skipped``). Ids are ``cars/<file name>``, independent of
    CSV order.
    """
    root = require_root(NAME, root, LAYOUT, SOURCE)
    table_path, image_dir = root / "cars.csv", root / "cars"
    for needed in (table_path, image_dir):
        if not needed.exists():
            raise DatasetError(f"dataset '{NAME}': {needed} not found; expected {LAYOUT} under {root} (download: {SOURCE})")
    fix = f"every row needs an integer frame and numbers in {', '.join(REQUIRED[2:])} (expected {LAYOUT}; download: {SOURCE})"
    table = read_table(table_path, NAME, fix)
    missing = [column for column in REQUIRED if column not in table.columns]
    if missing:
        raise DatasetError(f"dataset '{NAME}': {table_path} lacks columns {', '.join(missing)}; expected {LAYOUT}")
    table["frame"] = numeric_column(table, "frame", NAME, table_path, fix, integer_only=True)
    if frames is not None:
        table = table[(table["frame"] >= 1) & (table["frame"] <= int(frames))]
    images = {int(path.stem): path for path in sorted(image_dir.glob("*.png")) if path.stem.isdigit()}
    with_image = table["frame"].isin(images)
    table = table[with_image]
    _refuse_conflicting_frames(table, table_path)
    table = table.drop_duplicates("frame")
    for column in REQUIRED[2:]:  # the colours of the frames kept must be numbers (checked before sorting: line numbers)
        table[column] = numeric_column(table, column, NAME, table_path, fix)
    table = table.sort_values("frame")
    table["model"] = table["model"].astype(str)
    table["color"] = [synthetic_color_name(*hsv) for hsv in table[["color_hue", "color_sat", "color_val"]].to_numpy(float)]
    table["background_color"] = [
        synthetic_color_name(*hsv) for hsv in table[["bg_color_hue", "bg_color_sat", "bg_color_val"]].to_numpy(float)
    ]
    paths = [images[frame] for frame in table["frame"]]
    ids = [path.relative_to(root).as_posix() for path in paths]
    table.index = pd.Index(ids, name="id")
    return LabelledImages(NAME, root, ids, [path.resolve() for path in paths], table,
                          skipped=int((~with_image).sum()))


def _refuse_conflicting_frames(table: pd.DataFrame, table_path) -> None:
    """A frame listed twice with different values: which row labels the image is unknowable (equal repeats are read)."""
    repeated = table[table["frame"].duplicated(keep=False)]
    for frame, rows in repeated.groupby("frame", sort=False):
        differing = [column for column in rows.columns if rows[column].astype(str).nunique() > 1]
        if differing:
            lines = [int(index) + 2 for index in rows.index]
            raise refuse(NAME, table_path, f"frame {frame} is listed on lines {', '.join(map(str, lines))} with "
                                           f"different {', '.join(differing)}", "keep one row per frame", lines[1])
