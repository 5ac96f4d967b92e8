"""The paper authors' own Cars196 annotations (``Cars196.csv``): colour, and a body type per image.

The authors' file has one row per image of the full release, ``img_name`` being the image number
(``8055`` for ``car_ims/008055.jpg``; their notebook shows it so). A file name (``008055.jpg``) or
a path relative to the dataset root (``car_ims/008055.jpg``, ``cars_test/00001.jpg``) is read as
well. Rows that match no image of the release are counted and named in one warning line; when no
row matches an evaluation image the colour is reported missing with that line, not left empty.
"""
from __future__ import annotations

import logging
import re
from pathlib import Path

import pandas as pd

from indirect.datasets.parsing import read_table, refuse

log = logging.getLogger("indirect.datasets.cars196")

NAME = "cars196"
COLUMNS = ("img_name", "class_name", "class_index", "manufacturer", "model", "type", "year", "color")
COLORS = ("black", "mixed", "white", "yellow", "silver", "red", "other", "blue")
_NUMBER = re.compile(r"^0*(\d+)(\.0*)?$")


def color_hint(csv_path: Path) -> str:
    return (f"it needs the paper authors' colour annotations as {csv_path} (a CSV with columns {', '.join(COLUMNS)}; "
            f"img_name is the image number of the full release such as 8055 (car_ims/008055.jpg), or its file name "
            f"008055.jpg or path car_ims/008055.jpg; color one of {', '.join(COLORS)}); put the file there or set "
            f"dataset.color_csv=<file>")


def read_authors_table(csv_path: Path) -> pd.DataFrame:
    """The CSV as strings, with ``image_key``: ``img_name`` as a path (``car_ims/008055.jpg`` for ``8055``)."""
    table = read_table(csv_path, NAME, color_hint(csv_path), dtype=str)
    table.columns = [str(column).strip() for column in table.columns]
    missing = [column for column in ("img_name", "color") if column not in table.columns]
    if missing:
        raise refuse(NAME, csv_path, f"lacks columns {', '.join(missing)}", color_hint(csv_path))
    names = table["img_name"].fillna("").str.strip().str.replace("\\", "/", regex=False)
    table["image_key"] = names.map(_image_key)
    return table


def _image_key(name: str) -> str:
    """``8055`` -> ``car_ims/008055.jpg`` (the authors' numbering is the full release's); others as written."""
    number = _NUMBER.match(name)
    return f"car_ims/{int(number.group(1)):06d}.jpg" if number else name.lstrip("./")


def match_rows(table: pd.DataFrame, all_ids: list[str]) -> list[str | None]:
    """The image id of each CSV row: by relative path, else by file name when one image has it."""
    known = set(all_ids)
    by_file: dict[str, str | None] = {}
    for image_id in all_ids:
        file_name = image_id.rsplit("/", 1)[-1]
        by_file[file_name] = None if file_name in by_file else image_id
    return [name if name in known else by_file.get(name.rsplit("/", 1)[-1]) for name in table["image_key"]]


def by_image(table: pd.DataFrame, targets: list[str | None], column: str, ids: list[str], csv_path: Path) -> list:
    """``column`` per image id (stripped; colours lower-cased); None where the CSV has no value. Two rows that
    give one image different values are refused (neither can be taken in silence); repeated equal rows are fine."""
    values = table[column].str.strip()
    values = values.str.lower() if column == "color" else values
    found: dict[str, tuple[int, str]] = {}
    for row, (target, value) in enumerate(zip(targets, values)):
        if target is None or not isinstance(value, str) or value == "":
            continue
        if target in found and found[target][1] != value:
            first_row, first_value = found[target]
            raise refuse(NAME, csv_path, f"image {target} has {column} {first_value!r} on line {first_row + 2} and "
                                         f"{value!r} on line {row + 2}", "keep one row per image", row + 2)
        found.setdefault(target, (row, value))
    return [found[image_id][1] if image_id in found else None for image_id in ids]


def unmatched_note(csv_path: Path, table: pd.DataFrame, targets: list[str | None]) -> str | None:
    """One line on the rows that match no image of the release (None when all match)."""
    misses = [str(name).strip() for name, target in zip(table["img_name"], targets) if target is None]
    if not misses:
        return None
    return (f"dataset '{NAME}': {len(misses)} of {len(table)} rows of {csv_path} match no image of the release "
            f"(e.g. img_name {misses[0]!r}); img_name must be the full release's image number such as 8055, its "
            f"file name 008055.jpg or its path car_ims/008055.jpg (cars_test/00001.jpg in the devkit release)")
