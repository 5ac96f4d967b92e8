"""Conditional similarity: Recall@k, the demo-world queries, the scorers and the notion spaces."""
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import top_k_accuracy_score

from indirect.conditional import (OTHER_FACTOR, ConditionSpaces, DemoSpaces, EmbeddingTable, NotionScorer, Query,
                                  change_queries, check_queries, clip_scorer, demo_queries, evaluate_scorer,
                                  focus_queries, image_text_scorer, text_scorer)
from indirect.datasets.shapes.factors import FACTORS
from indirect.errors import ConfigError, DatasetError, MetricsError


def query(n_gallery=3, target="t", gallery=None, kind="focus"):
    return Query("r", "color", target, tuple(gallery or [f"g{i}" for i in range(n_gallery)]), kind, "color")


def fixed(scores_by_query):
    return lambda q: np.asarray(scores_by_query[q])


# ---------------------------------------------------------------- metrics

def test_recall_on_a_hand_made_case():
    q1, q2, q3 = query(), Query("r2", "color", "t", ("a", "b", "c"), "focus"), Query("r3", "color", "t", ("d", "e", "f"), "focus")
    scores = {q1: [0.9, 0.1, 0.2, 0.3],    # target first
              q2: [0.5, 0.6, 0.1, 0.2],    # target second
              q3: [0.1, 0.6, 0.5, 0.4]}    # target last
    result = evaluate_scorer(fixed(scores), [q1, q2, q3])
    assert result["recall_at_1"] == pytest.approx(1 / 3)
    assert result["recall_at_2"] == pytest.approx(2 / 3)
    assert result["recall_at_3"] == pytest.approx(2 / 3)
    assert result["n_queries"] == 3
    assert (result["chance_recall_at_1"], result["chance_recall_at_2"], result["chance_recall_at_3"]) == (0.25, 0.5, 0.75)


def test_recall_matches_sklearn_top_k_accuracy():
    rng = np.random.default_rng(0)
    queries = [Query(f"r{i}", "c", f"t{i}", tuple(f"g{i}_{j}" for j in range(14)), "focus") for i in range(300)]
    scores = rng.normal(size=(300, 15))
    result = evaluate_scorer(lambda q: scores[queries.index(q)], queries)
    for k in (1, 2, 3):
        assert result[f"recall_at_{k}"] == pytest.approx(top_k_accuracy_score(np.zeros(300, int), scores, k=k, labels=range(15)))


def test_ties_count_as_a_random_order_and_a_constant_scorer_is_at_chance():
    queries = [query(n_gallery=14)] + [Query("r", "c", "t", ("a", "b"), "focus")]
    constant = evaluate_scorer(lambda q: np.zeros(len(q.candidates)), queries)
    for k in (1, 2, 3):
        assert constant[f"recall_at_{k}"] == pytest.approx(constant[f"chance_recall_at_{k}"])
    tied = evaluate_scorer(lambda q: np.array([1.0, 1.0, 0.0, 0.0]), [query()])
    assert (tied["recall_at_1"], tied["recall_at_2"]) == (0.5, 1.0)


def test_a_gallery_copy_of_the_target_is_the_target():
    repeated = query(gallery=["g0", "t", "g1"])
    result = evaluate_scorer(lambda q: np.array([0.7, 0.1, 0.7, 0.2]), [repeated])
    assert result["recall_at_1"] == 1.0
    assert result["chance_recall_at_1"] == pytest.approx(1 / 3)  # three distinct candidates


def test_a_repeated_distractor_counts_twice_in_the_chance_level_as_in_a_random_ranking():
    """A constant scorer (every order equally likely) must score the chance level: with a
    distractor listed twice among 14 entries that is 1/15, not 1/14 over distinct items."""
    gallery = tuple(f"g{j}" for j in range(13)) + ("g0",)
    repeated = Query("r", "c", "t", gallery, "focus")
    constant = evaluate_scorer(lambda q: np.zeros(len(q.candidates)), [repeated])
    assert constant["chance_recall_at_1"] == pytest.approx(1 / 15)
    for k in (1, 2, 3):
        assert constant[f"recall_at_{k}"] == pytest.approx(constant[f"chance_recall_at_{k}"])


def test_bad_scores_and_no_queries_are_one_line_errors():
    for scorer in (lambda q: np.zeros(2), lambda q: np.array([np.nan, 0, 0, 0])):
        with pytest.raises(MetricsError) as error:
            evaluate_scorer(scorer, [query()])
        assert "\n" not in str(error.value)
    with pytest.raises(MetricsError):
        evaluate_scorer(lambda q: np.zeros(4), [])
    with pytest.raises(DatasetError, match="empty gallery"):
        check_queries([Query("r", "c", "t", (), "focus")])
    with pytest.raises(DatasetError, match="gallery holds only copies of its target 't'"):
        check_queries([Query("r", "c", "t", ("t", "t"), "focus")])
    with pytest.raises(DatasetError, match="reference is its target 't'"):
        check_queries([Query("t", "c", "t", ("a", "b"), "focus")])
    with pytest.raises(DatasetError, match="'x'"):
        check_queries([Query("r", "c", "t", ("x",), "focus")], known_ids={"r", "t"})


# ---------------------------------------------------------------- demo-world queries

@pytest.fixture(scope="module")
def labels():
    """2,000 images with independent factors, as the demo generator draws them (no pixels needed)."""
    rng = np.random.default_rng(1)
    table = {factor: rng.choice(values, size=2000) for factor, values in FACTORS.items()}
    return pd.DataFrame(table, index=pd.Index([f"img{i:04d}" for i in range(2000)], name="id"))


@pytest.mark.parametrize("notion", list(OTHER_FACTOR))
def test_focus_queries_isolate_the_notion(labels, notion):
    other = OTHER_FACTOR[notion]
    queries = focus_queries(labels, notion, n_queries=200, seed=3)
    assert len(queries) == 200
    for q in queries:
        ref = labels.loc[q.reference]
        assert q.kind == "focus" and q.condition == notion and len(q.candidates) == 15
        assert len(set(q.candidates)) == 15 and q.reference not in q.candidates
        assert labels.loc[q.target, notion] == ref[notion] and labels.loc[q.target, other] == ref[other]
        gallery = labels.loc[list(q.gallery)]
        assert (gallery[other] == ref[other]).all() and (gallery[notion] != ref[notion]).all()


@pytest.mark.parametrize("notion", list(OTHER_FACTOR))
def test_change_queries_ask_for_the_changed_reference(labels, notion):
    other = OTHER_FACTOR[notion]
    rest = [f for f in FACTORS if f not in (notion, other)]
    for q in change_queries(labels, notion, n_queries=100, seed=4):
        ref = labels.loc[q.reference]
        target = labels.loc[q.target]
        assert q.kind == "change" and q.condition != ref[notion] and len(set(q.candidates)) == 15
        assert target[notion] == q.condition and target[other] == ref[other]
        pool = labels[(labels[notion] == q.condition) & (labels[other] == ref[other])]
        assert (target[rest] == ref[rest]).sum() == (pool[rest] == ref[rest]).sum(axis=1).max()
        gallery = labels.loc[list(q.gallery)]
        unchanged = (gallery[notion] == ref[notion]) & (gallery[other] == ref[other])
        elsewhere = (gallery[notion] == q.condition) & (gallery[other] != ref[other])
        assert unchanged.sum() == 7 and elsewhere.sum() == 7


def test_queries_are_seeded(labels):
    for kind in ("focus", "change"):
        assert demo_queries(labels, "color", kind, 50, seed=7) == demo_queries(labels, "color", kind, 50, seed=7)
        assert demo_queries(labels, "color", kind, 50, seed=7) != demo_queries(labels, "color", kind, 50, seed=8)


def test_query_errors_are_one_line(labels):
    with pytest.raises(ConfigError, match="lighting"):
        demo_queries(labels, "lighting", "focus")
    with pytest.raises(ConfigError, match="kind"):
        demo_queries(labels, "color", "swap")
    with pytest.raises(DatasetError, match="n_images"):
        focus_queries(labels.iloc[:20], "color", 5)


# ---------------------------------------------------------------- scorers

def test_clip_text_and_official_image_text_scores():
    table = EmbeddingTable(["r", "t", "g0"], np.array([[3.0, 0.0], [1.0, 1.0], [0.0, 2.0]]))
    texts = {"color": np.array([0.0, 1.0])}
    embed = lambda batch: np.stack([texts[t] for t in batch])  # noqa: E731
    q = Query("r", "color", "t", ("g0",), "focus")
    assert clip_scorer(table)(q) == pytest.approx([np.sqrt(0.5), 0.0])
    assert text_scorer(table, embed)(q) == pytest.approx([np.sqrt(0.5), 1.0])
    combined = np.array([1.5, 0.5]) / np.linalg.norm([1.5, 0.5])  # raw features averaged, then normalised
    assert image_text_scorer(table, embed)(q) == pytest.approx([combined @ [np.sqrt(0.5), np.sqrt(0.5)], combined[1]])
    assert image_text_scorer(table, embed, normalize_inputs=True)(q) == pytest.approx([1.0, np.sqrt(0.5)])


class AxisSpaces(ConditionSpaces):
    """Two notions on a 4-d toy: 'color' varies along axes 0-1, 'shape' along axes 2-3."""

    def __init__(self):
        words = {"color": ["red", "blue"], "shape": ["star", "ring"]}
        vectors = {"a red x": [1, 0, 0, 0], "a blue x": [0, 1, 0, 0], "a star x": [0, 0, 1, 0], "a ring x": [0, 0, 0, 1]}
        super().__init__(lambda batch: np.array([vectors[t] for t in batch], float),
                         {"color": ["a {} x"], "shape": ["a {} x"]}, words, n_components=2)

    def focus_space(self, query):
        return query.condition if query.condition in self.words else None

    def identity_space(self, query):
        return "shape"

    def condition_space(self, query):
        return "color"

    def condition_text(self, query):
        return self.value_text("color", query.condition)


def test_notion_scorer_uses_the_condition_space_and_counts_fallbacks():
    # reference: red star; target: red ring; distractor: blue star (closer in the raw space)
    table = EmbeddingTable(["r", "t", "g"], np.array([[1, 0, 1, 0], [1, 0, 0, 1.5], [0, 1, 1, 0]], float))
    scorer = NotionScorer(table, AxisSpaces())
    focus = Query("r", "color", "t", ("g",), "focus")
    assert clip_scorer(table)(focus)[0] < clip_scorer(table)(focus)[1]
    assert scorer(focus) == pytest.approx([1.0, 0.0])
    assert scorer(Query("r", "texture", "t", ("g",), "focus")) == pytest.approx(clip_scorer(table)(focus))
    assert scorer.fallbacks == {"texture"}
    # change to blue keeping the star: target blue star beats red star (unchanged) and blue ring (elsewhere)
    table = EmbeddingTable(["r", "t", "u", "e"], np.array([[1, 0, 1, 0], [0, 1, 1, 0], [1, 0, 1, 0.1], [0, 1, 0, 1]], float))
    change = NotionScorer(table, AxisSpaces())(Query("r", "blue", "t", ("u", "e"), "change"))
    assert change == pytest.approx([2.0, 1.0, 1.0], abs=0.01) and change[0] > max(change[1:])


# ---------------------------------------------------------------- notion spaces from the composed config

@pytest.mark.parametrize("kind", ["demo", "genecis"])
def test_both_kinds_of_condition_space_fit_the_run_s_projector(config, kind):
    """GeneCIS spaces were always InDiReCT whatever projector= said (results.json named the
    configured one): both kinds of space now build what the run asks for."""
    from indirect.conditional.spaces import GenecisSpaces
    from indirect.projectors import PCAProjector

    built = []

    def make(seed):
        built.append(seed)
        return PCAProjector(n_components=2, random_state=seed)

    embed = lambda texts: np.random.default_rng(len(texts)).normal(size=(len(texts), 8))   # noqa: E731
    spaces = (DemoSpaces(embed, config("dataset=shapes").dataset, n_components=4, seed=3, make_projector=make)
              if kind == "demo" else GenecisSpaces(embed, n_components=4, seed=3, make_projector=make))
    name = "color"
    assert isinstance(spaces.projector(name), PCAProjector) and built == [3]


def test_demo_spaces_read_the_prompt_sets_of_dataset_notions(config):
    """The spaces are the notions of conf/dataset/shapes.yaml, and follow an override of them."""
    from indirect.prompts import load_vocabulary

    cfg = config("dataset=shapes", "dataset.notions.color.vocabulary=[red,teal]")
    seen = []
    spaces = DemoSpaces(lambda texts: seen.extend(texts) or np.eye(len(texts), 8), cfg.dataset, n_components=4)
    assert set(spaces.words) == set(OTHER_FACTOR)
    assert spaces.templates["shape"] == list(cfg.dataset.notions.shape.templates)
    assert spaces.words["shape"] == load_vocabulary(cfg.dataset.notions.shape.vocabulary)
    assert spaces.prompts("color") == ["a red shape", "a red object", "a teal shape", "a teal object"]
    spaces.projector("color")
    assert seen == spaces.prompts("color") and spaces.fitted_names() == ["color"]
