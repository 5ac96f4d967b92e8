import pandas as pd
import pytest

from indirect.datasets.base import DatasetError
from indirect.datasets.cub200 import attribute_value, load_cub200, species_name
from layouts import CUB_EXPECTED, make_cub200


def test_names_for_text():
    assert species_name("001.Black_footed_Albatross") == "Black footed Albatross"
    assert attribute_value("has_bill_shape::curved_(up_or_down)") == "curved (up or down)"


def test_only_evaluation_classes_with_species_labels(tmp_path):
    data = load_cub200(make_cub200(tmp_path))
    assert len(data) == 7 and set(data.labels["class_id"]) == {101, 150, 200}
    assert data.labels.iloc[0]["species"] == "White Pelican"
    assert all(path.exists() for path in data.paths)


def test_prompt_vocabulary_is_the_training_species(tmp_path):
    data = load_cub200(make_cub200(tmp_path))
    train = data.vocabularies["train_species"]
    assert len(train) == 100 and train[:2] == ["Black footed Albatross", "Laysan Albatross"]
    assert not set(train) & set(data.labels["species"])


def test_attribute_labels_follow_the_certainty_rule(tmp_path):
    data = load_cub200(make_cub200(tmp_path))
    for index, (color, bill) in CUB_EXPECTED.items():
        row = data.labels.iloc[index]
        assert (None if pd.isna(row["primary_color"]) else row["primary_color"]) == color
        assert (None if pd.isna(row["bill_shape"]) else row["bill_shape"]) == bill
    assert data.unlabelled == {"primary_color": 3, "bill_shape": 2}


@pytest.mark.parametrize("where", ["base", "attributes"])
def test_attribute_names_found_in_either_place(tmp_path, where):
    data = load_cub200(make_cub200(tmp_path, attributes_at=where))
    assert data.labels.iloc[0]["primary_color"] == "black"


def test_without_attribute_names_the_columns_are_reported_missing(tmp_path):
    data = load_cub200(make_cub200(tmp_path, attributes_at="none"))
    assert "bill_shape" not in data.labels.columns
    assert "attributes.txt" in data.missing_columns["bill_shape"]


def test_root_may_be_the_dataset_folder_itself_and_ids_are_stable(tmp_path):
    first = load_cub200(make_cub200(tmp_path / "a") / "CUB_200_2011")
    second = load_cub200(make_cub200(tmp_path / "b", reverse=True))
    assert first.ids == second.ids
    assert first.labels["primary_color"].fillna("-").to_dict() == second.labels["primary_color"].fillna("-").to_dict()


def test_missing_files_are_explained(tmp_path):
    with pytest.raises(DatasetError, match="cub200.*does not exist.*caltech"):
        load_cub200(tmp_path / "nowhere")
    root = make_cub200(tmp_path)
    (root / "CUB_200_2011" / "classes.txt").unlink()
    with pytest.raises(DatasetError, match="classes.txt not found"):
        load_cub200(root)


def _append(path, text, first=False):
    path.write_text(text + path.read_text() if first else path.read_text() + text)


@pytest.mark.parametrize("damage, expected", [
    ("unknown class", r"image_class_labels.txt line 11: image 11 has class 201, which .*classes.txt does not list; "
                      r"the files come from different downloads"),
    ("non-integer class", r"image_class_labels.txt line 1: the class of image 1 'albatross' is not an integer"),
    ("11 fields", r"image_attribute_labels.txt line 188: has 11 fields where at most 9 are expected; every line must "
                  r"be '<image_id> <attribute_id> <is_present> <certainty_id> <time>'"),
    ("non-numeric flag", r"image_attribute_labels.txt line 188: present is 'yes', not an integer"),
    ("header in attributes.txt", r"cub/attributes.txt line 1: the first field 'id' is not an integer; every line must "
                                 r"be '<attribute_id> has_bill_shape::.*remove any header line"),
    ("header in classes.txt", r"classes.txt line 1: the first field 'class_id' is not an integer"),
])
def test_malformed_files_are_one_line_errors(tmp_path, damage, expected):
    root = make_cub200(tmp_path)
    base = root / "CUB_200_2011"
    if damage == "unknown class":
        path = base / "image_class_labels.txt"
        path.write_text(path.read_text().replace("11 200\n", "11 201\n"))
    elif damage == "non-integer class":
        path = base / "image_class_labels.txt"
        path.write_text(path.read_text().replace("1 1\n", "1 albatross\n", 1))
    elif damage == "11 fields":
        _append(base / "attributes" / "image_attribute_labels.txt", "1 1 0 3 12.5 0 0 0 0 0 0\n")
    elif damage == "non-numeric flag":
        _append(base / "attributes" / "image_attribute_labels.txt", "1 1 yes 3 12.5\n")
    elif damage == "header in attributes.txt":
        _append(root / "attributes.txt", "id name\n", first=True)
    else:
        _append(base / "classes.txt", "class_id class_name\n", first=True)
    with pytest.raises(DatasetError, match=expected) as error:
        load_cub200(root)
    assert "\n" not in str(error.value)


def test_six_field_attribute_lines_are_read(tmp_path):
    """The official file has a few lines with an extra field; the fixture writes one (image 5, attribute 10)."""
    root = make_cub200(tmp_path)
    lines = (root / "CUB_200_2011" / "attributes" / "image_attribute_labels.txt").read_text().splitlines()
    assert sorted({len(line.split()) for line in lines}) == [5, 6]
    assert load_cub200(root).labels.iloc[0]["primary_color"] == "black"


@pytest.mark.parametrize("damage, expected", [
    # an evaluation image (6, class 101) without its class line was dropped in silence: 6 images, not 7
    ("no class line", r"image_class_labels.txt: 1 image\(s\) of images.txt have no class line, e.g. image 6 "
                      r"\(101.White_Pelican/White_Pelican_0006.jpg\)"),
    # a second line for image 6 silently replaced its path (or its class) with the later one
    ("image listed twice", r"images.txt line 12: 6 is listed twice \(line 6 and line 12\); keep one line per id"),
    ("class listed twice", r"image_class_labels.txt line 12: 6 is listed twice \(line 6 and line 12\)"),
])
def test_images_are_never_dropped_or_relabelled_in_silence(tmp_path, damage, expected):
    root = make_cub200(tmp_path)
    base = root / "CUB_200_2011"
    if damage == "no class line":
        path = base / "image_class_labels.txt"
        path.write_text(path.read_text().replace("6 101\n", ""))
    elif damage == "image listed twice":
        _append(base / "images.txt", "6 150.Sage_Thrasher/Sage_Thrasher_0008.jpg\n")
    else:
        _append(base / "image_class_labels.txt", "6 150\n")
    with pytest.raises(DatasetError, match=expected) as error:
        load_cub200(root)
    assert "\n" not in str(error.value)


def test_bom_and_windows_line_endings_read_as_the_official_files(tmp_path):
    """A UTF-8 BOM (Notepad) made classes.txt's first id '\\ufeff1' and refused it as a header line."""
    root = make_cub200(tmp_path)
    expected = load_cub200(root)
    for path in [*(root / "CUB_200_2011").glob("*.txt"), root / "attributes.txt"]:
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes().replace(b"\n", b"\r\n"))
    data = load_cub200(root)
    assert data.ids == expected.ids and data.labels.equals(expected.labels)
