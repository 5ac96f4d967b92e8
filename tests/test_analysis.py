"""The paper's analyses: SmoothGrad saliency (unit level and through train_eval) and UMAP maps."""
import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from PIL import Image

from conftest import TINY, run_in_process
from indirect.analysis import AnalysisError
from indirect.analysis.embedding_map import EmbeddingMap
from indirect.experiment.runner import run_analyses
from indirect.analysis.projection import differentiable_projection, keeps_gradient
from indirect.analysis.smoothgrad import black_image, mass_inside, normalise_saliency, smoothgrad, unit_embedder
from indirect.projectors.indirect import InDiReCT

FOLDER = ["dataset=folder", "notion=label", "prompts.vocabulary=[red,green,blue,yellow,purple]",
          "prompts.templates=['a photo of a {} square','a {} object']"]


@pytest.fixture(scope="module")
def tiny_backbone():
    from indirect.backbones.open_clip_backbone import OpenClipBackbone

    return OpenClipBackbone("indirect-tiny-vit", None, device="cpu")


@pytest.fixture(scope="module")
def tiny_indirect(tiny_backbone):
    text = tiny_backbone.text_features([f"a {c} square" for c in ("red", "green", "blue", "yellow", "purple")])
    return InDiReCT(n_components=4, random_state=0).fit(text.numpy())


def test_differentiable_projection_matches_transform(tiny_indirect):
    features = torch.randn(3, tiny_indirect.n_features_in_, requires_grad=True)
    project = differentiable_projection(tiny_indirect, "indirect")
    projected = project(features)
    assert projected.requires_grad
    np.testing.assert_allclose(projected.detach().numpy(), tiny_indirect.transform(features.detach().numpy()), atol=1e-5)
    (gradient,) = torch.autograd.grad(projected.sum(), features)
    assert gradient.abs().sum() > 0


def test_projector_without_gradient_or_components_is_a_clear_error():
    class Opaque:
        n_features_in_ = 4

        def transform(self, X):
            return np.asarray(X.detach())

    assert not keeps_gradient(Opaque())
    with pytest.raises(AnalysisError, match="passes no gradient.*method=indirect"):
        differentiable_projection(Opaque(), "opaque")


def test_smoothgrad_maps_have_the_image_shape_and_differ_between_raw_and_projected(tiny_backbone, tiny_indirect):
    pixels = (np.random.default_rng(0).random((24, 24, 3)) * 255).astype(np.uint8)
    picture = Image.fromarray(pixels)
    image = tiny_backbone.preprocess(picture)
    black = black_image(tiny_backbone, picture.size)
    assert not torch.allclose(black, torch.zeros_like(black))  # black in pixel space, not after normalisation
    maps = {}
    for name, embed in {"raw": unit_embedder(tiny_backbone),
                        "indirect": unit_embedder(tiny_backbone, differentiable_projection(tiny_indirect, "indirect"))}.items():
        with torch.no_grad():
            reference = embed(black[None])[0]
        raw = smoothgrad(embed, image, reference, n_samples=6, noise=0.15, generator=torch.Generator().manual_seed(0))
        maps[name] = normalise_saliency(raw)
        assert raw.shape == tuple(image.shape[1:])
        assert np.isfinite(raw).all() and raw.std() > 0
        assert maps[name].min() == 0.0 and maps[name].max() == 1.0
    assert np.abs(maps["raw"] - maps["indirect"]).mean() > 0.01


@pytest.mark.parametrize("channels, expected", [("abs_mean", (1 + 1 + 0.5) / 3), ("signed_mean", abs(1 - 1 + 0.5) / 3)])
def test_smoothgrad_channel_reduction_ours_and_the_original_codes(channels, expected):
    """A linear embedding whose gradient at one pixel is (+1, -1, +0.5) over the channels, whatever
    the noise: ours averages the channels' magnitudes (0.833), the original code (explainer.py)
    takes the magnitude of their signed mean (0.167), where red and green cancel."""
    weights = torch.zeros(3, 4, 4)
    weights[:, 1, 2] = torch.tensor([1.0, -1.0, 0.5])

    def embed(images):
        return (images * weights).sum(dim=(1, 2, 3)).unsqueeze(1)   # (B, 1)

    image = torch.rand(3, 4, 4, generator=torch.Generator().manual_seed(0))
    reference = torch.tensor([-1000.0])                              # far below: distance = a.x + 1000, slope a
    saliency = smoothgrad(embed, image, reference, n_samples=5, noise=0.15, generator=torch.Generator().manual_seed(1),
                          channels=channels)
    assert saliency[1, 2] == pytest.approx(expected, abs=1e-6)
    assert np.count_nonzero(saliency) == 1
    with pytest.raises(AnalysisError, match="analysis.saliency.channels=sum; choose one of: abs_mean, signed_mean"):
        smoothgrad(embed, image, reference, channels="sum")


def test_analysis_counts_below_one_are_refused_at_construction():
    """n_images=-2 was a numpy traceback, n_images=0 a blank figure (exit 0), max_points=-1 a raw ValueError."""
    from indirect.analysis.explain import Saliency

    for key, value, minimum in (("n_images", -2, 1), ("n_images", 0, 1), ("n_samples", 0, 1), ("noise", -0.1, 0)):
        with pytest.raises(AnalysisError, match=f"analysis.saliency.{key}={value} is not an? (integer|number) >= {minimum}"):
            Saliency(**{key: value})
    with pytest.raises(AnalysisError, match="analysis.saliency.channels=nope; choose one of"):
        Saliency(channels="nope")
    for bad in (-1, 0, 4):
        with pytest.raises(AnalysisError, match=f"analysis.map.max_points={bad} is not an integer >= 5"):
            EmbeddingMap(max_points=bad)
    assert Saliency(n_images=1).n_images == 1 and EmbeddingMap(max_points=5).max_points == 5


def test_normalise_clips_at_the_99th_percentile_and_mass_inside_counts_the_mask():
    raw = np.ones((20, 20))
    raw[10:, :] = 2.0
    raw[0, 0] = 1000.0  # one outlier pixel (of 400) must not flatten the rest of the map
    scaled = normalise_saliency(raw)
    assert scaled[0, 0] == 1.0 and scaled[19, 19] == 1.0 and scaled[1, 1] == 0.0
    mask = np.zeros((20, 20), bool)
    mask[10:, :] = True
    assert mass_inside(scaled, mask) == pytest.approx(200 / 201)
    assert mass_inside(np.ones((20, 20)), mask) == pytest.approx(0.5)


def test_object_statistics_share_density_and_paired_counts():
    from indirect.analysis.explain import object_statistics

    masks = [np.zeros((10, 10), bool) for _ in range(3)]
    for mask in masks:
        mask[:5, :5] = True  # the object covers a quarter of the image
    flat = np.ones((10, 10))
    on_object = np.where(masks[0], 3.0, 1.0)  # 75 of 150 units of mass on the object
    maps = {"flat": [flat] * 3, "object": [on_object, on_object, flat]}
    stats = object_statistics(maps, masks)
    assert stats["n_images"] == 3 and stats["object_area"] == pytest.approx(0.25)
    assert stats["per_image"]["object"] == [0.5, 0.5, 0.25]
    assert stats["object_share"]["object"] == pytest.approx(1.25 / 3)
    assert stats["object_density"]["flat"] == pytest.approx(1.0)
    assert stats["object_density"]["object"] == pytest.approx((2 + 2 + 1) / 3)
    assert stats["more_on_object"] == {"flat > object": 0, "object > flat": 2}


@pytest.mark.parametrize("which", ["demo", "clip"])
def test_saliency_input_column_shows_the_pixels_the_model_saw(tiny_backbone, which):
    """denormalise undoes the preprocess's own mean/std: the demo's plain function included (it was
    min-max stretched: a dull picture came out with its darkest pixel black, brightest white)."""
    from indirect.analysis.figures import denormalise
    from indirect.backbones.demo.image_tower import IMAGE_SIZE, preprocess as demo_preprocess

    preprocess = demo_preprocess if which == "demo" else tiny_backbone.preprocess
    size = IMAGE_SIZE if which == "demo" else tiny_backbone.preprocess.transforms[1].size[0]
    rng = np.random.default_rng(0)
    pixels = (60 + rng.random((size, size, 3)) * 100).astype(np.uint8)     # values 60..159 only
    shown = denormalise(preprocess(Image.fromarray(pixels)), preprocess)
    assert np.abs(shown - pixels / 255.0).max() < 1e-5


def test_embedding_map_png_has_one_point_per_image(tmp_path):
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 32))
    labels = np.repeat(["a", "b", "c"], 14)
    embeddings = (centres[np.repeat(np.arange(3), 14)] + 0.3 * rng.normal(size=(42, 32))).astype(np.float32)
    projector = InDiReCT(n_components=4, random_state=0).fit(centres + 0.1 * rng.normal(size=(3, 32)))
    objects = SimpleNamespace(cfg=OmegaConf.create({"dataset": {"name": "toy"}}), notion=SimpleNamespace(name="label"),
                              output_dir=tmp_path, ids=[str(i) for i in range(42)], image_embeddings=embeddings,
                              labels=labels, projectors={"indirect": projector})
    target = "indirect.analysis.embedding_map.EmbeddingMap"
    summary, images = run_analyses(OmegaConf.create({"saliency": None, "map": {"_target_": target, "n_epochs": 30}}),
                                   objects)
    assert summary["embedding_map_points"] == 42 and images == {"embedding_map": tmp_path / "embedding_map.png"}
    assert (tmp_path / "embedding_map.png").stat().st_size > 1000 and summary["embedding_map"].endswith(".png")
    info = json.loads((tmp_path / "embedding_map.json").read_text())
    assert info["n_points"] == 42 and info["n_labels"] == 3
    assert run_analyses(OmegaConf.create({}), objects) == ({}, {})
    with pytest.raises(AnalysisError, match="choose one of: indirect"):
        EmbeddingMap(method="pca")(objects)


def test_analysis_saliency_through_train_eval_writes_the_png(tmp_path, image_folder):
    results = run_in_process(tmp_path, *FOLDER, f"dataset.root={image_folder}", *TINY, "compare_with=[]",
                             "repetitions=1", "analysis=saliency", "analysis.saliency.n_images=2",
                             "analysis.saliency.n_samples=3")
    png = tmp_path / "run" / "saliency.png"
    assert results["analysis"]["saliency"] == "saliency.png" and png.is_file()   # relative to the run folder
    with Image.open(png) as figure:  # 2 rows x (input, raw, indirect) at 2 inches and 100 dpi
        assert figure.size[0] == 600 and figure.size[1] == 440
    stats = json.loads((tmp_path / "run" / "saliency_stats.json").read_text())
    assert len(stats["images"]) == 2 and "object_share" not in stats  # the folder dataset has no masks


def test_saliency_on_the_demo_world_compares_two_notions_inside_the_object_mask(tmp_path):
    results = run_in_process(tmp_path, "dataset=shapes", "dataset.n_images=40", "notion=color", "backbone=demo",
                             "embed.num_workers=0", "repetitions=1", "compare_with=[]", "n_components=16",
                             "analysis=saliency", "analysis.saliency.second_notion=background",
                             "analysis.saliency.n_images=2", "analysis.saliency.n_stat_images=12",
                             "analysis.saliency.n_samples=8")
    stats = json.loads((tmp_path / "run" / "saliency_stats.json").read_text())
    shares = stats["object_share"]
    assert set(shares) == {"raw backbone", "indirect: color", "indirect: background"}
    assert stats["n_images"] == 12 and 0 < stats["object_area"] < 1
    assert all(0.0 <= share <= 1.0 for share in shares.values())
    # The paper's finding with the shipped demo tower: the colour space's saliency sits on the object more
    # than the background space's, image by image (measured: 11 of 12, shares 0.139 vs 0.101).
    assert stats["more_on_object"]["indirect: color > indirect: background"] >= 9
    assert shares["indirect: color"] > shares["indirect: background"] + 0.02
    assert len(stats["per_image"]["raw backbone"]) == 12 and set(stats["object_density"]) == set(shares)
    assert results["analysis"]["saliency_object_share"] == shares
