"""gallery.html (self-contained, escaped, every query shown; opened in real headless Chromium) and
the neighbour figures (neighbours.png, the experiment runs' retrieval figure)."""
import base64
import io
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from browser import chromium, inspect_page
from indirect.search.figure import _thumbnail, neighbour_figure, retrieval_figure, retrieval_results
from indirect.search.gallery import thumbnail_uri, write_gallery
from indirect.search.results import Hit, QueryResult

EVIL = "x<img src=x onerror=alert(1)>.png"
EVIL_LABEL = '<b>red</b> & "crimson"'


class Page(HTMLParser):
    """Every tag with its attributes, and the visible text."""

    def __init__(self):
        super().__init__()
        self.tags, self.text = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


@pytest.fixture
def results(tmp_path) -> list[QueryResult]:
    """Two image queries and a text query over six coloured images, one with a hostile name."""
    colours = {"r1.png": (220, 30, 30), "r2.png": (200, 40, 40), EVIL: (230, 20, 20),
               "g1.png": (30, 200, 30), "g2.png": (40, 190, 40), "sub/b1.png": (30, 30, 220)}
    labels = {"r1.png": "red", "r2.png": "red", EVIL: EVIL_LABEL, "g1.png": "green", "g2.png": "green",
              "sub/b1.png": "blue"}
    for name, rgb in colours.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (40, 30), rgb).save(tmp_path / name)

    def hits(names):
        return [Hit(n, 0.1 * i, tmp_path / n, labels[n]) for i, n in enumerate(names)]

    return [QueryResult("r1.png", "id", hits(["r2.png", EVIL, "g1.png"]), hits(["g1.png", "r2.png", "sub/b1.png"]),
                        path=tmp_path / "r1.png", label="red"),
            QueryResult(EVIL, "id", hits(["r1.png", "r2.png"]), hits(["g2.png", "r1.png"]), path=tmp_path / EVIL,
                        label=EVIL_LABEL),
            QueryResult("a <i>red</i> shape", "text", hits(["r1.png", "r2.png"]), hits(["g1.png", "sub/b1.png"]))]


def test_gallery_is_one_self_contained_escaped_page_showing_every_query(tmp_path, results):
    path = write_gallery(results, tmp_path / "gallery.html", meta="k = 8")
    source = path.read_text()
    page = Page()
    page.feed(source)
    page.close()
    images = [attrs for tag, attrs in page.tags if tag == "img"]
    # 1+3+3 + 1+2+2 + 0+2+2 thumbnails, every one embedded; no other file, script or link is referenced
    assert len(images) == 16 and all(a["src"].startswith("data:image/png;base64,") for a in images)
    assert not [t for t, a in page.tags if t in ("script", "link", "iframe", "object", "embed")]
    assert not [a for t, a in page.tags if any(k in a for k in ("href", "onerror", "onload")) or
                (t != "img" and "src" in a)]
    text = "".join(page.text)
    assert [s for s in ("query 1", "query 2", "query 3") if s in text] == ["query 1", "query 2", "query 3"]
    assert EVIL in text and EVIL_LABEL in text and "a <i>red</i> shape" in text  # shown as text, not markup
    assert "<img src=x" not in source and "<b>red</b>" not in source
    # neighbours sharing the query's label are outlined green, the others red; text queries have no outline
    figures = [a.get("class", "") for t, a in page.tags if t == "figure"]
    assert figures.count("agree") == 2 and figures.count("disagree") == 4 + 4 and figures.count("query") == 2


def test_neighbour_figure_draws_one_row_per_query(tmp_path, results):
    one = Image.open(neighbour_figure(results[:1], tmp_path / "one.png"))
    three = Image.open(neighbour_figure(results, tmp_path / "three.png", title="colour"))
    assert three.size[0] == one.size[0] and three.size[1] > 2 * one.size[1] * 0.8
    pixels = np.asarray(three.convert("RGB")).reshape(-1, 3)
    assert ((pixels[:, 1] > 130) & (pixels[:, 0] < 60) & (pixels[:, 2] < 90)).sum() > 100  # green outlines drawn


def test_retrieval_results_are_leave_one_out_exact_cosine_neighbours(tmp_path):
    rng = np.random.default_rng(0)
    n, labels = 30, [f"c{i % 3}" for i in range(30)]
    raw = rng.standard_normal((n, 16)).astype(np.float32)
    projected = np.eye(3, dtype=np.float32)[[i % 3 for i in range(n)]] + 0.05 * rng.standard_normal((n, 3)).astype(np.float32)
    ids = [f"img{i}.png" for i in range(n)]
    paths = [tmp_path / i for i in ids]
    for p in paths:
        Image.new("RGB", (8, 8)).save(p)
    results = retrieval_results(ids, paths, labels, raw, projected, n_queries=3, k=4, seed=1)
    assert len({r.label for r in results}) == 3  # one query per label first
    unit = projected / np.linalg.norm(projected, axis=1, keepdims=True)
    for result in results:
        q = ids.index(result.query)
        distances = 1 - unit @ unit[q]
        distances[q] = np.inf
        expected = np.argsort(distances)[:4]
        assert [h.id for h in result.projected] == [ids[i] for i in expected]
        assert np.allclose([h.distance for h in result.projected], distances[expected], atol=1e-5)
        assert result.agreement("projected") == 1.0 and result.query not in [h.id for h in result.raw]
    assert retrieval_figure(ids, paths, labels, raw, projected, tmp_path / "fig.png").stat().st_size > 5000


def test_thumbnails_show_what_the_model_saw_exif_turn_and_16_bit_grey(tmp_path):
    """Both thumbnail makers decode as the model's input does (open_rgb): a landscape JPEG tagged
    "rotate 90" is drawn as a portrait with its red half on top, and a 16-bit grey ramp is a ramp,
    not the blank white Pillow's plain convert("RGB") clips it to."""
    pixels = np.zeros((60, 120, 3), np.uint8)
    pixels[:, :60] = (255, 0, 0)                                    # red left half, stored sideways
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(pixels).save(tmp_path / "rotated.jpg", exif=exif.tobytes(), quality=95)
    Image.fromarray(np.tile(np.linspace(0, 65535, 64), (32, 1)).astype(np.uint16)).save(tmp_path / "g16.png")

    def from_uri(path):
        data = thumbnail_uri(path)
        return Image.open(io.BytesIO(base64.b64decode(data.split(",", 1)[1]))).convert("RGB")

    for thumb in (_thumbnail, from_uri):
        turned = np.asarray(thumb(tmp_path / "rotated.jpg"), np.int16)
        assert turned.shape[0] > turned.shape[1]                     # a portrait, as displayed
        assert turned[5, turned.shape[1] // 2, 0] > 200 and turned[-5, turned.shape[1] // 2, 0] < 60
        grey = np.asarray(thumb(tmp_path / "g16.png"), np.int16)[..., 0]
        assert grey[:, :4].mean() < 30 and grey[:, -4:].mean() > 220   # dark to light, not all white


@pytest.mark.skipif(chromium() is None, reason="Chromium is not installed (apt-get install -y chromium): "
                                               "the gallery was not opened in a real browser")
def test_gallery_in_headless_chromium_decodes_every_thumbnail_and_runs_nothing(tmp_path, results):
    path = write_gallery(results, tmp_path / "gallery.html")
    report = inspect_page(path, tmp_path / "screenshot.png")
    assert len(report["images"]) == 16
    assert all(complete and width > 0 for _, complete, width in report["images"]), report["images"]
    assert EVIL in [alt for alt, _, _ in report["images"]]  # the hostile name is an alt text, not an element
    assert report["errors"] == [] and report["dialogs"] == [] and report["requests"] == []
    shot = Image.open(tmp_path / "screenshot.png")
    assert shot.size[0] >= 1300 and len(set(shot.convert("L").getdata())) > 50
