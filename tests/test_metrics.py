"""evaluate(backend="exact") against pytorch-metric-learning's AccuracyCalculator."""
import math

import numpy as np
import pytest
import torch

from indirect.metrics import METRIC_NAMES, MetricsError, evaluate
from indirect.metrics.knn_retrieval import RETRIEVAL_METRICS, retrieval_metrics

TOL = 1e-4


def clustered(n, d, n_classes, noise, seed):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_classes, d))
    labels = rng.integers(0, n_classes, n)
    return (centres[labels] + noise * rng.normal(size=(n, d))).astype(np.float32), labels


def duplicated(n, n_distinct, n_classes, seed):
    """Many exact duplicates whose labels disagree: the neighbour order among ties decides P@1."""
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(n_distinct, 8)).astype(np.float32)
    return base[rng.integers(0, n_distinct, n)], rng.integers(0, n_classes, n)


def with_strings_and_singletons(seed):
    x, y = clustered(240, 16, 12, 1.5, seed)
    names = np.array([f"class-{i}" for i in range(12)], dtype=object)[y]
    names[:5] = ["only-a", "only-b", "only-c", "only-d", "only-e"]
    return x, names


def clustered_with_ties(seed):
    """Clustered points on an integer grid (many distinct pairs at exactly equal distances),
    plus exact copies of some points under their own and under other labels."""
    rng = np.random.default_rng(seed)
    centres = rng.integers(-6, 7, size=(15, 6))
    labels = rng.integers(0, 15, 300)
    x = centres[labels] + rng.integers(-2, 3, size=(300, 6))
    copies = rng.integers(0, 300, 60)
    copy_labels = np.where(rng.random(60) < 0.5, labels[copies], rng.integers(0, 15, 60))
    return np.vstack([x, x[copies]]).astype(np.float32), np.concatenate([labels, copy_labels])


CASES = {
    "random": lambda: (np.random.default_rng(1).normal(size=(300, 16)).astype(np.float32), np.random.default_rng(2).integers(0, 10, 300)),
    "clustered": lambda: clustered(400, 32, 20, 2.0, 3),
    "strings+singletons": lambda: with_strings_and_singletons(4),
    "duplicates": lambda: duplicated(300, 25, 4, 5),
    "duplicates-many-per-point": lambda: duplicated(200, 3, 3, 6),
    "clustered-with-ties": lambda: clustered_with_ties(12),
}


def assert_close_to_pml(x, y, **kwargs):
    ours = evaluate(x, y, backend="exact", **kwargs)
    ref = evaluate(x, y, backend="pml", **kwargs)
    assert list(ours) == list(ref)
    for name in ours:
        if name in RETRIEVAL_METRICS:
            assert abs(ours[name] - ref[name]) <= TOL, (name, ours[name], ref[name])
        else:
            assert ours[name] == pytest.approx(ref[name], abs=1e-9), name
    return ours, ref


@pytest.mark.parametrize("case", sorted(CASES))
def test_exact_matches_pml_with_max_bin_count(case):
    x, y = CASES[case]()
    ours, _ = assert_close_to_pml(x, y)
    assert list(ours) == list(METRIC_NAMES)
    assert all(0.0 <= ours[m] <= 1.0 for m in RETRIEVAL_METRICS)


@pytest.mark.parametrize("k", [None, 7, 1000])   # 1000 > N: every other item, on both backends
@pytest.mark.parametrize("case", ["clustered", "duplicates"])
def test_exact_matches_pml_for_other_k(case, k):
    x, y = CASES[case]()
    assert_close_to_pml(x, y, k=k, metrics=list(RETRIEVAL_METRICS))


@pytest.mark.parametrize("k", [None, "max_bin_count", 5, 150])
def test_full_ranking_matches_pml_on_clustered_data_with_ties(k):
    """k=None (pml's default) ranks every other item: exact MAP and MRR depend on each tie."""
    x, y = clustered_with_ties(13)
    order = np.random.default_rng(14).permutation(len(x))
    for xs, ys in [(x, y), (x[order], y[order])]:
        ours, ref = assert_close_to_pml(xs, ys, k=k, metrics=list(RETRIEVAL_METRICS))
        assert ours["precision_at_1"] == ref["precision_at_1"]


def test_full_ranking_by_hand():
    """Points 0, 1, 2, 3 on a line, labels a b b a: the equal distances 1 -> (0, 2) and
    2 -> (1, 3) are ordered by index, so query 1 meets its match second, query 2 first."""
    x = np.arange(4, dtype=np.float32)[:, None]
    ours = evaluate(x, ["a", "b", "b", "a"], k=None, metrics=list(RETRIEVAL_METRICS))
    # ranks of the one relevant item per query: 3, 2, 1, 3
    assert ours["precision_at_1"] == pytest.approx(1 / 4)
    assert ours["mean_reciprocal_rank"] == pytest.approx((1 / 3 + 1 / 2 + 1 + 1 / 3) / 4)
    assert ours["mean_average_precision"] == pytest.approx(ours["mean_reciprocal_rank"])
    assert ours["r_precision"] == ours["mean_average_precision_at_r"] == pytest.approx(1 / 4)
    assert_close_to_pml(x, ["a", "b", "b", "a"], k=None, metrics=list(RETRIEVAL_METRICS))


def raw_features_whose_norm_carries_the_class(seed):
    """CLIP-like raw features (norms ~20, a shared offset) where two classes differ mostly in
    length: normalising them first would change every retrieval figure."""
    rng = np.random.default_rng(seed)
    direction = rng.normal(size=(4, 24))
    labels = rng.integers(0, 4, 240)
    scale = np.where(labels % 2 == 0, 1.0, 1.6)[:, None]
    x = scale * (5 * direction[labels // 2] + rng.normal(size=(240, 24)))
    return x.astype(np.float32), labels


def test_raw_features_match_the_original_accuracy_calculator_call():
    """The paper's evaluation: each method's output as it comes, pml's AccuracyCalculator with its
    defaults (k=None, Euclidean faiss k-NN), every image a query against all others."""
    from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator

    x, y = raw_features_whose_norm_carries_the_class(21)
    ours = evaluate(x, y, k=None, metrics=list(RETRIEVAL_METRICS))
    calculator = AccuracyCalculator(include=RETRIEVAL_METRICS, device=torch.device("cpu"))
    ref = calculator.get_accuracy(x, y, x, y, ref_includes_query=True)   # the original's call, pml 2 names
    for name in RETRIEVAL_METRICS:
        assert ours[name] == pytest.approx(float(ref[name]), abs=TOL), name
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    on_unit = evaluate(unit, y, k=None, metrics=list(RETRIEVAL_METRICS))
    assert abs(on_unit["mean_average_precision_at_r"] - ours["mean_average_precision_at_r"]) > 0.05


def test_ties_are_broken_by_index_like_faiss():
    """Permuting the duplicates changes which label wins a tie: pml and we must agree exactly."""
    x, y = duplicated(300, 25, 4, 5)
    for seed in range(3):
        order = np.random.default_rng(seed).permutation(len(x))
        ours, ref = assert_close_to_pml(x[order], y[order], metrics=list(RETRIEVAL_METRICS))
        assert ours["precision_at_1"] == ref["precision_at_1"]


def brute_force(x, y) -> dict[str, float]:
    """P@1, R-precision and MAP@R from float64 distances (vectors subtracted, never the
    |q|^2 + |r|^2 - 2 q.r formula), neighbours in (distance, index) order, lone queries left out."""
    x, y = x.astype(np.float64), np.asarray(y)
    scores = {"precision_at_1": [], "r_precision": [], "mean_average_precision_at_r": []}
    for i in range(len(x)):
        others = np.delete(np.arange(len(x)), i)
        dist = ((x[others] - x[i]) ** 2).sum(1)
        hits = (y[others] == y[i])[np.lexsort((others, dist))]
        r = int(hits.sum())
        if r == 0:
            continue
        top = hits[:r]
        scores["precision_at_1"].append(float(hits[0]))
        scores["r_precision"].append(top.mean())
        scores["mean_average_precision_at_r"].append(float((np.cumsum(top) / np.arange(1, r + 1))[top].sum() / r))
    return {name: float(np.mean(values)) for name, values in scores.items()}


@pytest.mark.parametrize("offset", [0.0, 100.0, 1000.0])
def test_a_large_shared_offset_does_not_change_the_figures(offset):
    """|q|^2 + |r|^2 - 2 q.r in float32 loses the distances under a large shared offset (offset
    1000: P@1 0.130 against a true 0.162 before): such embeddings are centred first."""
    x, y = clustered(600, 64, 20, 3.3, 3)
    shifted = (x + np.float32(offset)).astype(np.float32)
    ours = evaluate(shifted, y, backend="exact", k=None, metrics=list(RETRIEVAL_METRICS))
    truth = brute_force(shifted, y)
    for name, value in truth.items():
        assert ours[name] == pytest.approx(value, abs=1e-6), (name, offset)


def test_duplicates_in_high_dimension_rank_as_float64_distances_do():
    """Exact copies in d = 512 (pml's faiss gives copies of a query small non-zero distances
    there, so noise decides their order; ours are 0 and ordered by index)."""
    rng = np.random.default_rng(7)
    base = rng.normal(size=(150, 512)).astype(np.float32)
    x, y = base[rng.integers(0, 150, 700)], rng.integers(0, 4, 700)
    ours = evaluate(x, y, backend="exact", k=None, metrics=list(RETRIEVAL_METRICS))
    for name, value in brute_force(x, y).items():
        assert ours[name] == pytest.approx(value, abs=1e-9), name


def test_a_number_and_the_same_text_are_two_labels():
    from indirect.metrics.evaluate import encode_labels

    mixed = np.array([1, "1", 2, "1", np.int64(1)], dtype=object)
    codes = encode_labels(mixed)
    assert codes[0] == codes[4] and codes[1] == codes[3] and len(set(codes.tolist())) == 3
    assert encode_labels(["b", "a", "b"]).tolist() == [1, 0, 1] and encode_labels([3, 1, 3]).tolist() == [1, 0, 1]


def test_singletons_are_left_out_of_retrieval():
    x, y = clustered(200, 8, 10, 0.01, 7)  # tight clusters: perfect retrieval
    far_away = np.full((1, 8), 100.0, dtype=np.float32)  # nobody's neighbour, its class has no other member
    ours = evaluate(np.vstack([x, far_away]), np.append(y, 999), metrics=["precision_at_1", "r_precision"])
    assert ours["precision_at_1"] == 1.0 and ours["r_precision"] == 1.0


def test_all_singletons_give_nan_retrieval():
    x = np.random.default_rng(0).normal(size=(20, 4))
    result = evaluate(x, np.arange(20), metrics=["precision_at_1", "mean_average_precision_at_r"])
    assert all(math.isnan(v) for v in result.values())


def test_torch_inputs_and_string_labels_give_the_same_values():
    x, y = clustered(150, 8, 6, 1.0, 8)
    as_ints = evaluate(x, y)
    as_torch = evaluate(torch.from_numpy(x).double(), torch.from_numpy(y))
    as_strings = evaluate(x, [f"label {v}" for v in y])
    for name in METRIC_NAMES:
        assert as_torch[name] == pytest.approx(as_ints[name], abs=1e-12)
        assert as_strings[name] == pytest.approx(as_ints[name], abs=1e-12)


def test_small_blocks_give_the_same_result():
    x, y = duplicated(300, 25, 4, 9)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    whole = retrieval_metrics(xt, yt, block_elements=1 << 24)
    rows_of_seven = retrieval_metrics(xt, yt, block_elements=7 * 300)
    one_row = retrieval_metrics(xt, yt, block_elements=1)
    for name in RETRIEVAL_METRICS:
        assert rows_of_seven[name] == pytest.approx(whole[name], abs=1e-12)
        assert one_row[name] == pytest.approx(whole[name], abs=1e-12)


def test_kmeans_seed_moves_nmi_only_within_its_spread():
    x, y = clustered(300, 16, 8, 3.0, 10)
    nmis = [evaluate(x, y, metrics=["NMI"], seed=s)["NMI"] for s in range(4)]
    pml = evaluate(x, y, metrics=["NMI"], backend="pml", seed=123)["NMI"]
    spread = max(nmis) - min(nmis)
    assert min(nmis) - spread - 0.01 <= pml <= max(nmis) + spread + 0.01


def test_mrr_alone_works_on_both_backends():
    x, y = clustered(100, 8, 5, 1.0, 11)
    ours = evaluate(x, y, metrics=["mean_reciprocal_rank"])
    ref = evaluate(x, y, metrics=["mean_reciprocal_rank"], backend="pml")
    assert list(ref) == ["mean_reciprocal_rank"]
    assert abs(ours["mean_reciprocal_rank"] - ref["mean_reciprocal_rank"]) <= TOL


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"metrics": ["recall_at_1"]}, "unknown metric"),
        ({"k": 0}, "k=0"),
        ({"k": "max"}, "k='max'"),
        ({"backend": "sklearn"}, "backend='sklearn'"),
    ],
)
def test_bad_options_raise_actionable_errors(kwargs, message):
    x, y = clustered(20, 4, 2, 1.0, 0)
    with pytest.raises(MetricsError, match=message):
        evaluate(x, y, **kwargs)


def test_bad_inputs_raise_actionable_errors():
    x, y = clustered(20, 4, 2, 1.0, 0)
    with pytest.raises(MetricsError, match="20 embeddings but 19 labels"):
        evaluate(x, y[:19])
    x_nan = x.copy()
    x_nan[3, 1] = np.nan
    with pytest.raises(MetricsError, match="NaN"):
        evaluate(x_nan, y)
    with pytest.raises(MetricsError, match="missing values"):
        evaluate(x, [None] + ["a"] * 19)


def test_images_alone_in_their_class_are_counted_in_a_warning(caplog):
    """pml (and the exact backend) leave images alone in their class out of every retrieval metric;
    a run said nothing, so P@1 over 3 of 5 images read as a figure over all 5."""
    import logging

    from indirect.experiment.embeddings import warn_lone_images
    from indirect.metrics import evaluate

    x = np.array([[0.0], [0.1], [5.0], [5.1], [9.0]], np.float32)
    labels = np.array(["a", "a", "b", "c", "d"])
    # the lone images b, c, d are no queries: P@1 = mean over a's two images = 1, not 2/5
    assert evaluate(x, labels, metrics=["precision_at_1"])["precision_at_1"] == 1.0
    with caplog.at_level(logging.WARNING):
        assert warn_lone_images(labels, "notion 'x'") == 3
    assert "3 of 5 image(s) are alone in their notion 'x' class" in caplog.text
    assert "average over the other 2" in caplog.text
    caplog.clear()
    assert warn_lone_images(np.array(["a", "a", "b", "b"]), "notion 'x'") == 0 and not caplog.text


def test_equal_numbers_in_object_labels_are_one_class():
    """An object column holding 1 and 1.0 (pandas after a concat, a list built by hand) split each
    class in two as the texts "1" and "1.0": P@1 and R-Prec 0.00 where the numeric labels give 1.00."""
    from indirect.metrics import evaluate
    from indirect.metrics.evaluate import encode_labels

    x = np.array([[0.0], [0.1], [0.2], [5.0], [5.1], [5.2]], np.float32)
    mixed = np.array([1, 1.0, np.int64(1), 2.0, 2, np.float32(2)], dtype=object)
    assert encode_labels(mixed).tolist() == [0, 0, 0, 1, 1, 1]
    numeric = evaluate(x, np.array([1, 1, 1, 2, 2, 2]), metrics=["precision_at_1", "r_precision"])
    assert evaluate(x, mixed, metrics=["precision_at_1", "r_precision"]) == numeric == {"precision_at_1": 1.0, "r_precision": 1.0}
    assert encode_labels(np.array([1.5, 1.5, "1.5"], dtype=object)).tolist() == [0, 0, 1]   # number vs text still two


@pytest.mark.parametrize("scale", [1e20, 1e-22, 1e39])
def test_embeddings_at_extreme_scales_score_as_at_scale_one(scale):
    """Squared distances overflowed float32 at scale 1e20 (P@1 0.00, pml 0.23, for a true 0.98)
    and underflowed into false ties at 1e-22; float64 embeddings of 1e39 were refused as inf."""
    import torch

    from indirect.metrics import evaluate

    rng = np.random.default_rng(3)
    labels = rng.integers(0, 4, 60)
    x = rng.normal(size=(60, 4)) + 3 * np.eye(4)[labels]
    reference = evaluate(x.astype(np.float32), labels, k=None)
    scaled = x * scale
    inputs = [scaled, torch.from_numpy(scaled)] + ([] if scale > 1e30 else [scaled.astype(np.float32)])
    for embeddings in inputs:
        for backend in ("exact", "pml"):
            got = evaluate(embeddings, labels, k=None, backend=backend, metrics=["precision_at_1", "r_precision", "mean_average_precision"])
            assert got == pytest.approx({m: reference[m] for m in got}, abs=2e-3)
