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
