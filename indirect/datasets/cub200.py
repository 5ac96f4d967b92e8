"""CUB-200-2011: the second half of the 200 bird species, with species and two attribute notions.

Besides the species, the per-image attribute annotations give two more notions: the bird's
primary colour (``has_primary_color::*``) and its bill shape (``has_bill_shape::*``). Annotators
could tick several values of one attribute; a single label per image is taken as the ticked value
with the highest certainty, and an image whose highest certainty is shared by several values (or
that has none ticked) gets no label for that notion (None, counted in ``LabelledImages.unlabelled``), so
a retrieval label never stands for a mixture.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from indirect.datasets.base import DatasetError, LabelledImages, require_root
from indirect.datasets.parsing import integer, listed_twice, numeric_column, read_table, refuse, text_lines

NAME = "cub200"
SOURCE = "https://www.vision.caltech.edu/datasets/cub_200_2011/"
LAYOUT = ("CUB_200_2011/ with images/<class folder>/<file>.jpg, images.txt, image_class_labels.txt, classes.txt, "
          "attributes/image_attribute_labels.txt and attributes.txt")
ATTRIBUTE_NOTIONS = {"primary_color": "has_primary_color", "bill_shape": "has_bill_shape"}


def load_cub200(root) -> LabelledImages:
    """Evaluation images of CUB-200-2011 (classes 101..200: 5,924 images).

    ``root`` is the ``CUB_200_2011`` folder or the folder holding it. Tolerated variants (check):
    ``attributes.txt`` in ``CUB_200_2011/``, in ``CUB_200_2011/attributes/`` or next to
    ``CUB_200_2011/`` (where the official archive puts it); lines of
    ``image_attribute_labels.txt`` with extra trailing fields (only the first four are read).
    Without the attribute files the ``primary_color`` and ``bill_shape`` columns are reported in
    ``LabelledImages.missing_columns``.

    Label columns: ``species`` (``Black footed Albatross``), ``class_id``, ``class_folder``,
    ``primary_color``, ``bill_shape`` (values as in attributes.txt, underscores read as spaces).
    Ids are the paths in images.txt (``001.Black_footed_Albatross/<file>.jpg``).
    ``vocabularies["train_species"]`` holds the 100 training species names, the prompt
    vocabulary of the species notion (the evaluation species are never used as prompts).
    """
    root = require_root(NAME, root, LAYOUT, SOURCE)
    base = root / "CUB_200_2011" if (root / "CUB_200_2011" / "images.txt").exists() else root
    for file_name in ("images.txt", "image_class_labels.txt", "classes.txt"):
        if not (base / file_name).exists():
            raise DatasetError(f"dataset '{NAME}': {base / file_name} not found; expected {LAYOUT} (download: {SOURCE})")
    folders = _numbered(base / "classes.txt", "<class_id> <001.Black_footed_Albatross>")
    paths = {image: path for image, (_, path) in _two_columns(base / "images.txt").items()}
    class_of = _class_of(base / "image_class_labels.txt", folders)
    unclassed = [image for image in paths if image not in class_of]
    if unclassed:   # never dropped in silence: it may be an evaluation image
        raise refuse(NAME, base / "image_class_labels.txt", f"{len(unclassed)} image(s) of images.txt have no class line, "
                     f"e.g. image {unclassed[0]} ({paths[unclassed[0]]})", "every image needs an '<image_id> <class_id>' "
                     f"line; re-extract CUB_200_2011/ from one archive ({SOURCE})")
    class_ids = sorted(folders)
    first_eval_class = class_ids[len(class_ids) // 2]
    species = {class_id: species_name(folder) for class_id, folder in folders.items()}
    keep = sorted((paths[image], image) for image in paths if class_of.get(image, 0) >= first_eval_class)
    ids = [path for path, _ in keep]
    labels = pd.DataFrame(
        {"species": [species[class_of[image]] for _, image in keep],
         "class_id": [class_of[image] for _, image in keep],
         "class_folder": [folders[class_of[image]] for _, image in keep]},
        index=pd.Index(ids, name="id"))
    vocabularies = {"train_species": [species[c] for c in class_ids if c < first_eval_class]}
    missing_columns, unlabelled = {}, {}
    attribute_names = _find_attribute_names(root, base)
    image_attributes = base / "attributes" / "image_attribute_labels.txt"
    if attribute_names is None or not image_attributes.exists():
        hint = (f"dataset '{NAME}': attribute labels need {image_attributes} and attributes.txt "
                f"(in {base}, {base / 'attributes'} or {base.parent}); both come with the official archive ({SOURCE})")
        missing_columns = {notion: hint for notion in ATTRIBUTE_NOTIONS}
    else:
        image_ids = [image for _, image in keep]
        present = _present_attributes(image_attributes)
        for notion, prefix in ATTRIBUTE_NOTIONS.items():
            labels[notion] = _single_attribute(present, attribute_names, prefix, image_ids)
            unlabelled[notion] = int(labels[notion].isna().sum())
    return LabelledImages(NAME, root, ids, [(base / "images" / path).resolve() for path in ids], labels,
                          missing_columns=missing_columns, vocabularies=vocabularies, unlabelled=unlabelled)


def species_name(class_folder: str) -> str:
    """``001.Black_footed_Albatross`` -> ``Black footed Albatross`` (the words used in prompts)."""
    return class_folder.split(".", 1)[-1].replace("_", " ").strip()


def attribute_value(attribute_name: str) -> str:
    """``has_bill_shape::curved_(up_or_down)`` -> ``curved (up or down)``."""
    return attribute_name.split("::", 1)[-1].replace("_", " ").strip()


def _two_columns(path: Path) -> dict[str, tuple[int, str]]:
    """``<key> <rest>`` lines as {key: (line number, rest)}; lines with one field are skipped, a UTF-8 BOM
    is ignored, and a key listed twice is refused (which of its lines holds the truth is unknowable)."""
    rows = {}
    for number, line in text_lines(path):
        parts = line.split(maxsplit=1)
        if len(parts) == 2:
            if parts[0] in rows:
                raise listed_twice(NAME, path, parts[0], rows[parts[0]][0], number,
                                   f"keep one line per id; re-extract the file from the official archive ({SOURCE})")
            rows[parts[0]] = (number, parts[1].strip())
    return rows


def _numbered(path: Path, form: str) -> dict[int, str]:
    """``<number> <name>`` lines as {number: name}; a line that does not start with a number is refused."""
    fix = f"every line must be '{form}' as in the official archive ({SOURCE}): remove any header line"
    return {integer(key, NAME, path, number, "the first field", fix): value
            for key, (number, value) in _two_columns(path).items()}


def _class_of(path: Path, folders: dict[int, str]) -> dict[str, int]:
    """{image id: class id} of image_class_labels.txt; each class must be one of classes.txt."""
    fix = f"every line must be '<image_id> <class_id>' with a class of classes.txt ({SOURCE})"
    class_of = {}
    for image, (number, label) in _two_columns(path).items():
        class_of[image] = integer(label, NAME, path, number, f"the class of image {image}", fix)
        if class_of[image] not in folders:
            raise refuse(NAME, path, f"image {image} has class {class_of[image]}, which {path.parent / 'classes.txt'} "
                                     f"does not list", "the files come from different downloads: re-extract "
                                                       f"CUB_200_2011/ from one archive ({SOURCE})", number)
    return class_of


def _find_attribute_names(root: Path, base: Path) -> dict[int, str] | None:
    for candidate in (base / "attributes.txt", base / "attributes" / "attributes.txt", base.parent / "attributes.txt",
                      root / "attributes.txt"):
        if candidate.exists():
            return _numbered(candidate, "<attribute_id> has_bill_shape::curved_(up_or_down)")
    return None


def _present_attributes(path: Path) -> pd.DataFrame:
    """The (image, attribute, certainty) rows marked present; up to four extra trailing fields are ignored."""
    fix = (f"every line must be '<image_id> <attribute_id> <is_present> <certainty_id> <time>' (up to 4 extra "
           f"trailing fields are ignored); re-extract it from the official archive ({SOURCE})")
    table = read_table(path, NAME, fix, sep=r"\s+", header=None,
                       names=["image", "attribute", "present", "certainty", "time", "x1", "x2", "x3", "x4"])
    for column in ("image", "attribute", "present", "certainty"):
        table[column] = numeric_column(table, column, NAME, path, fix, integer_only=True, first_line=1)
    table = table.loc[table["present"] == 1, ["image", "attribute", "certainty"]]
    return table.assign(image=table["image"].astype(str))


def _single_attribute(present: pd.DataFrame, names: dict[int, str], prefix: str, image_ids: list[str]) -> list:
    """One value per image: the present value of ``prefix`` with the unique highest certainty, else None."""
    wanted = {attribute_id: attribute_value(name) for attribute_id, name in names.items() if name.startswith(prefix + "::")}
    table = present[present["attribute"].isin(wanted)]
    top = table[table["certainty"] == table.groupby("image")["certainty"].transform("max")]
    counts = top.groupby("image")["attribute"].count()
    unique = top[top["image"].isin(counts[counts == 1].index)]
    value_of = {image: wanted[int(attribute)] for image, attribute in zip(unique["image"], unique["attribute"])}
    return [value_of.get(image) for image in image_ids]
