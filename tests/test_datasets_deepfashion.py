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
