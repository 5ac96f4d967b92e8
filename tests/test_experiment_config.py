"""The config side of a run without running one: method selection, the notion lookup, the
validation stage's one-line refusals, and prompt subsets counted in prompts."""
import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from conftest import compose_config
from indirect.datasets.base import LabelledImages
from indirect.errors import ConfigError, DatasetError, PromptError, UserError
from indirect.experiment.selection import select_methods
from indirect.experiment.validation import validate
from indirect.notions import lookup_notion
from indirect.projectors import Ignore, PCAProjector
from indirect.prompts.builder import build_prompts


def keys(specs):
    return [(spec.key, spec.ignore) for spec in specs]


def test_selection_puts_the_projector_first_then_clip_then_compare_with_once(tmp_path):
    cfg = compose_config(tmp_path, "compare_with=[pca,clip,pca,random]")
    assert keys(select_methods(cfg)) == [("projector", False), ("methods.clip", False), ("methods.pca", False),
                                         ("methods.random", False)]


def test_a_bare_compare_with_name_is_a_list_of_one(tmp_path):
    cfg = compose_config(tmp_path, "compare_with=pca")
    validate(cfg)
    assert keys(select_methods(cfg)) == [("projector", False), ("methods.clip", False), ("methods.pca", False)]


def test_a_compared_method_configured_like_the_projector_is_not_fitted_twice(tmp_path):
    same = compose_config(tmp_path, "projector=pca", "compare_with=[pca]")
    assert keys(select_methods(same)) == [("projector", False), ("methods.clip", False)]
    other = compose_config(tmp_path, "projector=pca", "compare_with=[pca]", "methods.pca.n_components=4")
    assert keys(select_methods(other))[-1] == ("methods.pca", False)


def test_two_configurations_of_one_projector_report_in_two_rows(tmp_path):
    """projector=indirect (fast) beside compare_with=[indirect_faithful]: both are InDiReCT, whose
    seeds were pooled into one 'indirect' row; now the compared one reports under its key."""
    from conftest import TINY, recorded_run

    results, _, _ = recorded_run(tmp_path, *TINY, "compare_with=[indirect_faithful]",
                                 "methods.indirect_faithful.max_iter=50")
    assert list(results["methods"]) == ["indirect", "clip", "indirect_faithful"]
    fast, faithful = (results["methods"][m]["precision_at_1"]["runs"] for m in ("indirect", "indirect_faithful"))
    assert len(fast) == len(faithful) == 2 and fast != faithful
    small, _, _ = recorded_run(tmp_path / "k8", *TINY, "projector.n_components=4", "compare_with=[]")
    assert small["n_components"] == 4         # the k the projector used (was the top-level n_components, 8)
    other = compose_config(tmp_path, "projector=lae", "compare_with=[lae]", "methods.lae.n_components=4")
    specs = select_methods(other)
    assert [spec.name(spec.build(0)) for spec in specs] == ["lae", "clip", "methods.lae"]


def test_ignore_wraps_the_projector_built_with_the_ignore_prompts(tmp_path):
    cfg = compose_config(tmp_path, "ignore=background", "projector=pca", "compare_with=[]", "n_components=2")
    specs = select_methods(cfg)
    assert keys(specs) == [("projector", True), ("projector", False), ("methods.clip", False)]
    prompts = np.random.default_rng(0).normal(size=(6, 8)).astype(np.float32)
    built = specs[0].build(seed=3, ignore_embeddings=prompts[:3])
    assert isinstance(built, Ignore) and isinstance(built.base, PCAProjector) and built.ignore_embeddings is not None
    assert built.fit(prompts).transform(prompts).shape == (6, 2)  # fit(X, y): nothing else to pass
    assert isinstance(specs[1].build(seed=3), PCAProjector)


def labelled(columns: dict) -> LabelledImages:
    ids = [str(i) for i in range(len(next(iter(columns.values()))))]
    return LabelledImages("toy", "/toy", ids, [f"/toy/{i}.png" for i in ids], pd.DataFrame(columns, index=ids),
                          missing_columns={"gloss": "dataset 'toy': gloss needs gloss.csv"},
                          vocabularies={"kinds": ["cat", "dog"]})


DATASET = OmegaConf.create({"name": "toy", "notions": {
    "colour": {"column": "paint", "templates": ["a {} thing"], "vocabulary": ["red", "blue"]},
    "kind": {"column": "kind", "templates": ["a {}"], "vocabulary": "dataset:kinds"},
    "shine": {"column": "gloss", "templates": ["a {} thing"], "vocabulary": ["matt", "glossy"]},
    "own": {"column": "kind", "templates": ["a {}"], "vocabulary": "???"}}})


def test_a_notion_is_its_column_and_its_prompts_from_one_place():
    data = labelled({"paint": ["red", "blue"], "kind": ["cat", "dog"]})
    colour = lookup_notion(DATASET, "colour", labelled=data)
    assert colour.column == "paint" and list(colour.labels(data)) == ["red", "blue"]
    assert colour.prompts(data) == ["a red thing", "a blue thing"]
    assert lookup_notion(DATASET, "kind").prompts(data) == ["a cat", "a dog"]  # a vocabulary the loader provides
    override = OmegaConf.create({"templates": None, "vocabulary": ["green"]})
    assert lookup_notion(DATASET, "colour", override).prompts(data) == ["a green thing"]


def test_unknown_notions_missing_columns_and_vocabularies_are_one_line():
    data = labelled({"paint": ["red", "blue"], "kind": ["cat", "dog"]})
    with pytest.raises(ConfigError, match="notion 'size' is not defined for dataset 'toy'; valid notions: colour, kind, own"):
        lookup_notion(DATASET, "size", labelled=data)
    with pytest.raises(DatasetError, match="gloss needs gloss.csv"):
        lookup_notion(DATASET, "shine").labels(data)
    with pytest.raises(PromptError, match="notion 'own' of dataset 'toy' has no prompt vocabulary"):
        lookup_notion(DATASET, "own")
    custom = lookup_notion(DATASET, "paint", OmegaConf.create({"templates": ["{}"], "vocabulary": ["red"]}), data)
    assert custom.column == "paint" and custom.prompts(data) == ["red"]  # any label column, prompts given whole


@pytest.mark.parametrize("override, message", [
    ("n_components=0", "n_components=0 must be >= 1"),
    ("n_components=1", "n_components=1: unit-normalised outputs of one dimension are +1 or -1"),
    ("repetitions=0", "repetitions=0 must be >= 1"),
    ("seed=abc", "seed='abc' is not an integer; set seed=<integer>"),
    ("evaluation.k=0", "evaluation.k=0 must be >= 1"),
    ("evaluation.backend=nope", "evaluation.backend=nope is unknown; choose one of: exact, pml"),
    ("embed.shard=9", "embed.shard=9 is out of range for embed.num_shards=2; set embed.shard to 0..1"),
    ("embed.on_bad_image=nope", "embed.on_bad_image=nope is unknown; choose one of: skip, fail"),
    ("embed.batch_size=0", "embed.batch_size=0 is not a positive number of images per forward pass; set embed.batch_size=<integer >= 1> or auto"),
    ("compare_with=[nope]", "compare_with: unknown method 'nope'; known: clip,"),
    ("max_prompts=0", "max_prompts=0 must be >= 1"),
    ("embed.jpeg_draft=fasle", "embed.jpeg_draft='fasle' is not a boolean; set embed.jpeg_draft=true or false"),
    ("embed.merge_only=maybe", "embed.merge_only='maybe' is not a boolean; set embed.merge_only=true or false"),
    ("+ignore_prompts.vocab=[red]", "ignore_prompts.vocab is not a key of ignore_prompts; did you mean vocabulary?"),
    ("+prompts.templats=[x]", "prompts.templats is not a key of prompts; did you mean templates?"),
    ("ignore=color", "ignore=color is the run's own notion"),
    ("notion=custom", "notion.name has no value (???); set notion.name=<value>"),
])
def test_validation_refuses_each_malformed_value_in_one_line(tmp_path, override, message):
    cfg = compose_config(tmp_path, "embed.num_shards=2", override)
    with pytest.raises(ConfigError) as caught:
        validate(cfg)
    assert message in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("overrides, message", [
    (["analysis=saliency", "analysis.saliency.n_images=-2"],
     "analysis.saliency.n_images=-2 is not an integer >= 1; set analysis.saliency.n_images=<integer >= 1>"),
    (["analysis=saliency", "analysis.saliency.noise=-0.1"], "analysis.saliency.noise=-0.1 is not a number >= 0"),
    (["analysis=saliency", "analysis.saliency.channels=nope"], "analysis.saliency.channels=nope; choose one of: abs_mean"),
    (["analysis.neighbours.k=0"], "analysis.neighbours.k=0 is not an integer >= 1"),
    (["analysis.neighbours.n_queries=two"], "analysis.neighbours.n_queries='two' is not an integer >= 1"),
    (["analysis=both", "analysis.map.max_points=1"], "analysis.map.max_points=1 is not an integer >= 5"),
    (["analysis=map", "analysis.map.n_epochs=0"], "analysis.map.n_epochs=0 is not an integer >= 1"),
])
def test_analysis_options_are_refused_before_anything_is_loaded(tmp_path, overrides, message):
    """They were refused only when the analyses ran, after the embedding and the evaluation."""
    with pytest.raises(UserError) as caught:
        validate(compose_config(tmp_path, *overrides))
    assert message in str(caught.value) and "\n" not in str(caught.value)
    validate(compose_config(tmp_path, *overrides[:-1]))   # the preset itself is valid


def test_a_cache_or_data_path_that_is_a_file_is_one_line(tmp_path):
    image = tmp_path / "x.png"
    image.write_bytes(b"")
    for key, value, message in [("paths.cache_dir", image, f"paths.cache_dir={image} is a file, not a folder; "
                                                           "set paths.cache_dir=<a folder>"),
                                ("paths.data_dir", image / "data", f"paths.data_dir={image}/data is not a folder: "
                                                                 f"{image} is a file; set paths.data_dir=<a folder>")]:
        with pytest.raises(ConfigError) as caught:
            validate(compose_config(tmp_path, f"{key}={value}"))
        assert str(caught.value) == message


def test_the_default_config_is_valid(tmp_path):
    validate(compose_config(tmp_path))


def test_one_distinct_prompt_is_refused_before_anything_is_scored(tmp_path):
    """Fitted on one prompt a space has one direction (every distance 0 or 2): a run, a search
    and the Python API refuse it in one line; two prompts are enough."""
    from indirect.experiment.inputs import load_inputs
    from indirect.prompts.builder import require_two_prompts
    from indirect.search.space import _prompt_list

    data = labelled({"color": ["red", "blue", "red", "blue"]})
    cfg = compose_config(tmp_path, "prompts.vocabulary=[red]", 'prompts.templates=["a {} shape", "a {} shape "]')
    with pytest.raises(PromptError, match=r"notion 'color' has 1 distinct prompt\(s\) \('a red shape'\).*at least two"):
        load_inputs(cfg, data)
    with pytest.raises(PromptError, match="one-dimensional"):
        _prompt_list(["a red shape", "a red shape"])
    assert _prompt_list(["a red shape", "a blue shape"]) == ["a red shape", "a blue shape"]
    require_two_prompts(["a", "b"], "x")
    ok = load_inputs(compose_config(tmp_path, "prompts.vocabulary=[red,blue]", 'prompts.templates=["a {} shape"]'), data)
    assert ok.prompts == ["a red shape", "a blue shape"]


def test_an_integer_k_below_the_largest_class_is_refused_for_r_precision(tmp_path):
    """k=5 on classes of hundreds: pml's R-Prec and MAP@R become precision at 5 under their names."""
    from conftest import TINY, recorded_run
    from indirect.metrics import MetricsError
    from indirect.metrics.evaluate import check_k_covers_classes

    with pytest.raises(MetricsError, match=r"evaluation.k=5 is below the \d+ other members of the largest class: "
                                           r"mean_average_precision_at_r and r_precision"):
        recorded_run(tmp_path, *TINY, "evaluation.k=5")
    labels = np.array(["a"] * 6 + ["b"] * 3)
    check_k_covers_classes(5, labels)                                          # 5 others in the largest class
    check_k_covers_classes(2, labels, ["precision_at_1", "mean_reciprocal_rank"])
    check_k_covers_classes(None, labels)
    with pytest.raises(MetricsError, match="evaluation.k=4 .* r_precision would count only 4"):
        check_k_covers_classes(4, labels, ["precision_at_1", "r_precision"])


def test_max_prompts_counts_prompts_not_words():
    templates, words = ["a {} shape", "a {} object"], ["red", "green", "blue", "pink", "teal"]
    everything = build_prompts(templates, words)
    assert len(everything) == 10
    subset = build_prompts(templates, words, max_prompts=3, seed=1)
    assert len(subset) == 3 and set(subset) <= set(everything)
    assert subset == build_prompts(templates, words, max_prompts=3, seed=1)
    assert build_prompts(templates, words, max_prompts=50) == everything


def test_a_method_with_one_component_is_refused_like_the_run(tmp_path):
    """projector.n_components=1 (or methods.<m>.n_components=1) slipped past the top-level check and
    printed tie-order figures (P@1 14.35) with exit 0."""
    from types import SimpleNamespace

    from indirect.experiment.runner import check_dimensions

    backbone = SimpleNamespace(embed_dim=384, name="demo")
    spec = lambda key, k: SimpleNamespace(key=key, config=OmegaConf.create({"n_components": k}))
    check_dimensions([spec("projector", 2), spec("methods.pca", 384)], backbone)
    with pytest.raises(ConfigError, match=r"^projector.n_components=1: unit-normalised outputs") as caught:
        check_dimensions([spec("projector", 1)], backbone)
    assert "\n" not in str(caught.value)
    with pytest.raises(ConfigError, match=r"methods.pca.n_components=385 exceeds the 384-d"):
        check_dimensions([spec("methods.pca", 385)], backbone)
