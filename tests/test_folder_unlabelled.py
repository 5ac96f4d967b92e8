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
    with pytest.raises(DatasetError, match="1 image\\(s\\) sit directly in .*move them into class folders "
                                           "<root>/<label>/<image>, or set dataset.labels=none to search them"):
        load_folder(root, labels="folders")
    with pytest.raises(DatasetError, match="labels='bogus'"):
        load_folder(root, labels="bogus")


def test_a_tree_without_images_is_one_line(tmp_path):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "sub" / "a.txt").write_text("x")
    with pytest.raises(DatasetError, match="no images .* found under") as error:
        load_folder(tmp_path / "empty")
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("rows, message", [
    ('path,label\n"red/0.png,red\n', r"labels.csv cannot be read as a CSV \(Error tokenizing data.*\); fix the file"),
    ("path,label\n", r"labels.csv lists no images \(a header, no rows\); add one row per image"),
    ("path,label\nred/0.png,red\nblue/0.png,blue\n./red/0.png,red\n",
     r"labels.csv lists 1 image\(s\) more than once, e.g. red/0.png; keep one row per image"),
])
def test_an_unreadable_empty_or_repeating_csv_is_one_line_naming_it(tmp_path, rows, message):
    root = write_image_folder(tmp_path / "photos", per_class=1)
    (root / "labels.csv").write_text(rows)
    with pytest.raises(DatasetError, match=message) as error:
        load_folder(root, csv="labels.csv")
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


def test_a_folder_reached_twice_through_links_is_listed_once(tmp_path, caplog):
    """cats/up -> .. made every image appear once per loop turn (82 ids from 2 files), each an
    exact duplicate in the neighbour metrics; a link to a folder outside the tree still counts."""
    root = write_image_folder(tmp_path / "img", per_class=2)
    (root / "red" / "up").symlink_to("..")
    outside = write_image_folder(tmp_path / "more", per_class=1)
    (root / "extra").symlink_to(outside / "blue")
    (root / "extra_again").symlink_to(outside / "blue")
    with caplog.at_level(logging.WARNING):
        data = load_folder(root)
    assert len(data.ids) == 6 + 1 and "extra/0.png" in data.ids
    assert not any("/up/" in i for i in data.ids) and "extra_again/0.png" not in data.ids
    assert "2 linked folder(s)" in caplog.text


def test_a_file_name_that_is_not_utf8_is_one_line_before_anything_is_embedded(tmp_path):
    """The cache stores ids as UTF-8: such a name crashed the run after every image was embedded."""
    import os

    root = write_image_folder(tmp_path / "img", per_class=1)
    os.rename(root / "red" / "0.png", os.path.join(os.fsencode(root / "red"), b"caf\xe8.png"))
    with pytest.raises(DatasetError, match=r"1 image name\(s\) are not valid UTF-8, e.g. b'red/caf\\xe8.png'; rename"):
        load_folder(root)


def _image(path, seed):
    from layouts import write_image

    return write_image(path, seed)


def test_csv_labels_with_spaces_after_the_comma_are_one_class(tmp_path):
    """"b.jpg, cat" made a class " cat" beside "cat": two classes where the user wrote one."""
    _image(tmp_path / "a.jpg", 1), _image(tmp_path / "b.jpg", 2)
    (tmp_path / "labels.csv").write_text("path,label\na.jpg,cat\nb.jpg, cat \n")
    assert load_folder(tmp_path, csv="labels.csv").labels["label"].tolist() == ["cat", "cat"]


def test_a_csv_listing_one_image_under_two_paths_is_refused(tmp_path):
    _image(tmp_path / "a.jpg", 1), _image(tmp_path / "b.jpg", 2)
    (tmp_path / "labels.csv").write_text(f"path,label\na.jpg,x\n{tmp_path / 'a.jpg'},y\nb.jpg,y\n")
    with pytest.raises(DatasetError) as error:
        load_folder(tmp_path, csv="labels.csv")
    message = str(error.value)
    assert "\n" not in message and "twice" in message and "a.jpg" in message


def test_a_linked_image_file_is_listed_once(tmp_path, caplog):
    """dog/c.jpg -> ../cat/a.jpg was a second gallery image (an exact duplicate under another label)."""
    import os

    _image(tmp_path / "cat" / "a.jpg", 1), _image(tmp_path / "dog" / "b.jpg", 2)
    os.symlink("../cat/a.jpg", tmp_path / "dog" / "c.jpg")
    with caplog.at_level(logging.WARNING):
        labelled = load_folder(tmp_path)
    assert labelled.ids == ["cat/a.jpg", "dog/b.jpg"] and labelled.labels["label"].tolist() == ["cat", "dog"]
    assert "dog/c.jpg" in caplog.text
