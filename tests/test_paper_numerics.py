"""The paper's numerics (the original code's, LSX-UniWue/InDiReCT) reached through projector options.

Reference functions below are transcribed from the original ``dimensionality_reduction.py`` and
``utils.py`` so that each option is checked against what the original computes, not against a
restatement of our own code.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning

from indirect.errors import UserError
from indirect.projectors import (Autoencoder, CLIPIdentity, InDiReCT, LinearAutoencoder, NotApplicable, Oracle,
                                 PCAProjector, ProjectorError, RandomEmbedding, RandomTransform, safe_arccos)
from indirect.projectors.training import MAX_STEPS

EPS = 1e-7
EDGE = 1 - EPS
SLOPE = math.acos(EDGE) / EPS

# The options a protocol=paper run sets, per method (what the config wires).
PAPER = {
    "clip": lambda k: CLIPIdentity(k, normalize_output=False),
    "random": lambda k: RandomEmbedding(k, random_state=0),
    "random_transform": lambda k: RandomTransform(k, random_state=0),
    "pca": lambda k: PCAProjector(k, normalize_input=False, normalize_output=False, pad=False, random_state=0),
    "lae": lambda k: LinearAutoencoder(k, normalize_input=False, normalize_output=False, patience=5, random_state=0),
    "ae": lambda k: Autoencoder(k, normalize_input=False, normalize_output=False, patience=5, random_state=0),
    "oracle": lambda k: Oracle(k, temperature=1.0, proxy_std=0.1, max_iter=30, random_state=0),
    "indirect": lambda k: InDiReCT(k, solver="faithful", patience=10, random_state=0),
}
RAW_IN_THE_ORIGINAL = {"clip", "pca", "lae", "ae"}


@pytest.fixture(scope="module")
def world():
    """Raw, CLIP-like image features (norms ~10, a shared offset) and 9 prompts, D = 48."""
    rng = np.random.default_rng(0)
    dim, n = 48, 120
    colours = rng.normal(size=(6, dim))
    labels = rng.integers(0, 6, n)
    offset = 3 * rng.normal(size=dim)
    images = offset + colours[labels] + 0.5 * rng.normal(size=(n, dim))
    prompts = offset + np.vstack([colours, rng.normal(size=(3, dim))]) + 0.05 * rng.normal(size=(9, dim))
    return dict(images=images.astype(np.float32), labels=labels, prompts=prompts.astype(np.float32))


def original_acos_safe(x, eps=1e-7):
    """DimRedRecon.acos_safe, verbatim."""
    slope = np.arccos(1 - eps) / eps
    buf = torch.empty_like(x)
    good = abs(x) <= 1 - eps
    bad = ~good
    sign = torch.sign(x[bad])
    buf[good] = torch.acos(x[good])
    buf[bad] = torch.acos(sign * (1 - eps)) - slope * sign * (abs(x[bad]) - 1 + eps)
    return buf


def value_and_grad(fn, values, dtype=torch.float64):
    x = torch.tensor(values, dtype=dtype, requires_grad=True)
    y = fn(x)
    (grad,) = torch.autograd.grad(y.sum(), x)
    return y.detach(), grad


AT_AND_BEYOND = [EDGE, 1 - 5e-8, 1 - 1e-9, 1.0, 1 + 1e-7, 1.5, -EDGE, -1 + 5e-8, -1.0, -1.5]


def test_safe_arccos_is_the_line_through_the_edge_that_reaches_0_at_1():
    values, grads = value_and_grad(safe_arccos, AT_AND_BEYOND)
    for x, value, grad in zip(AT_AND_BEYOND, values.tolist(), grads.tolist()):
        if abs(x) <= EDGE:   # at the edge itself: arccos, continuous with the line
            expected, expected_grad = math.acos(x), -1 / math.sqrt(1 - x * x)
        elif x > 0:
            expected, expected_grad = math.acos(EDGE) - SLOPE * (x - EDGE), -SLOPE
        else:
            expected, expected_grad = math.acos(-EDGE) - SLOPE * (x + EDGE), -SLOPE
        assert value == pytest.approx(expected, abs=1e-12), x
        assert grad == pytest.approx(expected_grad, rel=1e-9), x
    assert values[AT_AND_BEYOND.index(1.0)] == pytest.approx(0.0, abs=1e-15)
    assert values[AT_AND_BEYOND.index(-1.0)] == pytest.approx(math.pi, abs=1e-15)
    assert math.acos(EDGE) == pytest.approx(SLOPE * EPS, rel=1e-12)      # the line meets arccos at the edge


def test_safe_arccos_equals_the_original_function_in_float64_and_inside_the_edge():
    xs = AT_AND_BEYOND + [0.0, 0.3, -0.7, 0.999, -0.99999]
    ours, our_grads = value_and_grad(safe_arccos, xs)
    theirs, their_grads = value_and_grad(original_acos_safe, xs)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(our_grads.numpy(), their_grads.numpy(), rtol=1e-9)


def test_safe_arccos_is_the_original_s_bit_for_bit_in_float32():
    xs = [1.0, 1 - 6e-8, 1 - 1.2e-7, 1 - 2e-7, -1.0, -1 + 6e-8, 1.2, 0.5]
    ours, our_grads = value_and_grad(safe_arccos, xs, dtype=torch.float32)
    theirs, their_grads = value_and_grad(original_acos_safe, xs, dtype=torch.float32)
    assert torch.equal(ours, theirs) and torch.equal(our_grads, their_grads)
    np.testing.assert_allclose(our_grads[[0, 1, 4, 5, 6]].numpy(), -SLOPE, rtol=1e-6)


def original_dimredrecon_fit(X: torch.Tensor, U0: torch.Tensor, patience=100, lr=0.01):
    """DimRedRecon.fit and _loss (lamb = 0), verbatim but starting from a given U and returning
    (best U, iterations run)."""
    X = X / X.norm(dim=1, keepdim=True)
    best_loss, best_epoch, epoch = torch.inf, 0, 0
    U = U0.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([U], lr=lr)
    best_U = None
    while True:
        epoch += 1
        optimizer.zero_grad()
        V = X @ U.T
        V = V / V.norm(dim=1, keepdim=True)
        X_recon = V @ U
        X_recon = X_recon / X_recon.norm(dim=1, keepdim=True)
        loss = torch.mean(original_acos_safe(torch.sum(X * X_recon, dim=1)))
        if loss.item() < best_loss:
            best_loss, best_epoch = loss, epoch
            best_U = U.clone().detach()
        if epoch - best_epoch >= patience:
            break
        loss.backward()
        optimizer.step()
    return best_U, epoch


def test_faithful_solver_is_the_original_optimisation():
    rng = np.random.default_rng(3)
    prompts = rng.normal(size=(8, 32)).astype(np.float32) + 2 * rng.normal(size=32).astype(np.float32)
    # the rows our fit sees: unit length, duplicates dropped (in torch.unique's order)
    rows = torch.unique(torch.nn.functional.normalize(torch.from_numpy(prompts), dim=1), dim=0)
    U0 = torch.randn(4, 32, generator=torch.Generator().manual_seed(11)) * 0.1     # N(0, 0.1), all k rows
    expected_U, expected_iterations = original_dimredrecon_fit(rows, U0)
    ours = InDiReCT(4, solver="faithful", random_state=11, device="cpu").fit(rows.numpy())
    assert expected_iterations > 300                   # far past patience: a real optimisation
    assert ours.n_iter_ == expected_iterations
    np.testing.assert_allclose(ours.components_.numpy(), expected_U.numpy(), rtol=0, atol=1e-6)
    images = rng.normal(size=(20, 32)).astype(np.float32) * 7
    x = torch.from_numpy(images)
    original_transform = torch.nn.functional.normalize(x / x.norm(dim=1, keepdim=True) @ expected_U.T, dim=1)
    np.testing.assert_allclose(ours.transform(images), original_transform.numpy(), atol=1e-5)


def test_faithful_solver_has_no_cap_real_runs_reach_and_says_when_one_is_hit(world):
    assert InDiReCT().max_iter == MAX_STEPS >= 100_000
    with pytest.warns(ConvergenceWarning, match="max_iter=5"):
        capped = InDiReCT(4, solver="faithful", max_iter=5, random_state=0).fit(world["prompts"])
    assert capped.n_iter_ == 5
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        InDiReCT(4, solver="faithful", patience=10, random_state=0).fit(world["prompts"])


def fit_paper(name, world, k=8):
    projector = PAPER[name](k)
    if projector.fit_on == "images":
        return projector.fit(world["images"], world["labels"])
    return projector.fit(world["prompts"])


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("name", sorted(PAPER))
def test_paper_outputs_are_unnormalised_exactly_where_the_original_s_are(name, world):
    out = fit_paper(name, world).transform(world["images"])
    norms = np.linalg.norm(out, axis=1)
    if name in RAW_IN_THE_ORIGINAL:
        assert np.abs(norms - 1).max() > 0.05, name     # normalised rows would be 1 +- 1e-6
    else:
        np.testing.assert_allclose(norms, 1.0, atol=1e-5)


def test_paper_clip_is_the_raw_features(world):
    out = CLIPIdentity(normalize_output=False).fit(world["prompts"]).transform(world["images"])
    np.testing.assert_array_equal(out, world["images"])


def test_paper_pca_is_sklearn_on_normalised_prompts_applied_to_raw_images(world):
    pca = PAPER["pca"](8).fit(world["prompts"])
    prompts = world["prompts"] / np.linalg.norm(world["prompts"], axis=1, keepdims=True)
    reference = PCA(8).fit(prompts.astype(np.float64)).transform(world["images"].astype(np.float64))
    out = pca.transform(world["images"])
    # component signs are sklearn's (svd_flip), so the outputs agree column by column
    np.testing.assert_allclose(out, reference, rtol=1e-4, atol=1e-4)
    improved = PCAProjector(8, random_state=0).fit(world["prompts"]).transform(world["images"])
    assert np.abs(improved - out).max() > 0.1


def test_paper_pca_is_not_applicable_beyond_the_prompts(world):
    assert PAPER["pca"](9).fit(world["prompts"]).transform(world["images"]).shape == (120, 9)
    with pytest.raises(NotApplicable, match=r"at most 9 components in 9 prompts.*n_components=10") as caught:
        PAPER["pca"](10).fit(world["prompts"])
    assert isinstance(caught.value, ProjectorError) and isinstance(caught.value, UserError)
    assert PCAProjector(10, random_state=0).fit(world["prompts"]).transform(world["images"]).shape == (120, 10)


@pytest.mark.parametrize("name", ["lae", "ae"])
def test_paper_autoencoders_encode_the_raw_features(name, world):
    projector = fit_paper(name, world)
    with torch.no_grad():
        reference = projector.encoder_(torch.from_numpy(world["images"])).numpy()
    np.testing.assert_allclose(projector.transform(world["images"]), reference, rtol=1e-6, atol=1e-6)


def test_the_linear_autoencoder_has_biases_as_the_original_code_does(world):
    """The original's LinearAutoencoder builds torch.nn.Linear(D, k) and nn.Linear(k, D) with their
    default biases (dimensionality_reduction.py); protocol.md's "(no bias)" is not that code."""
    projector = fit_paper("lae", world)
    assert sorted(projector.encoder_weights_) == ["bias", "weight"] and sorted(projector.decoder_weights_) == ["bias", "weight"]
    assert float(projector.encoder_weights_["bias"].abs().max()) > 0
    zero = torch.zeros(1, world["images"].shape[1])
    assert torch.allclose(projector.encoder_(zero)[0], projector.encoder_weights_["bias"])


def original_normalized_softmax_loss(X, labels, U, P):
    """NormalizedSoftmax._loss after fit's normalisation of X, verbatim."""
    X = X / X.norm(dim=1, keepdim=True)
    V = X @ U.T
    V = V / V.norm(dim=1, keepdim=True)
    P_norm = P / P.norm(dim=1, keepdim=True)
    return torch.nn.CrossEntropyLoss()(V @ P_norm.T, labels)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_paper_oracle_minimises_the_original_normalized_softmax(world):
    oracle = fit_paper("oracle", world)
    targets = torch.as_tensor(np.searchsorted(oracle.classes_, world["labels"]))
    loss = original_normalized_softmax_loss(torch.from_numpy(world["images"]), targets,
                                            oracle.components_, oracle.proxies_)
    assert oracle.loss_ == pytest.approx(float(loss), rel=1e-5)
    improved = Oracle(8, max_iter=30, random_state=0).fit(world["images"], world["labels"])
    improved_loss = original_normalized_softmax_loss(torch.from_numpy(world["images"]), targets,
                                                     improved.components_, improved.proxies_)
    assert improved.loss_ != pytest.approx(float(improved_loss), rel=1e-2)   # temperature 0.05 is not the original's


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_paper_oracle_draws_proxies_from_n_0_0_1(world):
    """With a vanishing lr (Adam moves each weight by about lr per step) the proxies are their initial draw."""
    def proxy_std(**options):
        oracle = Oracle(48, lr=1e-12, patience=1, random_state=0, **options).fit(world["images"], world["labels"])
        return float(oracle.proxies_.std())
    assert 0.08 < proxy_std(temperature=1.0, proxy_std=0.1) < 0.12
    assert 0.8 < proxy_std() < 1.2                                        # pml's default N(0, 1)


def test_random_transform_is_the_original_s(world):
    projector = RandomTransform(8, random_state=0).fit(world["prompts"])
    U = projector.components_
    assert 0.09 < float(U.std()) < 0.11
    x = torch.from_numpy(world["images"])
    expected = torch.nn.functional.normalize(x / x.norm(dim=1, keepdim=True) @ U.T, dim=1)
    np.testing.assert_allclose(projector.transform(world["images"]), expected.numpy(), atol=1e-6)


def test_a_perfect_reconstruction_has_loss_zero_not_below(world):
    """Beyond x = 1 the original's line goes negative; float32 unit rows (off by ~6e-8) must not
    reach it when the objective is reported."""
    projector = InDiReCT(16, random_state=0).fit(world["prompts"])     # 9 prompts: every one reconstructed
    assert -1e-12 < projector.loss_ < 1e-6
    assert -1e-12 < projector.loss(world["prompts"]) < 1e-6


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("name", sorted(PAPER))
def test_paper_options_survive_save_and_load(name, world, tmp_path):
    from indirect.projectors import load_projector

    projector = fit_paper(name, world)
    loaded = load_projector(projector.save(tmp_path / f"{name}.pt"))
    assert loaded.get_params() == projector.get_params()
    np.testing.assert_array_equal(loaded.transform(world["images"]), projector.transform(world["images"]))
