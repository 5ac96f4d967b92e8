"""dataset=folder: any folder tree, labels optional; NaN/empty CSV labels are missing values."""
import logging
import shutil

import pytest

from conftest import run_in_process, write_image_folder
from indirect.datasets.folder import load_folder
from indirect.errors import ConfigError, DatasetError
from indirect.notions import Notion

LABEL = Notion("label", "label", ["a photo of a {}"], ["red", "green"])


def flatten(src, dst):
    """Every image of ``src`` directly in ``dst`` (names made unique), plus clutter to skip."""
    dst.mkdir(parents=True)
    for path in sorted(src.rglob("*.png")):
        shutil.copy(path, dst / f"{path.parent.name}_{path.name}")
    (dst / "notes.txt").write_text("not an image")
    (dst / ".DS_Store").write_bytes(b"\0")
    (dst / ".thumbs").mkdir()
    shutil.copy(next(src.rglob("*.png")), dst / ".thumbs" / "hidden.png")
    return dst


def test_flat_folder_without_labels_loads_every_image_and_logs_what_it_skipped(tmp_path, caplog):
    root = flatten(write_image_folder(tmp_path / "classes"), tmp_path / "flat")
    with caplog.at_level(logging.INFO, logger="indirect.datasets.folder"):
        data = load_folder(root)
    assert len(data) == 12 and data.ids[0] == "blue_0.png" and list(data.labels.columns) == []
    assert all(p.is_file() and not p.name.startswith(".") for p in data.paths)
    assert "skipped 2 hidden file(s)/folder(s) and 1 non-image file(s)" in caplog.text
    with pytest.raises(DatasetError, match="has no labels.*class sub-folders"):
        LABEL.labels(data)


def test_nested_tree_is_read_recursively_and_unlabelled_when_depths_differ(tmp_path):
    root = write_image_folder(tmp_path / "photos", per_class=2)
    (root / "red" / "deeper").mkdir()
    shutil.copy(root / "red" / "0.png", root / "red" / "deeper" / "x.png")
    shutil.copy(root / "red" / "0.png", root / "top.png")
    data = load_folder(root)
    assert "red/deeper/x.png" in data.ids and "top.png" in data.ids and len(data) == 8
    assert list(data.labels.columns) == []
    by_folder = load_folder(root / "red", labels="none")
    assert sorted(by_folder.ids) == ["0.png", "1.png", "deeper/x.png"]


def test_class_subfolders_still_label_and_folders_mode_takes_the_first_folder(tmp_path):
    root = write_image_folder(tmp_path / "photos", per_class=2)
    assert sorted(set(load_folder(root).labels["label"])) == ["blue", "green", "red"]
    (root / "red" / "deeper").mkdir()
    shutil.copy(root / "red" / "0.png", root / "red" / "deeper" / "x.png")
    labels = load_folder(root, labels="folders").labels["label"]
    assert labels["red/deeper/x.png"] == "red" and len(labels) == 7
    assert list(load_folder(root).labels.columns) == []  # auto: not every image at <root>/<label>/<image>
    shutil.copy(root / "red" / "0.png", root / "loose.png")
    with pytest.raises(DatasetError, match="1 image\\(s\\) sit directly in"):
        load_folder(root, labels="folders")
    with pytest.raises(DatasetError, match="labels='bogus'"):
        load_folder(root, labels="bogus")


def test_a_tree_without_images_is_one_line(tmp_path):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "sub" / "a.txt").write_text("x")
    with pytest.raises(DatasetError, match="no images .* found under") as error:
        load_folder(tmp_path / "empty")
    assert "\n" not in str(error.value)


def test_nan_and_empty_csv_labels_are_missing_values_counted_in_a_warning(tmp_path, caplog):
    root = write_image_folder(tmp_path / "photos", per_class=2)
    rows = ["path,material,colour", "red/0.png,wood,NaN", "red/1.png,,red", "green/0.png,steel,green",
            "green/1.png,NA,green", "blue/0.png,glass,", "blue/1.png,wood,blue"]
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    with caplog.at_level(logging.WARNING, logger="indirect.datasets.folder"):
        data = load_folder(root, csv="labels.csv")
    material = data.label_column("material")
    assert material.isna().sum() == 2 and set(material.dropna()) == {"wood", "steel", "glass"}
    assert data.label_column("colour").isna().sum() == 2 and "NaN" not in set(data.label_column("colour").dropna())
    assert "material: 2, colour: 2" in caplog.text


def test_csv_without_the_asked_label_column_names_the_csv_columns(tmp_path):
    root = write_image_folder(tmp_path / "photos", per_class=1)
    (root / "labels.csv").write_text("path,material,finish\nred/0.png,wood,matt\ngreen/0.png,steel,gloss\nblue/0.png,glass,matt\n")
    data = load_folder(root, csv="labels.csv")
    with pytest.raises(DatasetError, match="has no label column 'label'; its label columns: material, finish") as error:
        LABEL.labels(data)
    assert "\n" not in str(error.value)
    base = ["dataset=folder", f"dataset.root={root}", "dataset.csv=labels.csv", "backbone=demo", "prompts=custom",
            "prompts.vocabulary=[wood,steel]"]
    with pytest.raises(ConfigError, match="notion 'colour' is not defined .*its label columns: material, finish") as error:
        run_in_process(tmp_path, *base, "notion=custom", "notion.name=colour")
    assert "\n" not in str(error.value)
    with pytest.raises(DatasetError, match="has no label column 'label'; its label columns: material, finish"):
        run_in_process(tmp_path, *base, "notion=label")
