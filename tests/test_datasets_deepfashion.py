import pandas as pd
import pytest

from indirect.datasets.base import DatasetError
from indirect.datasets.deepfashion import ATTRIBUTE_GROUPS, load_deepfashion
from layouts import DEEPFASHION_TEST, make_deepfashion


def test_test_split_with_category_and_group_labels(tmp_path):
    data = load_deepfashion(make_deepfashion(tmp_path))
    assert len(data) == 8 and not any("Item_train" in i or "Item_val" in i for i in data.ids)
    row = data.labels.loc["img/Item_Dress_2/img_00000005.jpg"]
    assert (row["category"], row["category_type"], row["texture"], row["length"], row["fabric"], row["fit"]) == \
        ("Dress", "full", "floral", "maxi_length", "chiffon", "loose")
    assert data.labels.loc["img/Item_Jeans_1/img_00000003.jpg", "attr_denim"] == 1


def test_each_notion_uses_its_own_labels(tmp_path):
    """The original notebook evaluated texture, fabric and fit with category labels; here each has its own."""
    data = load_deepfashion(make_deepfashion(tmp_path))
    for group, values in ATTRIBUTE_GROUPS.items():
        labels = set(data.label_column(group).dropna())
        assert labels and labels <= set(values)
        assert not labels & set(data.labels["category"])


def test_rows_with_none_or_several_in_a_group_get_no_label(tmp_path):
    data = load_deepfashion(make_deepfashion(tmp_path))
    assert pd.isna(data.labels.loc["img/Item_Jeans_1/img_00000004.jpg", "texture"])  # striped and graphic
    assert pd.isna(data.labels.loc["img/Item_Dress_2/img_00000006.jpg", "fabric"])  # no fabric set
    assert data.unlabelled["texture"] == 1 and data.unlabelled["sleeve"] == 0


def test_ids_do_not_depend_on_file_order(tmp_path):
    first = load_deepfashion(make_deepfashion(tmp_path / "a"))
    second = load_deepfashion(make_deepfashion(tmp_path / "b", reverse=True))
    assert first.ids == second.ids and first.ids == sorted(first.ids)
    assert first.labels["category"].to_dict() == second.labels["category"].to_dict()
    assert len(first.ids) == len(DEEPFASHION_TEST)


def test_annotations_directly_in_root(tmp_path):
    root = make_deepfashion(tmp_path)
    for path in (root / "Anno_fine").iterdir():
        path.rename(root / path.name)
    (root / "Anno_fine").rmdir()
    assert len(load_deepfashion(root)) == 8


def test_broken_layouts_are_explained(tmp_path):
    root = make_deepfashion(tmp_path)
    (root / "Anno_fine" / "test_cate.txt").write_text("1\n2\n")
    with pytest.raises(DatasetError, match="must be aligned"):
        load_deepfashion(root)
    (root / "Anno_fine" / "test_attr.txt").unlink()
    with pytest.raises(DatasetError, match="test_attr.txt not found"):
        load_deepfashion(root)


def _first_line(path, text):
    lines = path.read_text().splitlines()
    path.write_text("\n".join([text, *lines[1:]]) + "\n")


@pytest.mark.parametrize("index", ["0", "51", "-1"])
def test_category_index_outside_the_list_is_refused_not_wrapped(tmp_path, index):
    root = make_deepfashion(tmp_path)
    _first_line(root / "Anno_fine" / "test_cate.txt", index)
    with pytest.raises(DatasetError, match=rf"test_cate.txt line 1: category index {index} is outside 1..50; "
                                           r"expected one 1-based category index") as error:
        load_deepfashion(root)
    assert "\n" not in str(error.value)


def test_category_name_instead_of_index_is_refused(tmp_path):
    root = make_deepfashion(tmp_path)
    _first_line(root / "Anno_fine" / "test_cate.txt", "Blouse")
    with pytest.raises(DatasetError, match=r"test_cate.txt line 1: category index 'Blouse' is not an integer"):
        load_deepfashion(root)


def test_category_list_without_its_count_line_is_refused_not_shifted(tmp_path):
    root = make_deepfashion(tmp_path)
    path = root / "Anno_fine" / "list_category_cloth.txt"
    path.write_text("\n".join(path.read_text().splitlines()[1:]) + "\n")
    with pytest.raises(DatasetError, match=r"list_category_cloth.txt line 1: the count 'category_name  "
                                           r"category_type' is not an integer; expected the count of categories"):
        load_deepfashion(root)


@pytest.mark.parametrize("edit, expected", [
    (lambda lines: [lines[0], *lines[2:]], r"the second line 'Anorak .*1' is not the header"),
    (lambda lines: lines[:-1], r"line 1 announces 50 categories but 49 follow"),
    (lambda lines: ["49", *lines[1:]], r"line 1 announces 49 categories but 50 follow"),
    (lambda lines: [*lines[:2], "Anorak", *lines[3:]], r"line 3: 'Anorak' lacks its type number"),
])
def test_malformed_category_lists_are_refused(tmp_path, edit, expected):
    root = make_deepfashion(tmp_path)
    path = root / "Anno_fine" / "list_category_cloth.txt"
    path.write_text("\n".join(edit(path.read_text().splitlines())) + "\n")
    with pytest.raises(DatasetError, match=expected) as error:
        load_deepfashion(root)
    assert "list_category_cloth.txt" in str(error.value) and "\n" not in str(error.value)


def test_category_names_and_indices_follow_the_list(tmp_path):
    data = load_deepfashion(make_deepfashion(tmp_path))
    assert data.labels.loc["img/Item_Tee_3/img_00000007.jpg", ["category", "category_type"]].tolist() == ["Tee", "upper"]
    assert data.labels.loc["img/Item_Jeans_1/img_00000003.jpg", "category_type"] == "lower"


def test_bom_and_windows_line_endings_read_as_the_official_files(tmp_path):
    """A UTF-8 BOM made test.txt's first id '\\ufeffimg/...' (an image that does not exist, later skipped as
    unreadable) and the other files' first value a refused non-integer."""
    root = make_deepfashion(tmp_path)
    expected = load_deepfashion(root)
    for path in (root / "Anno_fine").glob("*.txt"):
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes().replace(b"\n", b"\r\n"))
    data = load_deepfashion(root)
    assert data.ids == expected.ids and data.labels.equals(expected.labels)
    assert all(path.exists() for path in data.paths)


def test_image_listed_twice_in_test_txt_names_the_file_and_lines(tmp_path):
    root = make_deepfashion(tmp_path)
    path = root / "Anno_fine" / "test.txt"
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], lines[0], *lines[2:]]) + "\n")
    with pytest.raises(DatasetError, match=rf"test.txt line 2: {lines[0]} is listed twice \(line 1 and line 2\); "
                                           r"keep one line per image") as error:
        load_deepfashion(root)
    assert "\n" not in str(error.value)
