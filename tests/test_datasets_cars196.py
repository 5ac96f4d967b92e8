import pytest
import scipy.io

from indirect.datasets.base import DatasetError
from indirect.datasets.car_names import parse_car_name
from indirect.datasets.cars196 import load_cars196
from layouts import cars196_expected_color, make_cars196, make_cars196_devkit


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
])
def test_class_names_split_into_make_body_type_and_year(name, make, body_type, year):
    car = parse_car_name(name)
    assert (car.manufacturer, car.body_type, car.year) == (make, body_type, year)


def test_unknown_untyped_class_has_no_body_type():
    car = parse_car_name("Acme Roadrunner X 2010")
    assert car.body_type is None and car.model == "Roadrunner X"


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
