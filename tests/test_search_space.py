"""What a notion space answers must be true of the collection it names: IVF recall measured where
text queries fall, top_k neighbours from an IVF index, a saved folder that is one space or refused,
an image's own path under any spelling, and a file changed since the space was built."""
import shutil

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from indirect import NotionSpace
from indirect.backbones.demo import DemoBackbone
from indirect.datasets.folder import load_folder
from indirect.datasets.shapes import load_shapes
from indirect.errors import SearchError
from indirect.search import space as space_module
from indirect.search.index import build_index, exact_neighbours, recall_at, search_index, unit_rows

PROMPTS = ["a red shape", "a green shape", "a blue shape", "a yellow shape"]


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    """12 demo images in red/ and blue/ (labels from the folders), and the demo backbone."""
    base = tmp_path_factory.mktemp("shapes")
    source = load_shapes(base / "src", n_images=12, seed=1)
    for n, path in enumerate(source.paths):
        target = base / "photos" / ("red" if n % 2 else "blue") / f"img_{n:02d}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    return {"root": base / "photos", "backbone": DemoBackbone(device="cpu"), "cache": base / "cache"}


def fit(shapes, images=None, **options) -> NotionSpace:
    return NotionSpace.fit(shapes["backbone"], PROMPTS, shapes["root"] if images is None else images, n_components=3,
                           cache_dir=shapes["cache"], embed_options={"num_workers": 0}, **options)


def test_ivf_recall_is_calibrated_on_text_like_queries_too():
    """Tight image clusters, prompts away from them: calibrated on image rows alone (nprobe 1),
    60 held-out texts (noisy blends of the prompts) reached 0.685 in the projected space; on the
    8 prompts alone (nprobe 2) 0.867; on the prompts and 200 blends (nprobe 4) 0.987."""
    rng = np.random.default_rng(0)
    centres = unit_rows(rng.standard_normal((60, 64)))
    images = unit_rows(centres[rng.integers(0, 60, 4000)] + 0.03 * rng.standard_normal((4000, 64)))
    prompts = unit_rows(centres[:8] + 0.125 * rng.standard_normal((8, 64)))
    held_out = unit_rows(rng.dirichlet(np.ones(8), 60) @ prompts + 0.04 * rng.standard_normal((60, 64)))
    space = NotionSpace.from_embeddings(prompts, [f"i{n}" for n in range(4000)], images, [f"p{n}" for n in range(8)],
                                        "indirect", 16, exact_limit=1000)
    for name in ("projected", "raw"):
        index, info = space.indexes[name]
        queries = unit_rows(np.stack([space.query_vector(q, name)[0] for q in held_out]))
        found = np.array([(list(search_index(index, q, 10)[0]) + [-1] * 10)[:10] for q in queries])
        truth = exact_neighbours(unit_rows(space.projected if name == "projected" else space.raw), queries, 10)
        assert recall_at(found, truth) >= 0.9, name
        assert info.kind == "ivf" and info.nprobe < info.nlist
        assert info.text_recall_at_10 >= 0.95 and info.text_recall_queries == 8 + 200


def test_an_ivf_index_returns_k_neighbours_when_the_probed_cells_hold_fewer():
    """30 neighbours asked of 60 vectors in 8 cells probed one at a time: 15 came back. With
    pytorch-metric-learning imported (it imports faiss.contrib.torch_utils, whose Index.search takes
    no ``params``) as in a run that evaluated with pml."""
    import faiss.contrib.torch_utils  # noqa: F401

    rng = np.random.default_rng(1)
    data = unit_rows(rng.standard_normal((60, 8)))
    index, info = build_index(data, exact_limit=10)
    index.nprobe = 1
    for query in data[:10]:
        rows, distances = search_index(index, query, 30)
        assert len(rows) == 30 and len(set(rows)) == 30 and np.all(np.diff(distances) >= -1e-6)
    assert index.nprobe == 1  # the widening is for that query only
    assert len(search_index(index, data[0], 100)[0]) == 60  # k above the collection: all it has


def test_a_resave_cut_short_or_files_of_two_spaces_are_refused(shapes, tmp_path, monkeypatch):
    """Re-saving another space into the folder and stopping after projected.h5 left the old
    space.json: the folder loaded and named the new space's ids with the old vectors."""
    small = fit(shapes, sorted(shapes["root"].glob("red/*.png")))
    big = fit(shapes)
    small.save(tmp_path / "space")
    write = space_module._write_vectors

    def interrupted(path, *args):
        if path.name == "raw.h5":
            raise KeyboardInterrupt
        write(path, *args)

    monkeypatch.setattr(space_module, "_write_vectors", interrupted)
    with pytest.raises(KeyboardInterrupt):
        big.save(tmp_path / "space")
    monkeypatch.undo()
    with pytest.raises(SearchError, match="space.json missing; the files beside it are not a complete space"):
        NotionSpace.load(tmp_path / "space")
    big.save(tmp_path / "big")
    for name, message in (("raw.h5", "projected.h5 \\(12 ids\\), raw.h5 \\(6\\) and space.json"),
                          ("projected.faiss", "projected.faiss \\(6 x 3-dim\\)")):
        mixed = tmp_path / f"mixed_{name}"
        shutil.copytree(tmp_path / "big", mixed)
        small.save(tmp_path / "small")
        shutil.copy(tmp_path / "small" / name, mixed / name)
        with pytest.raises(SearchError, match=message) as error:
            NotionSpace.load(mixed)
        assert "\n" not in str(error.value) and "rebuild the space" in str(error.value)


def test_an_unlabelled_space_saved_over_a_labelled_one_has_no_labels(shapes, tmp_path):
    labelled = fit(shapes)
    assert list(labelled.labels.columns) == ["label"]
    labelled.save(tmp_path / "space")
    unlabelled = fit(shapes, sorted(shapes["root"].glob("*/*.png")))
    assert unlabelled.labels is None
    unlabelled.save(tmp_path / "space")
    assert not (tmp_path / "space" / "labels.csv").exists()
    assert NotionSpace.load(tmp_path / "space").labels is None
    pd.DataFrame({"label": ["x"]}, index=pd.Index([unlabelled.ids[0]], name="id")).to_csv(tmp_path / "space" / "labels.csv")
    assert NotionSpace.load(tmp_path / "space").labels is None  # space.json says no label columns


def test_an_image_queried_under_another_spelling_is_left_out_of_its_neighbours(shapes, tmp_path, monkeypatch):
    root = shapes["root"]
    listed = sorted(root.glob("*/*.png"))
    (tmp_path / "list.csv").write_text("path,colour\n" + "".join(f"{p},{p.parent.name}\n" for p in listed))
    by_csv = fit(shapes, load_folder(root, csv=str(tmp_path / "list.csv")))
    assert by_csv.ids[0] == str(listed[0])  # ids as the CSV spells them: absolute
    relative = listed[0].relative_to(root).as_posix()
    ids, distances = by_csv.search(relative, 3)
    assert str(listed[0]) not in ids and distances[0] > 1e-4
    assert by_csv.search(relative, 3, exclude_self=False)[0][0] == str(listed[0])

    monkeypatch.chdir(root.parent)
    by_relative_root = fit(shapes, "photos")
    by_relative_root.save(tmp_path / "space")
    monkeypatch.chdir(tmp_path)
    loaded = NotionSpace.load(tmp_path / "space")
    for query in (listed[1], root / ".." / "photos" / listed[1].relative_to(root)):
        ids, distances = loaded.search(str(query), 3)
        assert listed[1].relative_to(root).as_posix() not in ids and distances[0] > 1e-4, query
    (tmp_path / "link.png").symlink_to(listed[1])
    assert loaded.describe(str(tmp_path / "link.png"))["kind"] == "id"


def test_a_file_changed_since_the_space_was_saved_is_embedded_afresh(shapes, tmp_path):
    """Replacing an image of a loaded space and querying it by id or path gave the old image's
    neighbours; the new pixels now decide, the old row still left out."""
    root = tmp_path / "photos"
    shutil.copytree(shapes["root"], root)
    fit(shapes, root).save(tmp_path / "space")
    space = NotionSpace.load(tmp_path / "space", backbone=shapes["backbone"])
    changed, other = "red/img_01.png", "blue/img_00.png"
    stored = space.query_vector(changed, "raw")[0].copy()
    shutil.copy(root / other, root / changed)
    with Image.open(root / changed) as image:
        fresh = space.embed_pil(image)
    for query in (changed, str(root / changed)):
        vector, own = space.query_vector(query, "raw")
        np.testing.assert_allclose(vector, fresh, atol=1e-5)
        assert own == space.ids.index(changed) and not np.allclose(vector, stored, atol=1e-3)
        ids, distances = space.search(query, 3)
        assert ids[0] == other and changed not in ids and distances[0] < 1e-5  # the same pixels as 'other'
    np.testing.assert_allclose(space.query_vector("blue/img_02.png", "raw")[0], space.raw[space.ids.index("blue/img_02.png")])


def test_a_touched_file_of_a_space_loaded_without_its_backbone_still_answers_by_id(shapes, tmp_path, caplog):
    """A space built with a backbone object has none to rebuild after load: a touch (git checkout, cp
    without -p) made every id query of that file a BackboneError; the stored embedding answers, with a warning."""
    import os

    root = tmp_path / "photos"
    shutil.copytree(shapes["root"], root)
    fit(shapes, root).save(tmp_path / "space")
    space = NotionSpace.load(tmp_path / "space")
    before = space.search("red/img_01.png", 3)[0]
    os.utime(root / "red/img_01.png", ns=(1, 1))
    with caplog.at_level("WARNING"):
        assert space.search("red/img_01.png", 3)[0] == before
    assert "changed since the space was saved and the space has no backbone" in caplog.text
