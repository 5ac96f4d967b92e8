"""Small copies of each dataset's official on-disk layout, for loader tests and end-to-end runs.

Each ``make_<dataset>(root)`` writes a few tiny images per class and the metadata in the exact
formats of the official archives (MATLAB structs, UTF-16 JSON streams, fine-annotation text
files) under ``root`` and returns the folder to use as ``dataset.root``. Every fixture has some
training classes (which the loaders must exclude) next to a few evaluation classes.
``reverse=True`` writes the metadata rows in reverse order, for id-stability tests.
"""
from __future__ import annotations

import codecs
import json
from pathlib import Path

import numpy as np
from PIL import Image

from indirect.datasets.deepfashion import ATTRIBUTE_GROUPS


def write_image(path: Path, seed: int, size: int = 8) -> Path:
    """A tiny deterministic RGB image (JPEG or PNG by suffix)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


# --------------------------------------------------------------------------- synthetic cars
SYNTHETIC_FRAMES = {
    # frame: (model, car hsv, background hsv, car colour name, background colour name); RGB is int(255 * x) of the
    # shifted, halved HSV, named as the paper's hsv_to_name does (exact CSS3 name, else nearest CSS2.1)
    1: ("sedan", (0.5, 2.0, 1.0), (0.0, 0.0, 1.0), "maroon", "gray"),     # (127, 0, 0), (127, 127, 127): nearest
    2: ("sedan", (0.0, 0.0, 0.0), (0.0, 0.0, 1.0), "black", "gray"),
    3: ("sedan", (0.0, 2.0, 2.0), (0.0, 0.0, 1.0), "cyan", "gray"),       # (0, 255, 255): exact, CSS3's name for aqua
    4: ("pickup", (0.0, 0.0, 1.0), (0.5, 2.0, 1.0), "gray", "maroon"),
    5: ("pickup", (0.8333, 2.0, 1.0), (0.0, 0.0, 0.0), "green", "black"),  # (0, 127, 0): nearest green
    6: ("pickup", (0.1667, 2.0, 2.0), (0.0, 0.0, 0.0), "blue", "black"),   # (0, 0, 255): exact
    7: ("coupe", (0.1667, 2.0, 1.0), (0.0, 0.0, 0.2), "navy", "black"),    # bg (25, 25, 25): nearest black
    8: ("coupe", (0.0, 0.0, 1.6), (0.0, 0.0, 0.2), "silver", "black"),     # (204, 204, 204): nearest silver
    9: ("coupe", (0.5, 2.0, 1.0), (0.0, 0.0, 0.2), "maroon", "black"),     # second maroon and black cars: the
    10: ("sedan", (0.0, 0.0, 0.0), (0.5, 2.0, 1.0), "black", "maroon"),    # colour notion has two measurable classes
    1001: ("coupe", (0.0, 0.0, 0.0), (0.0, 0.0, 0.0), "black", "black"),
}


def make_synthetic_cars(root: Path, reverse: bool = False) -> Path:
    """``cars/<frame>.png`` + ``cars.csv``; frame 1001 lies beyond the paper's 1..1000."""
    base = Path(root) / "synthetic_cars"
    rows = []
    for frame, (model, car, background, _, _) in SYNTHETIC_FRAMES.items():
        write_image(base / "cars" / f"{frame}.png", frame)
        rows.append(f"{frame},{model},{car[0]},{car[1]},{car[2]},{background[0]},{background[1]},{background[2]},"
                    f"{frame * 0.1:.1f},{frame % 3}")
    if reverse:
        rows.reverse()
    header = "frame,model,color_hue,color_sat,color_val,bg_color_hue,bg_color_sat,bg_color_val,cam_azimuth,light_index"
    (base / "cars.csv").write_text("\n".join([header, *rows]) + "\n")
    return base


# --------------------------------------------------------------------------- Cars196
CARS196_NAMED_CLASSES = {
    1: "AM General Hummer SUV 2000",
    10: "Aston Martin V8 Vantage Convertible 2012",
    99: "Land Rover Range Rover SUV 2012",
    120: "Rolls-Royce Ghost Sedan 2012",
    150: "Ram C/V Cargo Van Minivan 2009",  # a second year: the year notion must have two classes to be measured
    196: "FIAT 500 Abarth 2012",
}
CARS196_NAMED_TYPES = {1: "SUV", 10: "Convertible", 99: "SUV", 120: "Sedan", 150: "Minivan", 196: "Hatchback"}
CARS196_IMAGES_PER_CLASS = {1: 2, 10: 2, 99: 3, 120: 3, 150: 2, 196: 2}
CARS196_COLORS = ("black", "white", "red", "silver", "blue", "mixed")


def cars196_class_names() -> list[str]:
    return [CARS196_NAMED_CLASSES.get(i, f"Make{i} Model{i} Sedan 2012") for i in range(1, 197)]


def cars196_type(class_id: int) -> str:
    """The body type of a fixture class (the unnamed ones are ``Make<i> Model<i> Sedan 2012``)."""
    return CARS196_NAMED_TYPES.get(class_id, "Sedan")


def _cell(strings: list[str]) -> np.ndarray:
    cell = np.empty((1, len(strings)), dtype=object)
    for i, text in enumerate(strings):
        cell[0, i] = text
    return cell


def _struct(rows: list[dict]) -> np.ndarray:
    """A 1 x N MATLAB struct array whose fields are wrapped like the real files' (strings, 1x1 numbers)."""
    fields = list(rows[0])
    struct = np.zeros((1, len(rows)), dtype=[(field, object) for field in fields])
    for i, row in enumerate(rows):
        for field, value in row.items():
            struct[0, i][field] = value if isinstance(value, str) else np.array([[value]], dtype=np.uint16)
    return struct


CARS196_IMG_NAMES = {"number": lambda n: str(n), "file": lambda n: f"{n:06d}.jpg", "path": lambda n: f"car_ims/{n:06d}.jpg"}


def make_cars196(root: Path, reverse: bool = False, color_csv: bool = True, class_names: list[str] | None = None,
                 images_per_class: dict[int, int] | None = None, img_name: str = "number") -> Path:
    """The full release: ``car_ims/NNNNNN.jpg``, ``cars_annos.mat`` and (optionally) the authors' ``Cars196.csv``;
    ``class_names`` (196) and ``images_per_class`` replace the fixture's own. The CSV's ``img_name`` is the image
    number as in the authors' file (``8055``; its ``class_index`` 0-based), or with ``img_name="file"`` /
    ``"path"`` the file name (``008055.jpg``) / relative path (``car_ims/008055.jpg``)."""
    import scipy.io

    base = Path(root) / "cars196"
    rows, csv_lines, number = [], ["img_name,class_name,class_index,manufacturer,model,type,year,color"], 0
    names = class_names or cars196_class_names()
    for class_id, count in (images_per_class or CARS196_IMAGES_PER_CLASS).items():
        for _ in range(count):
            number += 1
            relative = f"car_ims/{number:06d}.jpg"
            write_image(base / relative, number)
            rows.append({"relative_im_path": relative, "bbox_x1": 1, "bbox_y1": 1, "bbox_x2": 7, "bbox_y2": 7,
                         "class": class_id, "test": number % 2})
            color = CARS196_COLORS[number % len(CARS196_COLORS)]
            csv_lines.append(f"{CARS196_IMG_NAMES[img_name](number)},\"{names[class_id - 1]}\",{class_id - 1},x,x,"
                             f"{cars196_type(class_id)},2012,{color}")
    if reverse:
        rows.reverse()
    scipy.io.savemat(base / "cars_annos.mat", {"annotations": _struct(rows), "class_names": _cell(names)})
    if color_csv:
        (base / "Cars196.csv").write_text("\n".join(csv_lines) + "\n")
    return base


def cars196_expected_color(image_number: int) -> str:
    return CARS196_COLORS[image_number % len(CARS196_COLORS)]


def make_cars196_devkit(root: Path, test_annos_in_devkit: bool = False) -> Path:
    """The devkit release: ``devkit/*.mat``, ``cars_test_annos_withlabels.mat``, ``cars_train/``, ``cars_test/``."""
    import scipy.io

    base = Path(root) / "cars196_devkit"
    (base / "devkit").mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(base / "devkit" / "cars_meta.mat", {"class_names": _cell(cars196_class_names())})
    splits = {"cars_train": [(1, 2), (99, 2)], "cars_test": [(10, 1), (120, 2), (196, 1)]}
    for folder, classes in splits.items():
        rows, number = [], 0
        for class_id, count in classes:
            for _ in range(count):
                number += 1
                write_image(base / folder / f"{number:05d}.jpg", number + class_id)
                rows.append({"bbox_x1": 1, "bbox_y1": 1, "bbox_x2": 7, "bbox_y2": 7, "class": class_id,
                             "fname": f"{number:05d}.jpg"})
        if folder == "cars_train":
            target = base / "devkit" / "cars_train_annos.mat"
        else:
            target = base / ("devkit" if test_annos_in_devkit else "") / "cars_test_annos_withlabels.mat"
        scipy.io.savemat(target, {"annotations": _struct(rows)})
    return base


# --------------------------------------------------------------------------- CUB-200-2011
CUB_IMAGES_PER_CLASS = {1: 2, 2: 2, 101: 3, 150: 2, 200: 2}
CUB_ATTRIBUTES = {
    1: "has_bill_shape::curved_(up_or_down)", 2: "has_bill_shape::dagger", 3: "has_bill_shape::hooked",
    4: "has_bill_shape::needle", 5: "has_bill_shape::hooked_seabird", 6: "has_bill_shape::spatulate",
    7: "has_bill_shape::all-purpose", 8: "has_bill_shape::cone", 9: "has_bill_shape::specialized",
    10: "has_wing_color::blue", 11: "has_wing_color::black",
    249: "has_primary_color::blue", 250: "has_primary_color::brown", 251: "has_primary_color::iridescent",
    260: "has_primary_color::black", 261: "has_primary_color::white", 262: "has_primary_color::buff",
}
# image number within the evaluation images -> ticked (attribute id, certainty) pairs
CUB_TICKS = {
    0: [(260, 4), (261, 3), (1, 3)],          # black wins on certainty; curved bill
    1: [(260, 4), (261, 4), (8, 4)],          # tie on certainty -> no primary colour; cone bill
    2: [(7, 2), (3, 2)],                      # no primary colour; tie on bill -> none
    3: [(249, 3), (2, 4), (11, 4)],           # blue; dagger
    4: [(260, 3), (1, 4)],                    # second black and curved: both notions have two measurable classes
    5: [(249, 4), (8, 2)],                    # second blue and cone
}
CUB_EXPECTED = {0: ("black", "curved (up or down)"), 1: (None, "cone"), 2: (None, None), 3: ("blue", "dagger"),
                4: ("black", "curved (up or down)"), 5: ("blue", "cone"), 6: (None, None)}


def cub_class_folder(class_id: int) -> str:
    named = {1: "Black_footed_Albatross", 2: "Laysan_Albatross", 101: "White_Pelican", 150: "Sage_Thrasher",
             200: "Common_Yellowthroat"}
    return f"{class_id:03d}.{named.get(class_id, f'Bird_{class_id}')}"


def make_cub200(root: Path, reverse: bool = False, attributes_at: str = "parent") -> Path:
    """``CUB_200_2011/`` with images, lists and attribute labels; ``attributes.txt`` at ``attributes_at``
    ("parent" as in the official archive, "base", "attributes", or "none" to leave it out)."""
    parent = Path(root) / "cub"
    base = parent / "CUB_200_2011"
    images, labels, split, ticks = [], [], [], []
    image_id, eval_index = 0, 0
    for class_id, count in CUB_IMAGES_PER_CLASS.items():
        for k in range(count):
            image_id += 1
            relative = f"{cub_class_folder(class_id)}/{cub_class_folder(class_id)[4:]}_{image_id:04d}.jpg"
            write_image(base / "images" / relative, image_id)
            images.append(f"{image_id} {relative}")
            labels.append(f"{image_id} {class_id}")
            split.append(f"{image_id} {k % 2}")
            ticked = dict(CUB_TICKS.get(eval_index, [])) if class_id > 100 else {}
            for attribute_id in CUB_ATTRIBUTES:
                present, certainty = (1, ticked[attribute_id]) if attribute_id in ticked else (0, 3)
                extra = " 0" if (image_id, attribute_id) == (5, 10) else ""
                ticks.append(f"{image_id} {attribute_id} {present} {certainty} 12.5{extra}")
            eval_index += class_id > 100
    if reverse:
        for rows in (images, labels, split, ticks):
            rows.reverse()
    base.mkdir(parents=True, exist_ok=True)
    (base / "images.txt").write_text("\n".join(images) + "\n")
    (base / "image_class_labels.txt").write_text("\n".join(labels) + "\n")
    (base / "train_test_split.txt").write_text("\n".join(split) + "\n")
    (base / "classes.txt").write_text("".join(f"{c} {cub_class_folder(c)}\n" for c in range(1, 201)))
    (base / "attributes").mkdir(exist_ok=True)
    (base / "attributes" / "image_attribute_labels.txt").write_text("\n".join(ticks) + "\n")
    names = "".join(f"{i} {name}\n" for i, name in CUB_ATTRIBUTES.items())
    where = {"parent": parent, "base": base, "attributes": base / "attributes"}
    if attributes_at in where:
        (where[attributes_at] / "attributes.txt").write_text(names)
    return parent


# --------------------------------------------------------------------------- DeepFashion
DEEPFASHION_CATEGORIES = (
    [(name, 1) for name in "Anorak Blazer Blouse Bomber Button-Down Cardigan Flannel Halter Henley Hoodie Jacket Jersey "
     "Parka Peacoat Poncho Sweater Tank Tee Top Turtleneck".split()]
    + [(name, 2) for name in "Capris Chinos Culottes Cutoffs Gauchos Jeans Jeggings Jodhpurs Joggers Leggings Sarong "
       "Shorts Skirt Sweatpants Sweatshorts Trunks".split()]
    + [(name, 3) for name in "Caftan Cape Coat Coverup Dress Jumpsuit Kaftan Kimono Nightdress Onesie Robe Romper "
       "Shirtdress Sundress".split()]
)
DEEPFASHION_ATTRIBUTES = [name for group in ATTRIBUTE_GROUPS.values() for name in group]
# test rows: (category name, set attributes)
DEEPFASHION_TEST = [
    ("Blouse", {"floral", "long_sleeve", "no_dress", "crew_neckline", "chiffon", "loose"}),
    ("Blouse", {"solid", "short_sleeve", "no_dress", "v_neckline", "cotton", "conventional"}),
    ("Jeans", {"solid", "sleeveless", "no_dress", "no_neckline", "denim", "tight"}),
    ("Jeans", {"striped", "graphic", "sleeveless", "no_dress", "no_neckline", "denim", "tight"}),
    ("Dress", {"floral", "sleeveless", "maxi_length", "v_neckline", "chiffon", "loose"}),
    ("Dress", {"pleated", "short_sleeve", "maxi_length", "square_neckline", "tight"}),  # length: two measurable classes
    ("Tee", {"graphic", "short_sleeve", "no_dress", "crew_neckline", "cotton", "conventional"}),
    ("Tee", {"solid", "short_sleeve", "no_dress", "crew_neckline", "knit", "loose"}),
]


def make_deepfashion(root: Path, reverse: bool = False) -> Path:
    """``Anno_fine/`` lists and the test split files, ``img/<item>/img_NNNNNNNN.jpg`` (train/val images too)."""
    base = Path(root) / "deepfashion"
    anno = base / "Anno_fine"
    anno.mkdir(parents=True, exist_ok=True)
    (anno / "list_category_cloth.txt").write_text(
        f"{len(DEEPFASHION_CATEGORIES)}\ncategory_name  category_type\n"
        + "".join(f"{name:<30}{kind}\n" for name, kind in DEEPFASHION_CATEGORIES))
    group_type = {name: i + 1 for i, group in enumerate(ATTRIBUTE_GROUPS.values()) for name in group}
    (anno / "list_attr_cloth.txt").write_text(
        f"{len(DEEPFASHION_ATTRIBUTES)}\nattribute_name  attribute_type\n"
        + "".join(f"{name:<30}{group_type[name]}\n" for name in DEEPFASHION_ATTRIBUTES))
    category_index = {name: i + 1 for i, (name, _) in enumerate(DEEPFASHION_CATEGORIES)}
    rows = []
    for i, (category, attributes) in enumerate(DEEPFASHION_TEST):
        path = f"img/Item_{category}_{i // 2}/img_{i + 1:08d}.jpg"
        write_image(base / path, i)
        flags = " ".join("1" if name in attributes else "0" for name in DEEPFASHION_ATTRIBUTES)
        rows.append((path, str(category_index[category]), flags))
    if reverse:
        rows.reverse()
    (anno / "test.txt").write_text("".join(f"{path}\n" for path, _, _ in rows))
    (anno / "test_cate.txt").write_text("".join(f"{cate}\n" for _, cate, _ in rows))
    (anno / "test_attr.txt").write_text("".join(f"{flags}\n" for _, _, flags in rows))
    for split, offset in (("train", 100), ("val", 200)):
        path = f"img/Item_{split}/img_{offset:08d}.jpg"
        write_image(base / path, offset)
        (anno / f"{split}.txt").write_text(path + "\n")
        (anno / f"{split}_cate.txt").write_text("3\n")
        (anno / f"{split}_attr.txt").write_text(" ".join("0" for _ in DEEPFASHION_ATTRIBUTES) + "\n")
    return base


# --------------------------------------------------------------------------- Movie posters
MOVIE_RECORDS = {
    "2015": [
        {"Title": "Alpha", "Year": "2015", "Genre": "Action, Adventure", "Country": "USA, UK", "imdbID": "tt0000001"},
        {"Title": "Beta", "Year": "2015", "Genre": "Drama", "Country": "France", "imdbID": "tt0000002"},
        {"Title": "Gamma", "Year": "2015", "Genre": "Action", "Country": "USA", "imdbID": "tt0000003"},
        {"Title": "No poster", "Year": "2015", "Genre": "Comedy", "Country": "USA", "imdbID": "tt0000099"},
    ],
    "2016": [
        {"Title": "Delta", "Year": "2016", "Genre": "N/A", "Country": "Japan", "imdbID": "tt0000004"},
        {"Title": "Epsilon", "Year": "2016", "Genre": "Drama, Romance", "Country": "France, Italy",
         "imdbID": "tt0000005", "Ratings": [{"Source": "x", "Value": "7/10"}]},
        {"Title": "Alpha again", "Year": "2016", "Genre": "Horror", "Country": "Canada", "imdbID": "tt0000001"},
        {"Title": "Zeta – ümlaut", "Year": "2016", "Genre": "Comedy", "Country": "Japan", "imdbID": "tt0000006"},
    ],
}
MOVIE_EXPECTED = {"tt0000001": ("Action", "USA"), "tt0000002": ("Drama", "France"), "tt0000003": ("Action", "USA"),
                  "tt0000004": ("N/A", "Japan"), "tt0000005": ("Drama", "France"), "tt0000006": ("Comedy", "Japan")}


def make_movie_posters(root: Path, reverse: bool = False, encoding: str = "utf-16-le") -> Path:
    """``Movie_Poster_Dataset/<year>/<imdbID>.jpg`` and ``Movie_Poster_Metadata/groundtruth/<year>.txt``
    holding a stream of pretty-printed JSON objects in ``encoding`` with its BOM."""
    base = Path(root) / "movie_posters"
    boms = {"utf-16-le": codecs.BOM_UTF16_LE, "utf-16-be": codecs.BOM_UTF16_BE, "utf-8": b""}
    for year, records in MOVIE_RECORDS.items():
        for record in records:
            if record["imdbID"] != "tt0000099" and record["Year"] == year and record["Title"] != "Alpha again":
                write_image(base / "Movie_Poster_Dataset" / year / f"{record['imdbID']}.jpg", int(record["imdbID"][2:]))
        ordered = list(reversed(records)) if reverse else records
        text = "\n".join(json.dumps(record, indent=2, ensure_ascii=False) for record in ordered) + "\n"
        target = base / "Movie_Poster_Metadata" / "groundtruth" / f"{year}.txt"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(boms[encoding] + text.encode(encoding))
    return base
