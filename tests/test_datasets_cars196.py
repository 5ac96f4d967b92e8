import csv
import logging
from collections import Counter
from importlib import resources

import pytest
import scipy.io

from indirect.datasets.base import DatasetError
from indirect.datasets.car_names import BODY_TYPES, parse_car_name
from indirect.datasets.cars196 import images_per_type, load_cars196
from layouts import _struct, cars196_class_names, cars196_expected_color, make_cars196, make_cars196_devkit

# Classes per body type in car_types.csv: all 196, and the evaluation half (99-196).
TYPES_ALL = {"Sedan": 50, "SUV": 35, "Coupe": 33, "Convertible": 26, "Cab": 18, "Hatchback": 14, "Van": 7,
             "Wagon": 7, "Minivan": 6}
TYPES_EVAL = {"Sedan": 25, "SUV": 21, "Coupe": 15, "Convertible": 11, "Hatchback": 11, "Cab": 7, "Minivan": 4,
              "Van": 4}
# The class names with no body-type word, and the type of the actual car.
UNTYPED_NAMES = {
    "Acura TL Type-S 2008": "Sedan", "Acura Integra Type R 2001": "Coupe", "Buick Regal GS 2012": "Sedan",
    "Chevrolet Corvette ZR1 2012": "Coupe", "Chevrolet Corvette Ron Fellows Edition Z06 2007": "Coupe",
    "Chevrolet HHR SS 2010": "Wagon", "Chevrolet Cobalt SS 2010": "Coupe", "Chevrolet TrailBlazer SS 2009": "SUV",
    "Chrysler 300 SRT-8 2010": "Sedan", "Dodge Challenger SRT8 2011": "Coupe", "Dodge Charger SRT-8 2009": "Sedan",
    "FIAT 500 Abarth 2012": "Hatchback", "Ford Ranger SuperCab 2011": "Cab", "Jaguar XK XKR 2012": "Coupe",
    "Lamborghini Gallardo LP 570-4 Superleggera 2012": "Coupe",
}


def _type_table() -> list[dict]:
    with resources.files("indirect.datasets").joinpath("car_types.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize("name, make, body_type, year", [
    ("AM General Hummer SUV 2000", "AM General", "SUV", 2000),
    ("Aston Martin V8 Vantage Convertible 2012", "Aston Martin", "Convertible", 2012),
    ("Land Rover LR2 SUV 2012", "Land Rover", "SUV", 2012),
    ("Rolls-Royce Phantom Drophead Coupe Convertible 2012", "Rolls-Royce", "Convertible", 2012),
    ("Ram C/V Cargo Van Minivan 2012", "Ram", "Minivan", 2012),
    ("Infiniti G Coupe IPL 2012", "Infiniti", "Coupe", 2012),
    ("Chevrolet Silverado 1500 Extended Cab 2012", "Chevrolet", "Cab", 2012),
    ("Ford E-Series Wagon Van 2012", "Ford", "Van", 2012),
    ("Mercedes-Benz Sprinter Van 2012", "Mercedes-Benz", "Van", 2012),
    ("FIAT 500 Abarth 2012", "FIAT", "Hatchback", 2012),
    ("Jaguar XK XKR 2012", "Jaguar", "Coupe", 2012),
    ("smart fortwo Convertible 2012", "smart", "Convertible", 2012),
    ("Volvo 240 Sedan 1993", "Volvo", "Sedan", 1993),
    ("Ford Ranger SuperCab 2011", "Ford", "Cab", 2011),
    ("Chrysler 300 SRT-8 2010", "Chrysler", "Sedan", 2010),
    ("Lamborghini Gallardo LP 570-4 Superleggera 2012", "Lamborghini", "Coupe", 2012),
])
def test_class_names_split_into_make_body_type_and_year(name, make, body_type, year):
    car = parse_car_name(name)
    assert (car.manufacturer, car.body_type, car.year) == (make, body_type, year)


def test_unknown_untyped_class_has_no_body_type():
    car = parse_car_name("Acme Roadrunner X 2010")
    assert car.body_type is None and car.model == "Roadrunner X"


def test_type_table_holds_all_196_class_names_each_with_a_type():
    rows = _type_table()
    assert [int(row["class_index"]) for row in rows] == list(range(1, 197))
    assert len({row["class_name"] for row in rows}) == 196
    assert all(row["type"] in BODY_TYPES for row in rows)
    assert Counter(row["type"] for row in rows) == TYPES_ALL
    assert Counter(row["type"] for row in rows[98:]) == TYPES_EVAL
    untyped = {}
    for row in rows:
        words = [word for word in row["class_name"].split()[1:-1] if word in BODY_TYPES]
        if words:  # a name that spells its type: the table agrees with its last body-type word
            assert row["type"] == words[-1], row
        else:
            untyped[row["class_name"]] = row["type"]
    assert untyped == UNTYPED_NAMES


def _real_names() -> list[str]:
    return [row["class_name"] for row in _type_table()]


def test_every_evaluation_image_gets_a_type_and_the_counts_are_logged(tmp_path, caplog):
    per_class = {class_id: 1 for class_id in (1, 4, 60, *range(99, 197))}
    per_class[111] = 3  # Ford Ranger SuperCab: no body-type word
    root = make_cars196(tmp_path, color_csv=False, class_names=_real_names(), images_per_class=per_class)
    with caplog.at_level(logging.INFO, logger="indirect.datasets.cars196"):
        data = load_cars196(root)
    assert len(data) == 100 and data.labels["type"].notna().all()
    expected = dict(TYPES_EVAL, Cab=TYPES_EVAL["Cab"] + 2)
    assert images_per_type(data.labels) == expected
    assert set(data.labels.loc[data.labels["class_id"] == 111, "type"]) == {"Cab"}
    assert "type" not in data.unlabelled
    logged = [record.getMessage() for record in caplog.records if "images per body type" in record.getMessage()]
    assert len(logged) == 1 and "Sedan 25" in logged[0] and "Cab 9" in logged[0]


def test_authors_csv_type_overrides_the_table_where_it_has_one(tmp_path):
    root = make_cars196(tmp_path, color_csv=False)
    csv_path = tmp_path / "authors.csv"
    csv_path.write_text("img_name,type,color\n000005.jpg,Pickup,red\ncar_ims/000006.jpg,suv ,red\n"
                        "000008.jpg,,blue\n")
    data = load_cars196(root, color_csv=str(csv_path))
    types = data.labels["type"]
    assert types["car_ims/000005.jpg"] == "Pickup"  # the authors' own value, as they wrote it
    assert types["car_ims/000006.jpg"] == "SUV"  # their spelling of a table type is the table's
    assert types["car_ims/000008.jpg"] == "Sedan"  # blank in the CSV: the table's type
    assert types.notna().all()
    assert images_per_type(data.labels)["Pickup"] == 1


def test_a_class_without_any_type_is_named_not_dropped_in_silence(tmp_path, caplog):
    names = cars196_class_names()
    names[149] = "Acme Roadrunner X 2010"
    with caplog.at_level(logging.WARNING, logger="indirect.datasets.cars196"):
        data = load_cars196(make_cars196(tmp_path, color_csv=False, class_names=names))
    assert data.unlabelled["type"] == 2
    assert data.labels["type"].isna().sum() == 2
    assert any("Acme Roadrunner X 2010" in record.getMessage() for record in caplog.records)


def test_full_release_keeps_only_evaluation_classes(tmp_path):
    data = load_cars196(make_cars196(tmp_path))
    assert len(data) == 10 and set(data.labels["class_id"]) == {99, 120, 150, 196}
    assert data.ids[0] == "car_ims/000005.jpg"
    row = data.labels.loc["car_ims/000008.jpg"]
    assert (row["class_name"], row["manufacturer"], row["type"], row["year"]) == \
        ("Rolls-Royce Ghost Sedan 2012", "Rolls-Royce", "Sedan", 2012)
    assert data.labels.loc["car_ims/000005.jpg", "manufacturer"] == "Land Rover"
    assert set(data.labels["type"]) == {"SUV", "Sedan", "Minivan", "Hatchback"}
    assert all(data.labels.loc[i, "color"] == cars196_expected_color(int(i[8:14])) for i in data.ids)
    assert all(path.exists() for path in data.paths)


def test_ids_survive_reordered_annotations(tmp_path):
    first = load_cars196(make_cars196(tmp_path / "a"))
    second = load_cars196(make_cars196(tmp_path / "b", reverse=True))
    assert first.ids == second.ids
    assert first.labels["class_name"].to_dict() == second.labels["class_name"].to_dict()


def test_mat_file_has_the_real_struct_shape(tmp_path):
    mat = scipy.io.loadmat(make_cars196(tmp_path) / "cars_annos.mat")
    assert mat["annotations"].shape == (1, 14) and "relative_im_path" in mat["annotations"].dtype.names
    assert mat["class_names"].shape == (1, 196)


@pytest.mark.parametrize("in_devkit", [False, True])
def test_devkit_release(tmp_path, in_devkit):
    data = load_cars196(make_cars196_devkit(tmp_path, test_annos_in_devkit=in_devkit))
    assert len(data) == 5 and set(data.labels["class_id"]) == {99, 120, 196}
    assert {i.split("/")[0] for i in data.ids} == {"cars_train", "cars_test"}
    assert data.labels.loc["cars_train/00003.jpg", "class_name"] == "Land Rover Range Rover SUV 2012"


def test_colour_without_csv_names_the_file_and_columns(tmp_path):
    root = make_cars196(tmp_path, color_csv=False)
    data = load_cars196(root)
    assert "color" not in data.labels.columns
    message = data.missing_columns["color"]
    assert str(root / "Cars196.csv") in message and "img_name" in message and "color" in message
    assert "\n" not in message
    with pytest.raises(DatasetError):
        data.label_column("color")


def test_explicit_colour_csv_must_exist(tmp_path):
    root = make_cars196(tmp_path, color_csv=False)
    with pytest.raises(DatasetError, match="colors.csv does not exist"):
        load_cars196(root, color_csv=str(tmp_path / "colors.csv"))


def test_colour_csv_elsewhere_with_paths_and_gaps(tmp_path):
    root = make_cars196(tmp_path, color_csv=False)
    csv = tmp_path / "mine.csv"
    csv.write_text("img_name,color\ncar_ims/000005.jpg,Yellow\n000006.jpg,red\n")
    data = load_cars196(root, color_csv=str(csv))
    assert data.labels.loc["car_ims/000005.jpg", "color"] == "yellow"
    assert data.labels.loc["car_ims/000006.jpg", "color"] == "red"
    assert data.unlabelled["color"] == 8


def test_missing_layouts_are_explained(tmp_path):
    with pytest.raises(DatasetError, match="cars196.*does not exist.*stanford"):
        load_cars196(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="cars_annos.mat.*cars_meta.mat"):
        load_cars196(tmp_path / "empty")


@pytest.mark.parametrize("form", ["number", "file", "path"])
def test_authors_csv_img_name_forms_colour_every_evaluation_image(tmp_path, form, caplog):
    with caplog.at_level(logging.WARNING, logger="indirect.datasets.cars196"):
        data = load_cars196(make_cars196(tmp_path, img_name=form))
    if form == "number":  # the authors' own format: img_name 5 is car_ims/000005.jpg
        first = (tmp_path / "cars196" / "Cars196.csv").read_text().splitlines()[1]
        assert first.startswith('1,"AM General Hummer SUV 2000",0,')
    assert data.labels["color"].notna().all() and data.unlabelled["color"] == 0
    assert [data.labels.loc[i, "color"] for i in data.ids] == [cars196_expected_color(int(i[8:14])) for i in data.ids]
    assert not [r for r in caplog.records if "match no image" in r.getMessage()]  # training rows match images too


def test_authors_csv_numbers_carry_their_type(tmp_path):
    root = make_cars196(tmp_path, color_csv=False)
    csv_path = tmp_path / "authors.csv"
    csv_path.write_text("img_name,class_name,class_index,manufacturer,model,type,year,color\n"
                        '5,"Land Rover Range Rover SUV 2012",98,Land Rover,Range Rover,Pickup,2012,red\n'
                        "000006,x,98,x,x,SUV,2012,Blue\n")
    data = load_cars196(root, color_csv=str(csv_path))
    assert data.labels.loc["car_ims/000005.jpg", ["type", "color"]].tolist() == ["Pickup", "red"]
    assert data.labels.loc["car_ims/000006.jpg", "color"] == "blue"
    assert data.unlabelled["color"] == 8


def test_csv_rows_matching_no_image_are_counted_in_one_warning(tmp_path, caplog):
    root = make_cars196(tmp_path, color_csv=False)
    csv_path = root / "Cars196.csv"
    csv_path.write_text("img_name,color\n5,red\n99999,blue\nimage_5.png,black\n")
    with caplog.at_level(logging.WARNING, logger="indirect.datasets.cars196"):
        data = load_cars196(root)
    assert data.labels.loc["car_ims/000005.jpg", "color"] == "red" and data.unlabelled["color"] == 9
    notes = [r.getMessage() for r in caplog.records if "match no image" in r.getMessage()]
    assert len(notes) == 1 and "\n" not in notes[0]
    assert f"2 of 3 rows of {csv_path}" in notes[0] and "'99999'" in notes[0] and "8055" in notes[0]


def test_csv_colouring_no_image_reports_colour_missing_not_empty(tmp_path):
    """The authors' numbers name the full release's images: on the devkit release nothing matches."""
    root = make_cars196_devkit(tmp_path)
    (root / "Cars196.csv").write_text("img_name,color\n" + "".join(f"{n},red\n" for n in range(8055, 8060)))
    data = load_cars196(root)
    assert "color" not in data.labels.columns
    message = data.missing_columns["color"]
    assert "5 of 5 rows" in message and "'8055'" in message and "cars_test/00001.jpg" in message
    assert "\n" not in message


def test_colour_hint_gives_the_authors_img_name_form(tmp_path):
    data = load_cars196(make_cars196(tmp_path, color_csv=False))
    assert "image number of the full release such as 8055 (car_ims/008055.jpg)" in data.missing_columns["color"]


def _rewrite_annotations(root, rows):
    names = scipy.io.loadmat(root / "cars_annos.mat")["class_names"]
    scipy.io.savemat(root / "cars_annos.mat", {"annotations": _struct(rows), "class_names": names})


@pytest.mark.parametrize("damage, expected", [
    ("truncated", r"cars_annos.mat: cannot be read as a MATLAB file .*re-extract it"),
    ("no class field", r"annotations struct of .*cars_annos.mat lacks field\(s\) class \(it has relative_im_path, "
                       r"bbox_x1\); re-extract"),
    ("class 197", r"image car_ims/000001.jpg has class 197 but the class_names .* list 196 classes \(1..196\)"),
])
def test_damaged_annotations_are_one_line_errors(tmp_path, damage, expected):
    root = make_cars196(tmp_path)
    if damage == "truncated":
        (root / "cars_annos.mat").write_bytes(b"MATLAB 5.0 garbage")
    elif damage == "no class field":
        _rewrite_annotations(root, [{"relative_im_path": "car_ims/000001.jpg", "bbox_x1": 1}])
    else:
        _rewrite_annotations(root, [{"relative_im_path": "car_ims/000001.jpg", "class": 197}])
    with pytest.raises(DatasetError, match=expected) as error:
        load_cars196(root)
    assert "\n" not in str(error.value)


def test_csv_rows_giving_one_image_two_colours_are_refused_not_overwritten(tmp_path):
    """A second row for image 5 (``yellow`` after ``mixed``) silently replaced its colour with the later one."""
    root = make_cars196(tmp_path)
    path = root / "Cars196.csv"
    row = next(line for line in path.read_text().splitlines() if line.startswith("5,"))
    assert row.endswith(",mixed")
    path.write_text(path.read_text() + row + "\n")          # the same row again: harmless
    assert load_cars196(root).labels.loc["car_ims/000005.jpg", "color"] == "mixed"
    path.write_text(path.read_text() + row.rsplit(",", 1)[0] + ",yellow\n")
    with pytest.raises(DatasetError, match=r"Cars196.csv line 17: image car_ims/000005.jpg has color 'mixed' on line "
                                           r"6 and 'yellow' on line 17; keep one row per image") as error:
        load_cars196(root)
    assert "\n" not in str(error.value)
