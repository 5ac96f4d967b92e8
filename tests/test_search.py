"""Notion-space search on unlabelled folders: the issue's acceptance on 400 demo-world images,
the saved space, bad queries, the indexes, and scripts/search.py end to end."""
import json
import os
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from PIL import Image

from conftest import ROOT
from indirect import NotionSpace
from indirect.backbones.demo import DemoBackbone
from indirect.datasets.shapes import load_shapes
from indirect.errors import BackboneError, ConfigError, PromptError, SearchError
from indirect.prompts.builder import build_prompts, load_vocabulary
from indirect.search.index import build_index, exact_neighbours, recall_at, search_index, unit_rows
from indirect.search.run import search

DEMO = {"_target_": "indirect.backbones.demo.DemoBackbone", "device": "cpu"}
PROMPTS = build_prompts(["a {} shape", "a {} object"], load_vocabulary("shapes_color"))
PROMPTS_RGB = ["a red shape", "a green shape", "a blue shape"]
NESTED = ["", "holiday", "misc/deeper", "a/b/c"]
EVIL = "x<img src=x onerror=alert(1)>.png"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """400 demo images copied flat and nested (mixed depths: no labels), plus what the tool must
    skip; the colour of every copy is known to the test only."""
    base = tmp_path_factory.mktemp("search")
    shapes = load_shapes(base / "src", n_images=400, seed=3)
    colour = {}
    for layout in ("flat", "nested"):
        for n, (image_id, path) in enumerate(zip(shapes.ids, shapes.paths)):
            relative = f"{image_id}.png" if layout == "flat" else f"{NESTED[n % 4]}/{image_id}.png".lstrip("/")
            (base / layout / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, base / layout / relative)
            colour[(layout, relative)] = shapes.labels.at[image_id, "color"]
        (base / layout / ".hidden").mkdir()
        shutil.copy(shapes.paths[0], base / layout / ".hidden" / "ghost.png")
        (base / layout / "notes.txt").write_text("not an image")
    return {"base": base, "colour": colour, "backbone": DemoBackbone(device="cpu")}


def same_colour_share(space, colour, layout, which):
    agree = total = 0
    for image_id in space.ids:
        ids, distances = space.search(image_id, k=5, space=which)
        assert len(ids) == 5 and image_id not in ids and np.all(np.diff(distances) >= -1e-6)
        agree += sum(colour[(layout, i)] == colour[(layout, image_id)] for i in ids)
        total += len(ids)
    return agree / total


@pytest.mark.parametrize("layout", ["flat", "nested"])
def test_acceptance_colour_neighbours_on_unlabelled_folders(world, layout):
    space = NotionSpace.fit(world["backbone"], PROMPTS, world["base"] / layout, embed_options={"num_workers": 0},
                            cache_dir=world["base"] / "cache")
    assert len(space.ids) == 400 and space.labels is None  # hidden and non-image files skipped, no labels
    projected = same_colour_share(space, world["colour"], layout, "projected")
    raw = same_colour_share(space, world["colour"], layout, "raw")
    print(f"{layout}: top-5 same colour, notion space {projected:.3f}, raw space {raw:.3f}")
    assert projected >= 0.90 and projected > raw
    ids, distances = space.search("a red shape", k=5)
    assert len(ids) == 5 and set(ids) <= set(space.ids)
    assert sum(world["colour"][(layout, i)] == "red" for i in ids) >= 4


@pytest.fixture(scope="module")
def saved(world, tmp_path_factory):
    space = NotionSpace.fit(DEMO, PROMPTS, world["base"] / "nested", n_components=32, embed_options={"num_workers": 0},
                            cache_dir=world["base"] / "cache")
    return space, space.save(tmp_path_factory.mktemp("space") / "space")


def test_saved_space_reloads_and_answers_text_image_and_vector_queries(saved, world):
    space, directory = saved
    assert sorted(p.name for p in directory.iterdir()) == ["projected.faiss", "projected.h5", "projector.pt",
                                                           "raw.faiss", "raw.h5", "space.json"]
    info = json.loads((directory / "space.json").read_text())
    assert info["backbone"]["name"] == "demo" and info["backbone"]["config"] == DEMO
    assert info["prompts"] == PROMPTS and info["n_components"] == 32 and info["indexes"]["projected"]["kind"] == "exact"
    loaded = NotionSpace.load(directory)  # the backbone is rebuilt from space.json on the first text query
    query = space.ids[7]
    for which in ("projected", "raw"):
        assert loaded.search(query, 5, space=which)[0] == space.search(query, 5, space=which)[0]
    text_ids, text_distances = loaded.search("a blue object", 5)
    assert text_ids == space.search("a blue object", 5)[0] and np.allclose(text_distances, space.search("a blue object", 5)[1])
    path = world["base"] / "nested" / query
    by_path = loaded.search(path, 6, exclude_self=False)[0]
    with Image.open(path) as image:
        by_pixels = loaded.search(image, 6)[0]
    assert by_path[0] == query and by_pixels[0] == query and by_pixels[1:4] == by_path[1:4]
    raw_vector = space.raw[space.ids.index(query)]
    assert loaded.search(raw_vector, 5)[0][0] == query  # a raw vector is not known as an image of the collection
    assert loaded.search(space.projected[space.ids.index(query)], 5)[0][0] == query
    with pytest.raises(SearchError, match="projected embedding; the raw space needs a 384-dim"):
        loaded.search(space.projected[0], 5, space="raw")


def test_space_of_a_backbone_object_needs_it_back_for_text_and_refuses_another(saved, world, tmp_path):
    space, _ = saved
    bare = NotionSpace.from_embeddings(space.backbone.text_features(PROMPTS[:8]).numpy(), space.ids, space.raw,
                                       PROMPTS[:8], n_components=4, backbone=world["backbone"])
    directory = bare.save(tmp_path / "bare")
    with pytest.raises(BackboneError, match="NotionSpace.load\\(dir, backbone=...\\)"):
        NotionSpace.load(directory).search("a red shape", 3)
    assert len(NotionSpace.load(directory, backbone=world["backbone"]).search("a red shape", 3)[0]) == 3
    other = DemoBackbone(device="cpu")
    other._sha256 = "0" * 64
    with pytest.raises(BackboneError, match="differs from the one that built this space \\(demo\\) in weights"):
        NotionSpace.load(directory, backbone=other)


@pytest.mark.parametrize("query, k, message", [
    ("holiday/nothing_here.jpg", 5, "query image holiday/nothing_here.jpg not found"),
    ("   ", 5, "empty text query"),
    ("a red shape", 0, "k=0: the number of neighbours must be an integer >= 1"),
    ("a red shape", True, "k=True"),
    (np.zeros(7), 5, "7-dim query vector fits neither"),
])
def test_bad_queries_are_one_line_errors(saved, query, k, message):
    space, _ = saved
    with pytest.raises(SearchError, match=message.replace("(", "\\(")) as error:
        space.search(query, k)
    assert "\n" not in str(error.value)


def test_a_query_image_is_decoded_as_the_collection_was(tmp_path):
    """A photo stored sideways (EXIF orientation) and a 16-bit scan, queried from outside the
    collection, give the vectors their copies inside it were cached with (was convert('RGB'):
    no turn, 16-bit clipped; max difference 0.51 and 0.68)."""
    from indirect.backbones.open_clip_backbone import OpenClipBackbone

    root, outside = tmp_path / "photos", tmp_path / "queries"
    root.mkdir(), outside.mkdir()
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (30, 60, 3), dtype=np.uint8)
    pixels[:, :20] = 255
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(pixels).save(root / "rotated.jpg", exif=exif.tobytes(), quality=95)
    Image.fromarray(rng.integers(0, 65536, (40, 40)).astype(np.uint16)).save(root / "scan16.png")
    Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(root / "plain.png")
    space = NotionSpace.fit(OpenClipBackbone("indirect-tiny-vit", None, device="cpu", seed=0),
                            ["a red shape", "a blue shape", "a green shape"], root, n_components=2,
                            cache_dir=tmp_path / "cache", embed_options=dict(num_workers=0))
    for name in ("rotated.jpg", "scan16.png", "plain.png"):
        shutil.copyfile(root / name, outside / name)
        query, own = space.query_vector(str(outside / name), "raw")
        assert own is None
        np.testing.assert_allclose(query, space.raw[space.ids.index(name)], atol=1e-5, err_msg=name)


def test_missing_space_folder_is_a_one_line_error(tmp_path):
    with pytest.raises(SearchError, match="holds no saved notion space"):
        NotionSpace.load(tmp_path)


def test_exact_index_matches_brute_force_and_ivf_reaches_its_measured_recall():
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((50, 16)).astype(np.float32)
    data = unit_rows(centres[rng.integers(0, 50, 5000)] + 0.7 * rng.standard_normal((5000, 16)).astype(np.float32))
    queries = unit_rows(centres[rng.integers(0, 50, 200)] + 0.7 * rng.standard_normal((200, 16)).astype(np.float32))
    exact, info = build_index(data)
    assert info.kind == "exact" and info.recall_at_10 is None
    rows, distances = search_index(exact, queries[0], 10)
    cosine = 1 - data @ queries[0]
    assert list(rows) == list(np.argsort(cosine)[:10]) and np.allclose(distances, np.sort(cosine)[:10], atol=1e-5)
    ivf, info = build_index(data, exact_limit=1000)
    assert info.kind == "ivf" and info.nlist == 71 and info.recall_at_10 >= 0.95
    found = np.stack([search_index(ivf, q, 10)[0] for q in queries])
    held_out = recall_at(found, exact_neighbours(data, queries, 10))
    assert held_out >= 0.93 and info.nprobe < info.nlist  # approximate: it does not scan every cell


@pytest.mark.parametrize("override, message", [
    ("notion=shpe", "notion=shpe is not an option of the notion group"),
    ("topk=3", "topk is not a key of the config; did you mean top_k?"),
])
def test_search_refuses_a_misspelled_option_in_one_line(tmp_path, override, message):
    proc = run_search(tmp_path, "dataset=folder", f"dataset.root={tmp_path}", "queries=[x]", override, check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith(f"error: {message}")


def run_search(tmp_path, *overrides, check=True):
    """scripts/search.py in a subprocess (the entry point: its exit code and its one error line)."""
    args = [sys.executable, str(ROOT / "scripts" / "search.py"), "backbone=demo", "backbone.device=cpu", "logger=none",
            "embed.num_workers=0", f"paths.cache_dir={tmp_path}/cache", f"hydra.run.dir={tmp_path}/run", *overrides]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(args, capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    if check and proc.returncode != 0:
        raise AssertionError(f"search.py failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def search_in_process(tmp_path, cache, *overrides):
    """``indirect.search.run.search`` on conf/search.yaml composed as scripts/search.py composes it."""
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("search", overrides=["backbone=demo", "backbone.device=cpu", "logger=none", "embed.num_workers=0",
                                           f"paths.cache_dir={cache}", f"paths.output_dir={tmp_path}/run", *overrides])
    return search(cfg, tmp_path / "run")


@pytest.fixture(scope="module")
def photos(world, tmp_path_factory):
    """60 unlabelled images in a nested tree, one with a hostile name (holiday/x<img ...>.png)."""
    root = tmp_path_factory.mktemp("photos")
    sources = sorted((world["base"] / "flat").glob("*.png"))[:60]
    for n, source in enumerate(sources):
        target = root / NESTED[n % 4] / (EVIL if n == 5 else f"img_{n:03d}.png")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, target)
    return root


class Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.text = [], ""

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text += data


# the issue's command: an unlabelled tree, notion=custom without notion.name, prompts=custom
ISSUE = ["dataset=folder", "notion=custom", "prompts=custom", "prompts.vocabulary=[red,green,blue]",
         'prompts.templates=["a {} shape"]', "top_k=5"]


def test_search_on_an_unlabelled_tree_writes_json_gallery_figure_and_space(photos, world, tmp_path, capsys):
    queries = f"queries=[holiday/img_001.png,\"a red shape\",{photos / 'misc/deeper/img_002.png'},'holiday/{EVIL}']"
    files = search_in_process(tmp_path, world["base"] / "cache", *ISSUE, f"dataset.root={photos}", queries)
    run = tmp_path / "run"
    assert files["gallery"] == run / "gallery.html" and files["space"] == run / "space"
    result = json.loads((run / "neighbours.json").read_text())
    assert [q["query"] for q in result["queries"]] == ["holiday/img_001.png", "a red shape",
                                                      str(photos / "misc/deeper/img_002.png"), f"holiday/{EVIL}"]
    for answer in result["queries"]:
        for which in ("projected", "raw"):
            assert len(answer[which]) == 5 and all(set(h) == {"id", "distance"} for h in answer[which])
            assert all((photos / h["id"]).is_file() for h in answer[which])
        assert answer["query"] not in [h["id"] for h in answer["projected"]]
    assert [q["kind"] for q in result["queries"]] == ["id", "text", "id", "id"]
    source = (run / "gallery.html").read_text()
    page = Tags()
    page.feed(source)
    assert all(a["src"].startswith("data:") for t, a in page.tags if "src" in a)
    assert "query 4" in page.text and "a red shape" in page.text
    assert EVIL in page.text and "<img src=x" not in source and not [a for t, a in page.tags if "onerror" in a]
    assert Image.open(run / "neighbours.png").size[1] > 300
    space = NotionSpace.load(run / "space")
    assert len(space.ids) == 60 and f"holiday/{EVIL}" in space.ids and space.prompts == PROMPTS_RGB
    ids, _ = space.search(f"holiday/{EVIL}", 3)
    assert len(ids) == 3 and f"holiday/{EVIL}" not in ids
    out = capsys.readouterr().out
    assert "notion:" in out and "raw:" in out and "same label" not in out  # no labels: no agreement printed


def test_search_of_a_labelled_notion_shows_its_labels(world, tmp_path):
    """dataset=shapes notion=color: the notion's own prompts, its labels in neighbours.json."""
    files = search_in_process(tmp_path, world["base"] / "cache", "dataset=shapes", f"dataset.root={world['base'] / 'src'}",
                              "dataset.n_images=400", "dataset.seed=3", "notion=color", "n_components=16",
                              "queries=[shapes_000007,\"a red shape\"]", "top_k=5")
    result = json.loads(files["neighbours_json"].read_text())
    first = result["queries"][0]
    assert result["label_column"] == "color" and first["label"] == world["colour"][("flat", "shapes_000007.png")]
    assert first["agreement"]["projected"] >= 0.8 and "label" not in result["queries"][1]  # a text has no label
    assert NotionSpace.load(files["space"]).prompts == PROMPTS


def test_search_over_an_ivf_index_prints_both_measured_recalls_and_gives_top_k(photos, world, tmp_path, capsys):
    """exact_limit below the collection: each IVF index's recall@10 on images and on text-like
    queries (3 prompts + 200 blends) printed as stored, and top_k=30 neighbours per space."""
    files = search_in_process(tmp_path, world["base"] / "cache", *ISSUE, f"dataset.root={photos}", "top_k=30",
                              "exact_limit=10", 'queries=[holiday/img_001.png,"a red shape"]')
    result = json.loads(files["neighbours_json"].read_text())
    assert all(len(q["projected"]) == len(q["raw"]) == 30 for q in result["queries"])
    indexes = json.loads((files["space"] / "space.json").read_text())["indexes"]
    out = capsys.readouterr().out
    for name in ("projected", "raw"):
        info = indexes[name]
        assert info["kind"] == "ivf" and info["text_recall_queries"] == 203 and info["text_recall_at_10"] >= 0.95
        assert (f"{name} index: IVF, {info['nprobe']} of {info['nlist']} cells probed; recall@10 vs exact "
                f"{info['recall_at_10']:.3f} on 60 images, {info['text_recall_at_10']:.3f} on 203 text-like") in out


@pytest.mark.parametrize("override, error, message", [
    ("queries=[holiday/missing.jpg]", SearchError, "query image holiday/missing.jpg not found"),
    ("queries=['']", SearchError, "empty text query"),
    ("top_k=0", SearchError, "top_k=0: the number of neighbours must be an integer >= 1"),
    ("prompts.vocabulary=null", PromptError, "notion 'custom' of dataset 'folder' has no prompt vocabulary"),
    ("n_components=500", ConfigError, "n_components=500 exceeds the 384-d embeddings of demo"),
])
def test_search_refuses_bad_requests_in_one_line(photos, world, tmp_path, override, error, message):
    with pytest.raises(error, match=message.replace("(", "\\(")) as raised:
        search_in_process(tmp_path, world["base"] / "cache", *ISSUE, f"dataset.root={photos}",
                          "queries=[holiday/img_001.png]", override)
    assert "\n" not in str(raised.value) and not (tmp_path / "run" / "neighbours.json").exists()


def test_search_without_queries_names_the_key(photos, world, tmp_path):
    with pytest.raises(ConfigError, match="^queries has no value \\(\\?\\?\\?\\); set queries=<value> on the command line$"):
        search_in_process(tmp_path, world["base"] / "cache", *ISSUE, f"dataset.root={photos}")


def test_search_script_prints_one_error_line_and_exits_2(photos, tmp_path):
    proc = run_search(tmp_path, *ISSUE, f"dataset.root={photos}", "queries=[holiday/img_001.png]", "top_k=0", check=False)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines()[-1] == "error: top_k=0: the number of neighbours must be an integer >= 1"
    assert len([line for line in proc.stderr.splitlines() if line.startswith("error:")]) == 1


@pytest.mark.slow  # about 20 s alone (a subprocess that loads the demo model); minutes on a loaded machine
def test_search_script_runs_the_issues_command_as_written(photos, tmp_path):
    proc = run_search(tmp_path, *ISSUE, f"dataset.root={photos}", 'queries=[holiday/img_001.png,"a red shape"]')
    result = json.loads((tmp_path / "run" / "neighbours.json").read_text())
    assert [q["query"] for q in result["queries"]] == ["holiday/img_001.png", "a red shape"]
    assert all(len(q["projected"]) == len(q["raw"]) == 5 for q in result["queries"])
    assert all((tmp_path / "run" / name).exists() for name in ("gallery.html", "neighbours.png", "space/space.json"))
    assert "wrote " in proc.stdout
