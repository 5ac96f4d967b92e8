"""Behaviour of the projectors on planted factors, their solvers, and their persistence."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from indirect.projectors import (Autoencoder, CLIPIdentity, Ignore, InDiReCT, LinearAutoencoder, Oracle,
                                 PCAProjector, ProjectorError, RandomEmbedding, RandomTransform, load_projector)


def p_at_1(emb: np.ndarray, labels: np.ndarray) -> float:
    """Leave-one-out precision@1 with cosine similarity."""
    emb = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    sim = emb @ emb.T
    np.fill_diagonal(sim, -np.inf)
    return float((labels[sim.argmax(axis=1)] == labels).mean())


def unit(rng, n, dim):
    v = rng.normal(size=(n, dim))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def world():
    """Images = base + colour + shape + background + noise; colour is the weakest factor."""
    rng = np.random.default_rng(0)
    dim, n = 96, 300
    factors = np.linalg.qr(rng.normal(size=(dim, 20)))[0].T       # orthonormal planted directions
    colours, shapes, backgrounds, (base_img, base_txt) = factors[:9], factors[9:14], factors[14:18], factors[18:]
    c, s, b = rng.integers(0, 6, n), rng.integers(0, 5, n), rng.integers(0, 4, n)   # colours 6..8 unseen
    images = (2 * base_img + 0.6 * colours[c] + 1.2 * shapes[s] + 1.2 * backgrounds[b]
              + 0.15 * rng.normal(size=(n, dim)))
    colour_prompts = 2 * base_txt + 0.6 * colours + 0.01 * rng.normal(size=(9, dim))
    shape_prompts = 2 * base_txt + 1.2 * shapes + 0.01 * rng.normal(size=(5, dim))
    f32 = lambda a: np.asarray(a, dtype=np.float32)
    return dict(images=f32(images), colour=c, shape=s, background=b,
                colour_prompts=f32(colour_prompts), shape_prompts=f32(shape_prompts))


def test_indirect_recovers_planted_colour_and_random_does_not(world):
    raw = p_at_1(world["images"], world["colour"])
    for solver in ("fast", "faithful"):
        projected = InDiReCT(10, solver=solver, random_state=0).fit(world["colour_prompts"]).transform(world["images"])
        assert p_at_1(projected, world["colour"]) >= max(0.95, raw + 0.3), solver
    rand = RandomTransform(10, random_state=0).fit(world["colour_prompts"]).transform(world["images"])
    assert p_at_1(rand, world["colour"]) < raw + 0.1
    assert raw < 0.6


def test_ignore_removes_shape_and_keeps_background(world):
    images, shape, background = world["images"], world["shape"], world["background"]
    assert p_at_1(images, shape) > 0.8
    cleaned = Ignore(ignore_embeddings=world["shape_prompts"]).fit(images).transform(images)
    assert p_at_1(cleaned, shape) < 0.35                         # chance is 0.2
    assert p_at_1(cleaned, background) >= p_at_1(images, background) - 0.05
    composed = Ignore(base=InDiReCT(10, random_state=0), ignore_embeddings=world["shape_prompts"], n_directions=4)
    out = composed.fit(world["colour_prompts"]).transform(images)
    assert composed.method_name == "indirect+ignore" and out.shape == (len(images), 10)
    assert p_at_1(out, world["colour"]) >= 0.95


def test_ignore_keeps_a_raw_feature_base_raw(world):
    """protocol=paper bases read raw features: '+ignore' must differ from the base by P alone, not by
    a switch to unit vectors too (PCA +ignore of a random direction gained 6 MAP@R points that way)."""
    images, prompts = 7.0 * world["images"], world["colour_prompts"]  # raw image features are not unit
    paper_pca = lambda: PCAProjector(4, normalize_input=False, normalize_output=False, pad=False)
    composed = Ignore(base=paper_pca(), ignore_embeddings=world["shape_prompts"]).fit(prompts)
    assert composed.reads_raw and composed.normalize_output is False
    V = composed.directions_.numpy()
    project_out = lambda x: x - (x @ V.T) @ V
    expected = paper_pca().fit(project_out(prompts)).transform(project_out(images))
    np.testing.assert_allclose(composed.transform(images), expected, rtol=1e-4, atol=1e-4)
    paper_clip = Ignore(base=CLIPIdentity(normalize_output=False), ignore_embeddings=world["shape_prompts"])
    np.testing.assert_allclose(paper_clip.fit(prompts).transform(images), project_out(images), rtol=1e-4, atol=1e-4)
    ours = Ignore(base=PCAProjector(4), ignore_embeddings=world["shape_prompts"]).fit(prompts)
    assert not ours.reads_raw
    np.testing.assert_allclose(np.linalg.norm(ours.transform(images), axis=1), 1.0, rtol=1e-5)


def structured_prompts(n: int, dim: int, rank: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.normal(size=(dim, rank)))[0].T
    x = unit(rng, 1, dim) + (rng.normal(size=(n, rank)) * 0.3 * 0.85 ** np.arange(rank)) @ basis
    x = x + 0.02 * rng.normal(size=(n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_fast_solver_reaches_faithful_loss():
    prompts = structured_prompts(60, 64, 24, seed=1)
    fast = InDiReCT(16, solver="fast", random_state=0).fit(prompts)
    faithful = InDiReCT(16, solver="faithful", random_state=0).fit(prompts)
    assert fast.loss(prompts) <= faithful.loss(prompts) + 1e-4
    assert fast.loss_ == pytest.approx(fast.loss(prompts))
    assert faithful.n_iter_ > fast.n_iter_ > 0
    again = InDiReCT(16, solver="fast", random_state=0).fit(prompts)
    assert torch.equal(fast.components_, again.components_)


def test_surplus_rows_when_k_exceeds_prompt_rank():
    prompts = structured_prompts(10, 64, 24, seed=2)
    zero = InDiReCT(16, random_state=0).fit(prompts)
    assert zero.rank_ == 10 and zero.n_surplus_ == 6
    assert torch.count_nonzero(zero.components_[10:]) == 0
    assert zero.loss(prompts) < 3e-4                              # every prompt reconstructed
    rand = InDiReCT(16, surplus="random", random_state=0).fit(prompts)
    surplus = rand.components_[10:].double()
    assert surplus.norm(dim=1).min() > 0.5
    assert (torch.from_numpy(prompts).double() @ surplus.T).abs().max() < 1e-4
    assert rand.loss(prompts) == pytest.approx(zero.loss(prompts), abs=1e-5)
    with pytest.raises(ProjectorError, match="surplus"):
        InDiReCT(16, solver="faithful", surplus="zero").fit(prompts)


def test_oracle_fits_string_labels(world):
    labels = np.array(["red", "green", "blue", "cyan", "pink", "gold"])[world["colour"]]
    oracle = Oracle(8, max_iter=150, random_state=0).fit(world["images"], labels)
    assert oracle.upper_bound and oracle.fit_on == "images"
    assert set(oracle.classes_) == set(labels)
    assert p_at_1(oracle.transform(world["images"]), labels) >= 0.95
    with pytest.raises(ProjectorError, match="labels"):
        Oracle(8).fit(world["images"])


def fitted(name, world):
    prompts, images = world["colour_prompts"], world["images"]
    make = {
        "indirect": lambda: InDiReCT(8, random_state=0).fit(prompts),
        "faithful": lambda: InDiReCT(8, solver="faithful", patience=10, random_state=0).fit(prompts),
        "clip": lambda: CLIPIdentity(8).fit(prompts),
        "random": lambda: RandomEmbedding(8, random_state=0).fit(prompts),
        "random_transform": lambda: RandomTransform(8, random_state=0).fit(prompts),
        "pca": lambda: PCAProjector(8, random_state=0).fit(prompts),
        "lae": lambda: LinearAutoencoder(8, patience=5, random_state=0).fit(prompts),
        "ae": lambda: Autoencoder(8, patience=5, random_state=0).fit(prompts),
        "oracle": lambda: Oracle(8, max_iter=20, random_state=0).fit(images, world["colour"]),
        "ignore": lambda: Ignore(InDiReCT(8, random_state=0), world["shape_prompts"]).fit(prompts),
    }
    return make[name]()


@pytest.mark.parametrize("name", ["indirect", "faithful", "clip", "random", "random_transform", "pca", "lae",
                                  "ae", "oracle", "ignore"])
def test_save_load_round_trip_and_io_kinds(name, world, tmp_path):
    projector = fitted(name, world)
    images = world["images"][:50]
    out = projector.transform(images)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    assert out.shape == (50, 96 if name == "clip" else 8)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    out_t = projector.transform(torch.from_numpy(images))
    assert isinstance(out_t, torch.Tensor) and out_t.dtype == torch.float32
    np.testing.assert_allclose(out_t.numpy(), out, atol=1e-6)

    path = projector.save(tmp_path / "p.pt", metadata={"prompts": ["a red car"], "backbone": "demo"})
    payload = torch.load(path, weights_only=True)
    assert payload["metadata"]["prompts"] == ["a red car"] and "torch" in payload["metadata"]["versions"]
    loaded = load_projector(path)
    assert type(loaded) is type(projector) and loaded.method_name == projector.method_name
    assert loaded.metadata_["backbone"] == "demo"
    np.testing.assert_array_equal(loaded.transform(images), out)


@pytest.mark.parametrize("name", ["indirect", "clip", "random", "random_transform", "pca", "lae", "ae", "oracle",
                                  "ignore"])
def test_transform_is_differentiable_for_a_tensor_that_asks_for_it(name, world):
    projector = fitted(name, world)
    images = torch.from_numpy(world["images"][:5])
    assert not projector.transform(images).requires_grad  # no graph unless the input asks for one
    leaf = images.clone().requires_grad_(True)
    out = projector.transform(leaf)
    if name == "random":  # draws embeddings without looking at the image: nothing to differentiate
        assert not out.requires_grad
        return
    np.testing.assert_allclose(out.detach().numpy(), projector.transform(world["images"][:5]), atol=1e-6)
    (gradient,) = torch.autograd.grad(out[:, 0].sum(), leaf)
    assert gradient.shape == leaf.shape and gradient.abs().sum() > 0


def test_pca_with_more_components_than_prompts(world):
    pca = PCAProjector(32, random_state=0).fit(world["colour_prompts"])
    # 9 centred prompts span 8 directions: a 9th has no variance, it is the SVD's rounding noise, and
    # images got coordinates on it (MAP@R colour 79.48 with it, 79.68 without, on the demo world)
    assert pca.n_components_ == 8 and float(pca.explained_variance_ratio_.min()) > 1e-6
    out = pca.transform(world["images"])
    assert out.shape == (300, 32) and np.all(out[:, 8:] == 0)
    assert np.isfinite(out).all()
    at_rank = PCAProjector(8, random_state=0).fit(world["colour_prompts"]).transform(world["images"])
    np.testing.assert_allclose(out[:, :8], at_rank, atol=1e-6)
    paper = PCAProjector(9, normalize_input=False, normalize_output=False, pad=False).fit(world["colour_prompts"])
    assert paper.n_components_ == 9   # sklearn's, as the original ran it


@pytest.mark.parametrize("cls", [InDiReCT, RandomEmbedding, RandomTransform, PCAProjector, LinearAutoencoder,
                                 Autoencoder])
def test_more_components_than_dimensions_raises(cls, world):
    with pytest.raises(ValueError, match=r"n_components=200.*D=96"):
        cls(200).fit(world["colour_prompts"])


def test_transform_before_fit_and_wrong_dimension_fail(world):
    with pytest.raises(ProjectorError, match="not fitted"):
        InDiReCT(8).transform(world["images"])
    projector = InDiReCT(8, random_state=0).fit(world["colour_prompts"])
    with pytest.raises(ProjectorError, match="96-dim"):
        projector.transform(np.zeros((3, 64), dtype=np.float32))


def test_a_fit_that_never_had_a_finite_loss_is_refused_not_reported_as_the_random_start(world):
    """Oracle temperature 0 (inf logits) or lr=0 kept the N(0, 0.1) start: the row was RandomTransform's
    figures under the method's name, exit 0."""
    images, labels = world["images"], world["colour"]
    with pytest.raises(ProjectorError, match="temperature=0.0 must be > 0"):
        Oracle(8, temperature=0.0, random_state=0, device="cpu").fit(images, labels)
    for kwargs, message in (({"lr": 0.0}, "lr=0.0 must be > 0"), ({"patience": 0}, "patience=0 must be > 0"),
                            ({"max_iter": 0}, "max_iter=0 must be > 0")):
        with pytest.raises(ProjectorError, match=message):
            InDiReCT(8, solver="faithful", random_state=0, **kwargs).fit(world["colour_prompts"])
    with pytest.raises(ProjectorError, match="the fast solver needs max_iter >= 1"):
        InDiReCT(8, max_iter=0).fit(world["colour_prompts"])
    from indirect.projectors.training import adam_with_patience

    weight = torch.zeros(3, requires_grad=True)
    with pytest.raises(ProjectorError, match="the loss was never finite in 4 step"):
        adam_with_patience([weight], lambda: weight.sum() + float("nan"), lr=0.01, patience=4, max_iter=100)
