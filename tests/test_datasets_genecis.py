"""The GeneCIS loader on synthetic annotation files with the official schema (the real ones are not shipped)."""
import json
import os
from pathlib import Path

import numpy as np
import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf
from PIL import Image

from indirect.datasets.base import DatasetError
from indirect.datasets.genecis import DILATION, TASKS, crop_item, dilated_box, expand_to_square, load_genecis, query_counts

CONF = Path(__file__).resolve().parents[1] / "conf"
N_TEMPLATES = 5


def official_crop(path, bbox, dilate=DILATION):
    """facebookresearch/genecis datasets/vaw_dataset.py load_cropped_image + expand2square, copied as the reference."""
    im = Image.open(path)
    im_width, im_height = im.size
    width, height = bbox[2], bbox[3]
    orig_left, orig_top = bbox[0], bbox[1]
    left, top = max(0, orig_left - dilate * width), max(0, orig_top - dilate * height)
    right, bottom = min(im_width, left + (1 + dilate) * width), min(im_height, top + (1 + dilate) * height)
    im = im.crop((left, top, right, bottom))
    bg_color = (0,) if im.mode == 'L' else (0, 0, 0)
    width, height = im.size
    if width == height:
        return im
    if width > height:
        result = Image.new(im.mode, (width, width), bg_color)
        result.paste(im, (0, (width - height) // 2))
    else:
        result = Image.new(im.mode, (height, height), bg_color)
        result.paste(im, ((height - width) // 2, 0))
    return result


def _write_image(path: Path, size, seed: int, mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    channels = () if mode == "L" else (3,)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], *channels), dtype=np.uint8), mode).save(path, quality=95)


def make_genecis(root: Path, n_templates: int = N_TEMPLATES) -> Path:
    """All four tasks: 14-item galleries; change_object's first gallery repeats its target, like the official file."""
    for task in TASKS:
        objects = task.endswith("_object")
        templates = []
        for t in range(n_templates):
            numbers = [100 * t + i for i in range(16)]  # reference, target, 14 gallery items
            if objects:
                entries = [{"val_image_id": n} for n in numbers]
            else:
                entries = [{"image_id": n, "instance_bbox": [3 + n % 7, 2 + n % 5, 10 + n % 9, 6 + n % 11],
                            "object_name": "car", "attributes": ["red"]} for n in numbers]
            gallery = entries[2:]
            if task == "change_object" and t == 0:
                gallery[5] = dict(entries[1])
            templates.append({"reference": entries[0], "target": entries[1], "gallery": gallery,
                              "condition": "color" if task == "focus_attribute" else f"thing{t}"})
        (root / "genecis").mkdir(parents=True, exist_ok=True)
        (root / "genecis" / f"{task}.json").write_text(json.dumps(templates))
        for entry in {json.dumps(e, sort_keys=True): e for tpl in templates
                      for e in [tpl["reference"], tpl["target"], *tpl["gallery"]]}.values():
            if objects:
                _write_image(root / "val2017" / f"{entry['val_image_id']:012d}.jpg", (40, 30), entry["val_image_id"])
            else:
                mode = "L" if entry["image_id"] % 4 == 0 else "RGB"
                _write_image(root / "VG_100K_all" / f"{entry['image_id']}.jpg", (48, 36), entry["image_id"], mode)
    return root


@pytest.fixture
def genecis_root(tmp_path):
    return make_genecis(tmp_path / "genecis_data")


@pytest.mark.parametrize("task", TASKS)
def test_every_task_gives_the_documented_counts(genecis_root, tmp_path, task):
    data = load_genecis(genecis_root, task, crops_dir=tmp_path / "crops")
    queries, counts = data.queries, query_counts(data)
    repeated = 1 if task == "change_object" else 0
    assert counts["templates"] == len(queries) == N_TEMPLATES
    assert counts["gallery_sizes"] == [14] and all(len(q.candidates) == 15 for q in queries)
    assert counts["repeated_targets"] == repeated
    assert counts["items"] == len(data) == N_TEMPLATES * 16 - repeated
    assert {q.kind for q in queries} == {task.split("_")[0]} and {q.notion for q in queries} == {task.split("_")[1]}
    assert all(path.is_file() for path in data.paths)
    assert set(data.ids) >= {i for q in queries for i in (q.reference, *q.candidates)}


def test_object_items_are_the_coco_photos(genecis_root):
    data = load_genecis(genecis_root, "focus_object")
    first = data.queries[0]
    assert first.reference == "000000000000" and first.target == "000000000001"
    assert data.paths[data.ids.index("000000000001")] == genecis_root / "val2017" / "000000000001.jpg"


def test_the_repeated_target_is_the_same_item(genecis_root):
    query = load_genecis(genecis_root, "change_object").queries[0]
    assert query.gallery[5] == query.target and query.candidates.count(query.target) == 2


def test_dilated_box_follows_the_official_arithmetic():
    # right/bottom start from the moved left/top: the box grows 0.7 w left and up only
    assert dilated_box([50, 20, 10, 10], (100, 60)) == pytest.approx((43, 13, 60, 30))
    assert dilated_box([2, 2, 10, 20], (100, 60)) == pytest.approx((0, 0, 17, 34))   # clamped at 0: 1.7 w wide
    assert dilated_box([95, 50, 10, 10], (100, 60)) == pytest.approx((88, 43, 100, 60))


def test_expand_to_square_pads_black_and_centres():
    wide = expand_to_square(Image.new("RGB", (30, 10), (255, 255, 255)))
    pixels = np.asarray(wide)
    assert wide.size == (30, 30)
    assert pixels[:10].max() == 0 and pixels[10:20].min() == 255 and pixels[20:].max() == 0
    tall = np.asarray(expand_to_square(Image.new("L", (5, 12), 200)))
    assert tall.shape == (12, 12) and tall[:, :3].max() == 0 and tall[:, 3:8].min() == 200 and tall[:, 8:].max() == 0


@pytest.mark.parametrize("bbox", [[3, 2, 10, 6], [0.5, 7.25, 13.5, 20.75], [30, 4, 17, 30]])
@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_crops_match_the_official_code_pixel_for_pixel(tmp_path, bbox, mode):
    path = tmp_path / "1.jpg"
    _write_image(path, (48, 36), 1, mode)
    ours, theirs = crop_item(path, bbox), official_crop(path, bbox)
    assert ours.mode == theirs.mode and ours.size == theirs.size and ours.size[0] == ours.size[1]
    assert np.array_equal(np.asarray(ours), np.asarray(theirs))


def test_written_crops_hold_the_official_pixels(genecis_root, tmp_path):
    data = load_genecis(genecis_root, "change_attribute", crops_dir=tmp_path / "crops")
    template = json.loads((genecis_root / "genecis" / "change_attribute.json").read_text())[0]
    item = data.queries[0].reference
    expected = official_crop(genecis_root / "VG_100K_all" / f"{template['reference']['image_id']}.jpg",
                             template["reference"]["instance_bbox"])
    with Image.open(data.paths[data.ids.index(item)]) as written:
        assert np.array_equal(np.asarray(written), np.asarray(expected))


def test_crops_are_written_once(genecis_root, tmp_path):
    load_genecis(genecis_root, "focus_attribute", crops_dir=tmp_path / "crops")
    crop = next((tmp_path / "crops").glob("*.png"))
    os.utime(crop, (1, 1))
    load_genecis(genecis_root, "focus_attribute", crops_dir=tmp_path / "crops")
    assert crop.stat().st_mtime == 1


def test_a_crop_is_cut_again_when_its_source_image_changes(genecis_root, tmp_path):
    """A replaced Visual Genome photo (same name) left its old crop, and the old crop's embedding,
    in use; crops.json records what each crop was cut from."""
    import shutil

    root = tmp_path / "genecis"
    shutil.copytree(genecis_root, root)
    data = load_genecis(root, "change_attribute", crops_dir=tmp_path / "crops")
    template = json.loads((root / "genecis" / "change_attribute.json").read_text())[0]
    source = root / "VG_100K_all" / f"{template['reference']['image_id']}.jpg"
    crop_path = data.paths[data.ids.index(data.queries[0].reference)]
    before = np.asarray(Image.open(crop_path)).copy()
    with Image.open(source) as image:
        Image.fromarray(255 - np.asarray(image.convert("RGB"))).save(source)
    again = load_genecis(root, "change_attribute", crops_dir=tmp_path / "crops")
    expected = official_crop(source, template["reference"]["instance_bbox"])
    with Image.open(again.paths[again.ids.index(again.queries[0].reference)]) as written:
        assert np.array_equal(np.asarray(written), np.asarray(expected))
        assert not np.array_equal(np.asarray(written), before)
    assert json.loads((tmp_path / "crops" / "crops.json").read_text())


def one_line(error) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


def test_wrong_root_is_one_line(tmp_path):
    with pytest.raises(DatasetError) as error:
        load_genecis(tmp_path / "nowhere", "focus_object")
    assert "nowhere" in one_line(error) and "dataset.root" in one_line(error)


def test_missing_annotations_are_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError) as error:
        load_genecis(tmp_path / "empty", "focus_attribute")
    assert "focus_attribute.json" in one_line(error)


def test_missing_images_are_one_line(genecis_root):
    (genecis_root / "val2017" / "000000000101.jpg").unlink()
    with pytest.raises(DatasetError) as error:
        load_genecis(genecis_root, "focus_object")
    assert "1 image(s)" in one_line(error) and "000000000101.jpg" in one_line(error) and "dataset.coco_images" in one_line(error)


def test_unknown_task_and_bad_template_are_one_line(genecis_root):
    with pytest.raises(DatasetError) as error:
        load_genecis(genecis_root, "focus_colour")
    assert "focus_attribute" in one_line(error)
    (genecis_root / "genecis" / "focus_object.json").write_text(json.dumps([{"reference": {"val_image_id": 1}}]))
    with pytest.raises(DatasetError) as error:
        load_genecis(genecis_root, "focus_object")
    assert "template 0" in one_line(error)


def test_the_config_builds_the_loader(genecis_root, tmp_path):
    config = OmegaConf.create({"paths": {"cache_dir": str(tmp_path / "cache"), "data_dir": str(tmp_path)},
                               "dataset": OmegaConf.load(CONF / "dataset" / "genecis.yaml")})
    config.dataset.root = str(genecis_root)
    config.dataset.task = "focus_attribute"
    options = {k: v for k, v in OmegaConf.to_container(config.dataset, resolve=True).items() if k not in ("name", "notions")}
    data = instantiate(options, _convert_="all")
    assert data.name == "genecis" and query_counts(data)["templates"] == N_TEMPLATES
    assert all(str(p).startswith(str(tmp_path / "cache" / "genecis_crops")) for p in data.paths)


@pytest.mark.parametrize("task", ["focus_attribute", "change_object"])
def test_train_eval_runs_a_synthetic_task(genecis_root, tmp_path, task):
    """``train_eval.py evaluation=conditional dataset=genecis dataset.task=<task>`` in process, on a tiny backbone."""
    from conftest import TINY, run_in_process
    from indirect.conditional import METHODS

    results = run_in_process(tmp_path, "evaluation=conditional", "dataset=genecis", f"dataset.root={genecis_root}",
                             f"dataset.task={task}", *TINY)
    kind = task.split("_")[0]
    assert set(results["methods"]) == {f"{m}+{kind}" for m in (*METHODS, "chance")}
    assert results["notion"] == task and results["n_queries"] == {kind: N_TEMPLATES} and results["skipped_queries"] == {kind: 0}
    assert results["n_images"] == N_TEMPLATES * 16 - (task == "change_object")  # the repeated target is one item
    for metrics in results["methods"].values():
        assert len(metrics["recall_at_1"]["runs"]) == 2
        assert 0.0 <= metrics["recall_at_1"]["mean"] <= metrics["recall_at_2"]["mean"] <= metrics["recall_at_3"]["mean"] <= 1.0
    assert results["fallback_conditions"] == []
    # change_object's repeated target leaves 14 distinct candidates in one template
    expected = ((N_TEMPLATES - 1) / 15 + 1 / 14) / N_TEMPLATES if task == "change_object" else 1 / 15
    assert results["chance"][kind]["recall_at_1"] == pytest.approx(expected)
    assert (tmp_path / "run" / "results.md").is_file()


def test_train_eval_refuses_genecis_without_the_conditional_evaluation(genecis_root, tmp_path):
    from conftest import run_in_process
    from indirect.errors import ConfigError

    with pytest.raises(ConfigError) as error:
        run_in_process(tmp_path, "dataset=genecis", f"dataset.root={genecis_root}")
    assert one_line(error).endswith("run it with evaluation=conditional")


def test_train_eval_refuses_a_wrong_root_in_one_line(tmp_path):
    from conftest import run_in_process

    with pytest.raises(DatasetError) as error:
        run_in_process(tmp_path, "evaluation=conditional", "dataset=genecis", f"dataset.root={tmp_path / 'nowhere'}")
    assert "nowhere" in one_line(error)


def test_the_script_refuses_a_wrong_root_in_one_line(tmp_path, capsys):
    import importlib.util

    spec = importlib.util.spec_from_file_location("conditional_eval", CONF.parent / "scripts" / "conditional_eval.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.main(["--genecis-root", str(tmp_path / "nowhere"), "--task", "focus_object",
                        "--cache-dir", str(tmp_path / "cache")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: dataset 'genecis'") and "nowhere" in err and "\n" not in err


def test_boxes_that_differ_beyond_six_digits_are_two_items():
    """Ids spelled boxes with {:g} (six significant digits): 1000.25 and 1000.5 became one item,
    the second box never cut, a distinct crop taken for a copy of the target."""
    from indirect.datasets.genecis import _item

    items = {}
    first = _item({"image_id": 1, "instance_bbox": [1000.25, 500, 40, 30]}, False, items)
    second = _item({"image_id": 1, "instance_bbox": [1000.5, 500, 40, 30]}, False, items)
    assert first == "1_1000.25_500_40_30" and second == "1_1000.5_500_40_30" and len(items) == 2
    assert _item({"image_id": 7, "instance_bbox": [10.0, 10, 30, 20]}, False, {}) == "7_10_10_30_20"


def _edit_first_template(root: Path, task: str, edit) -> Path:
    path = root / "genecis" / f"{task}.json"
    templates = json.loads(path.read_text())
    edit(templates[0])
    path.write_text(json.dumps(templates))
    return path


@pytest.mark.parametrize("task, edit, words", [
    ("focus_attribute", lambda t: t.update(condition=None), "condition None"),
    ("focus_attribute", lambda t: t.update(condition=" "), "condition ' '"),
    ("focus_object", lambda t: t["target"].update(val_image_id=1.7), "val_image_id 1.7"),
    ("focus_object", lambda t: t["target"].update(val_image_id=True), "val_image_id True"),
    ("focus_attribute", lambda t: t["target"].update(instance_bbox=[3, float("nan"), 5, 5]), "finite"),
    ("focus_attribute", lambda t: t["target"].update(instance_bbox=[100, 100, 5, 5]), "outside its 48x36 image"),
    ("focus_attribute", lambda t: t["target"].update(instance_bbox=[-50, -50, 5, 5]), "outside its 48x36 image"),
    ("focus_attribute", lambda t: t["target"].update(instance_bbox=[3, 3, 0.1, 0.1]), "no pixel"),
    ("focus_object", lambda t: t.update(target=t["reference"]), "reference is its target"),
])
def test_templates_that_would_be_scored_wrongly_are_refused_naming_the_file(genecis_root, tmp_path, task, edit, words):
    """A null condition was scored as the text "None", id 1.7 as image 1, a box outside its image
    crashed (ValueError traceback) or cropped a strip that is not the object."""
    path = _edit_first_template(genecis_root, task, edit)
    with pytest.raises(DatasetError) as error:
        load_genecis(genecis_root, task, crops_dir=tmp_path / "crops")
    assert words in one_line(error) and str(path) in one_line(error)
