"""The offline demo world: generator, on-disk dataset, demo backbone and its training script."""
from __future__ import annotations

import hashlib
import json
import os
import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from indirect.datasets.base import DatasetError
from indirect.backbones.demo.backbone import SHIPPED_WEIGHTS, DemoBackbone, BackboneError
from indirect.datasets.shapes.factors import FACTORS, OBJECT_COLORS, POSITIONS
from indirect.backbones.demo.image_tower import pixels_to_tensor
from indirect.datasets.shapes.render import render_shapes
from indirect.datasets.shapes import load_shapes, object_mask
from indirect.prompts import load_vocabulary

REPO = Path(__file__).resolve().parents[1]


def test_generator_is_deterministic_for_a_seed():
    first, again, other = render_shapes(24, seed=3), render_shapes(24, seed=3), render_shapes(24, seed=4)
    assert first.images.shape == (24, 64, 64, 3) and first.images.dtype == np.uint8
    assert np.array_equal(first.images, again.images)
    assert np.array_equal(first.masks, again.masks)
    assert first.labels.equals(again.labels)
    assert not np.array_equal(first.images, other.images)
    assert list(first.labels.columns) == list(FACTORS) + ["rotation"]


def test_factors_are_independent_and_all_drawn():
    labels = render_shapes(2000, seed=0).labels
    for factor, values in FACTORS.items():
        assert set(labels[factor]) == set(values), factor
    # Independence: the colour mix is the same within every shape (chi-square would be overkill).
    shares = labels.groupby("shape")["color"].value_counts(normalize=True).unstack()
    assert (shares - 1 / len(OBJECT_COLORS)).abs().max().max() < 0.09


def test_masks_align_with_objects():
    world = render_shapes(200, seed=7)
    colours = np.array(list(OBJECT_COLORS.values()), float)
    colours /= np.linalg.norm(colours, axis=1, keepdims=True)
    hits = 0
    for pixels, mask, (_, row) in zip(world.images, world.masks, world.labels.iterrows()):
        assert mask.sum() > 20
        inside = pixels[mask].astype(float).mean(axis=0)
        # Lighting scales brightness only, so the colour's direction identifies it.
        hits += list(OBJECT_COLORS)[int(np.argmax(colours @ (inside / np.linalg.norm(inside))))] == row["color"]
        ys, xs = np.nonzero(mask)
        cx, cy = POSITIONS[row["position"]]
        assert abs(xs.mean() / 64 - cx) < 0.12 and abs(ys.mean() / 64 - cy) < 0.12
    assert hits / len(world.images) > 0.95


def test_load_shapes_writes_reuses_and_regenerates(tmp_path):
    root = tmp_path / "shapes"
    data = load_shapes(root, n_images=12, seed=1)
    assert data.ids[:2] == ["shapes_000000", "shapes_000001"] and len(data) == 12
    assert all(p.is_file() for p in data.paths)
    for name in ("labels.csv", "masks.npz", "manifest.json"):
        assert (root / name).is_file()
    world = render_shapes(12, seed=1)
    assert np.array_equal(np.asarray(Image.open(data.paths[5])), world.images[5])
    assert data.labels.loc["shapes_000005", "color"] == world.labels.loc[5, "color"]
    assert np.array_equal(object_mask(root, "shapes_000005"), world.masks[5])

    written = data.paths[0].stat().st_mtime_ns
    assert load_shapes(root, n_images=12, seed=1).ids == data.ids
    assert data.paths[0].stat().st_mtime_ns == written  # reused, not rewritten

    data.paths[3].unlink()
    assert load_shapes(root, n_images=12, seed=1).paths[3].is_file()  # incomplete set regenerated

    smaller = load_shapes(root, n_images=5, seed=2)
    assert len(smaller) == 5 and len(list((root / "images").glob("*.png"))) == 5
    assert json.loads((root / "manifest.json").read_text())["options"]["seed"] == 2
    assert np.array_equal(np.asarray(Image.open(smaller.paths[0])), render_shapes(5, seed=2).images[0])


def test_load_shapes_errors_are_actionable(tmp_path):
    with pytest.raises(DatasetError, match="n_images"):
        load_shapes(tmp_path, n_images=0)
    with pytest.raises(DatasetError, match="load_shapes"):
        object_mask(tmp_path / "nothing", "shapes_000000")
    load_shapes(tmp_path, n_images=3)
    with pytest.raises(DatasetError, match="shapes_000000 to shapes_000002"):
        object_mask(tmp_path, "shapes_000009")


def test_configs_point_at_the_demo_world():
    dataset = yaml.safe_load((REPO / "conf/dataset/shapes.yaml").read_text())
    assert dataset["_target_"] == "indirect.datasets.shapes.load_shapes" and dataset["name"] == "shapes"
    backbone = yaml.safe_load((REPO / "conf/backbone/demo.yaml").read_text())
    assert backbone["_target_"] == "indirect.backbones.demo.DemoBackbone"
    for notion, spec in dataset["notions"].items():
        assert (REPO / f"conf/notion/{notion}.yaml").is_file(), notion
        vocabulary = load_vocabulary(spec["vocabulary"])
        rendered = FACTORS[spec["column"]]
        assert all(any(value in word for word in vocabulary) for value in rendered), notion
        assert len(vocabulary) >= len(rendered) + 4, f"{notion}: needs words absent from the images"


@pytest.fixture(scope="module")
def backbone():
    return DemoBackbone(device="cpu")


def test_shipped_weights_load_offline_and_embed():
    script = (
        "import torch; from PIL import Image; import numpy as np\n"
        "from indirect.backbones.demo.backbone import DemoBackbone\n"
        "b = DemoBackbone()\n"
        "x = torch.stack([b.preprocess(Image.fromarray(np.full((64, 64, 3), v, np.uint8))) for v in (0, 90, 255)])\n"
        "i = b.image_features(x).detach(); t = b.text_features(['a red circle', 'a blue star', 'a red circle'])\n"
        "print(tuple(i.shape), tuple(t.shape), bool(torch.isfinite(i).all() and torch.isfinite(t).all()), t.dtype)\n"
    )
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "(3, 384) (3, 384) True torch.float32"


def test_backbone_contract(backbone):
    assert backbone.embed_dim == 384 and backbone.name == "demo"
    big = backbone.preprocess(Image.new("RGB", (100, 80), (255, 0, 0)))
    assert big.shape == (3, 64, 64) and float(big[0].min()) == pytest.approx(1.0)
    images = pixels_to_tensor(render_shapes(4, seed=11).images).requires_grad_(True)
    backbone.image_features(images).sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0  # saliency can reach the pixels
    texts = backbone.text_features(["a red circle", "a blue star", "a red circle"])
    assert texts.device.type == "cpu" and texts.dtype == torch.float32
    assert torch.equal(texts[0], texts[2]) and not torch.equal(texts[0], texts[1])
    fingerprint = backbone.fingerprint()
    assert fingerprint["weights"] == hashlib.sha256(SHIPPED_WEIGHTS.read_bytes()).hexdigest()
    assert fingerprint["backbone"] == "demo" and fingerprint["preprocess"]


def test_unseen_colour_words_land_near_images_of_that_colour(backbone):
    world = render_shapes(400, seed=21)
    with torch.inference_mode():
        images = torch.nn.functional.normalize(backbone.image_features(pixels_to_tensor(world.images)), dim=1)
    colours = world.labels["color"].to_numpy()
    prompts = backbone.text_features([f"a {word} object" for word in load_vocabulary("shapes_color")])
    basis = torch.linalg.svd(prompts, full_matrices=False).Vh  # the colour prompts' span, as InDiReCT uses it
    in_span = lambda x: torch.nn.functional.normalize(x @ basis.T, dim=-1)  # noqa: E731

    def closest_colour(prompt: str, space) -> str:
        similarity = (space(images) @ space(backbone.text_features([prompt]))[0]).numpy()
        by_colour = {c: similarity[colours == c].mean() for c in OBJECT_COLORS}
        return max(by_colour, key=by_colour.get)

    # None of these words occurs in a training caption. Whole-space matches hold for these two;
    # MiniLM puts e.g. "crimson" too far from "red" for a single prompt to find red images.
    for prompt, colour in [("a violet object", "purple"), ("a lavender shape", "purple")]:
        assert closest_colour(prompt, lambda x: x) == colour, prompt
    for prompt, colour in [("a magenta shape", "pink"), ("a lime shape", "green"), ("a violet shape", "purple")]:
        assert closest_colour(prompt, in_span) == colour, prompt


def test_missing_weights_name_the_script(tmp_path):
    with pytest.raises(BackboneError, match="train_demo_backbone.py"):
        DemoBackbone(weights=tmp_path / "absent.pt")


def test_short_training_run_lowers_the_loss_and_writes_loadable_weights(tmp_path):
    main = runpy.run_path(str(REPO / "scripts/train_demo_backbone.py"))["main"]
    out = tmp_path / "tower.pt"
    state = main(["--steps", "25", "--n-train-images", "32", "--batch-size", "32", "--seed", "3",
                  "--out", str(out)])
    history = state["history"]
    assert len(history) == 25
    assert np.mean(history[-5:]) < 0.8 * np.mean(history[:5])
    trained = DemoBackbone(weights=out, device="cpu")
    assert trained.fingerprint()["weights"] == hashlib.sha256(out.read_bytes()).hexdigest()
