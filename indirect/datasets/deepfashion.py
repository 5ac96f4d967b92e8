"""DeepFashion (Category and Attribute Prediction benchmark, fine annotations): the 4,000 test images.

The fine annotations give a clothing category and 26 binary attributes in six groups (texture,
fabric, fit, sleeve, length, neckline). Each group becomes one label column holding the
attribute set to 1 in that group, so every notion is evaluated with its own labels (the
original notebook evaluated texture, fabric and fit with the category labels). A row with no
attribute or several attributes set in a group gets no label for that group (None, counted in
``LabelledImages.unlabelled``): one image, one value per notion.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from indirect.datasets.base import DatasetError, LabelledImages, require_root
from indirect.datasets.parsing import integer, listed_twice, refuse, text_lines

NAME = "deepfashion"
SOURCE = "https://mmlab.ie.cuhk.edu.hk/projects/DeepFashion/AttributePrediction.html"
LAYOUT = ("img/<item>/<file>.jpg and Anno_fine/ with list_category_cloth.txt, list_attr_cloth.txt, test.txt, "
          "test_cate.txt, test_attr.txt")
ATTRIBUTE_GROUPS = {
    "texture": ("floral", "graphic", "striped", "embroidered", "pleated", "solid", "lattice"),
    "sleeve": ("long_sleeve", "short_sleeve", "sleeveless"),
    "length": ("maxi_length", "mini_length", "no_dress"),
    "neckline": ("crew_neckline", "v_neckline", "square_neckline", "no_neckline"),
    "fabric": ("denim", "chiffon", "cotton", "leather", "faux", "knit"),
    "fit": ("tight", "loose", "conventional"),
}
ATTR_FIX = "expected one line per image of test.txt holding a 0/1 flag per attribute of list_attr_cloth.txt"
FILES = ("list_category_cloth.txt", "list_attr_cloth.txt", "test.txt", "test_cate.txt", "test_attr.txt")


def load_deepfashion(root) -> LabelledImages:
    """The test split of the fine annotations with ``category`` and one column per attribute group.

    ``root`` holds ``Anno_fine/`` and ``img/``. Tolerated variants (check): the annotation files
    directly in ``root`` instead of ``Anno_fine/``; category and attribute names padded with any
    whitespace (names are everything before the last field); attribute groups are found by
    attribute name, not by the ``attribute_type`` number. Label columns: ``category``,
    ``category_type`` (upper, lower, full), ``texture``, ``fabric``, ``fit``, ``sleeve``,
    ``length``, ``neckline``, and ``attr_<name>`` (0/1) for each of the 26 attributes. Ids are the
    paths in test.txt (``img/<item>/img_00000001.jpg``). A category index outside 1..N (N from
    list_category_cloth.txt; never wrapped around), a list file without its count line or header
    or whose rows do not add up to the count, and a non-integer index or flag are refused in one
    line naming the file and line.
    """
    root = require_root(NAME, root, LAYOUT, SOURCE)
    annotations = root / "Anno_fine" if (root / "Anno_fine").is_dir() else root
    for file_name in FILES:
        if not (annotations / file_name).exists():
            raise DatasetError(f"dataset '{NAME}': {annotations / file_name} not found; expected {LAYOUT} under {root} "
                               f"(download: {SOURCE})")
    categories = _name_list(annotations / "list_category_cloth.txt", "category")
    attributes = [name for name, _ in _name_list(annotations / "list_attr_cloth.txt", "attribute")]
    ids = _image_list(annotations / "test.txt")
    category_index = _category_indices(annotations / "test_cate.txt", len(categories))
    attribute_rows = [[integer(value, NAME, annotations / "test_attr.txt", number, "attribute flag", ATTR_FIX)
                       for value in line.split()] for number, line in text_lines(annotations / "test_attr.txt")]
    if not len(ids) == len(category_index) == len(attribute_rows):
        raise DatasetError(f"dataset '{NAME}': test.txt, test_cate.txt and test_attr.txt in {annotations} have "
                           f"{len(ids)}, {len(category_index)} and {len(attribute_rows)} lines; they must be aligned")
    if any(len(row) != len(attributes) for row in attribute_rows):
        raise DatasetError(f"dataset '{NAME}': a line of {annotations / 'test_attr.txt'} does not have "
                           f"{len(attributes)} values (one per attribute of list_attr_cloth.txt)")
    category_types = {"1": "upper", "2": "lower", "3": "full"}
    labels = pd.DataFrame({
        "category": [categories[index - 1][0] for index in category_index],
        "category_type": [category_types.get(categories[index - 1][1], categories[index - 1][1]) for index in category_index],
    }, index=pd.Index(ids, name="id"))
    flags = pd.DataFrame(attribute_rows, columns=attributes, index=labels.index)
    unlabelled = {}
    for group, members in ATTRIBUTE_GROUPS.items():
        present = [name for name in members if name in flags.columns]
        if not present:
            continue
        labels[group] = [_single(row, present) for row in flags[present].to_numpy()]
        unlabelled[group] = int(labels[group].isna().sum())
    for name in attributes:
        labels[f"attr_{name}"] = flags[name]
    order = sorted(range(len(ids)), key=ids.__getitem__)
    ids = [ids[i] for i in order]
    return LabelledImages(NAME, root, ids, [(root / path).resolve() for path in ids], labels.loc[ids],
                          unlabelled=unlabelled)


def _single(row, names: list[str]):
    chosen = [name for name, value in zip(names, row) if value == 1]
    return chosen[0] if len(chosen) == 1 else None


def _image_list(path: Path) -> list[str]:
    """The image paths of test.txt; a path listed twice is refused with both line numbers."""
    seen: dict[str, int] = {}
    for number, line in text_lines(path):
        if line in seen:
            raise listed_twice(NAME, path, line, seen[line], number,
                               "keep one line per image, with test_cate.txt and test_attr.txt aligned to it (as in the "
                               f"official Anno_fine/, {SOURCE})")
        seen[line] = number
    return list(seen)


def _category_indices(path: Path, count: int) -> list[int]:
    """The 1-based category index of each line, each within 1..``count``."""
    fix = f"expected one 1-based category index (1..{count}, as listed in list_category_cloth.txt) per line"
    indices = []
    for number, line in text_lines(path):
        index = integer(line, NAME, path, number, "category index", fix)
        if not 1 <= index <= count:
            raise refuse(NAME, path, f"category index {index} is outside 1..{count}", fix, number)
        indices.append(index)
    return indices


def _name_list(path: Path, kind: str) -> list[tuple[str, str]]:
    """Rows of a ``<count>``, ``<kind>_name <kind>_type`` header, ``<name> <type>`` list file as (name, type);
    a file whose count line or header is missing, or whose rows do not add up to the count, is refused."""
    plural = {"category": "categories"}.get(kind, f"{kind}s")
    fix = (f"expected the count of {plural} on line 1, the header '{kind}_name  {kind}_type' on line 2, then one "
           f"'<name> <type number>' line per {kind} (as in the official Anno_fine/)")
    lines = text_lines(path)
    if len(lines) < 2:
        raise refuse(NAME, path, f"has {len(lines)} non-blank line(s)", fix)
    count = integer(lines[0][1], NAME, path, lines[0][0], "the count", fix)
    if not lines[1][1].lower().startswith(f"{kind}_name"):
        raise refuse(NAME, path, f"the second line {lines[1][1]!r} is not the header", fix, lines[1][0])
    rows = []
    for number, line in lines[2:]:
        fields = line.rsplit(maxsplit=1)
        if len(fields) != 2:
            raise refuse(NAME, path, f"{line!r} lacks its type number", fix, number)
        integer(fields[1], NAME, path, number, f"the type of {fields[0].strip()!r}", fix)
        rows.append((fields[0].strip(), fields[1]))
    if len(rows) != count:
        raise refuse(NAME, path, f"line 1 announces {count} {plural} but {len(rows)} follow", fix)
    return rows
