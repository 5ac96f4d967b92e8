"""The dataset configs, prompt sets, vocabularies and paper presets fit the loaders and each other."""
import re
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf

from indirect.datasets.car_names import MULTI_WORD_MAKES
from indirect.datasets.css_colors import CSS21_COLORS
from indirect.datasets.deepfashion import ATTRIBUTE_GROUPS
from indirect.notions import lookup_notion
from indirect.prompts.builder import load_vocabulary
import layouts

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "conf"
VOCAB = REPO / "indirect" / "prompts" / "vocab"
DATASETS = {"synthetic_cars": layouts.make_synthetic_cars, "cars196": layouts.make_cars196,
            "cub200": layouts.make_cub200, "deepfashion": layouts.make_deepfashion,
            "movie_posters": layouts.make_movie_posters}
PAPER_NOTIONS = {"cars196": {"model", "manufacturer", "type"}, "cub200": {"species"},
                 "deepfashion": {"category", "texture", "fabric", "fit"}, "movie_posters": {"genre", "country"},
                 "synthetic_cars": {"model", "color", "background_color"}}


def vocabulary(name: str) -> list[str]:
    assert (VOCAB / f"{name}.txt").is_file()
    return load_vocabulary(name)


def load_from_config(dataset: str, root: Path):
    """Build the loader the way the pipeline does: the config minus name and notions, instantiated."""
    config = OmegaConf.load(CONF / "dataset" / f"{dataset}.yaml")
    assert OmegaConf.to_container(config)["root"] == f"${{paths.data_dir}}/{dataset}"
    options = OmegaConf.to_container(config)
    options.update(root=str(root))
    return config, instantiate({k: v for k, v in options.items() if k not in ("name", "notions")}, _convert_="all")


@pytest.mark.parametrize("dataset", DATASETS)
def test_every_notion_has_a_label_column_a_notion_file_and_prompts(tmp_path, dataset):
    config, data = load_from_config(dataset, DATASETS[dataset](tmp_path))
    assert config["name"] == dataset and data.name == dataset
    assert PAPER_NOTIONS[dataset] <= set(config["notions"])
    for notion in config["notions"]:
        spec = lookup_notion(config, notion, labelled=data)  # the one lookup every reader uses
        assert spec.column in data.labels.columns or spec.column in data.missing_columns, (notion, spec.column)
        assert (CONF / "notion" / f"{notion}.yaml").exists()
        assert spec.templates and all(template.count("{}") == 1 for template in spec.templates)
        words = load_vocabulary(spec.vocabulary, data.vocabularies)
        assert len(words) >= 2 and len(set(words)) == len(words), (dataset, notion)


def test_vocabularies_have_the_papers_sizes():
    assert vocabulary("css21_colors") == sorted(CSS21_COLORS)
    assert len(vocabulary("car_models")) >= 300
    makes = vocabulary("car_makes")
    assert len(makes) >= 40 and {"Aston Martin", "Land Rover", "Rolls-Royce"} <= set(makes)
    assert len(vocabulary("deepfashion_categories")) == 50
    for group in ("texture", "fabric", "fit"):
        assert vocabulary(f"deepfashion_{group}s") == list(ATTRIBUTE_GROUPS[group])
    assert set(vocabulary("cars196_colors")) == {"black", "mixed", "white", "yellow", "silver", "red", "other", "blue"}
    assert not (VOCAB / "movie_genres.txt").exists()  # genre and country prompts are the loaded values (dataset:)


def test_car_model_list_is_not_cars196_class_names():
    """Cars196 class names end in '<body type> <year>'; the external list names current cars without them."""
    models = vocabulary("car_models")
    assert not [name for name in models if re.search(r"\b(Sedan|SUV|Coupe|Convertible|Hatchback|Wagon|Cab|Van|Minivan) "
                                                     r"(19|20)\d\d$", name)]
    makes = set(vocabulary("car_makes")) | set(MULTI_WORD_MAKES)
    assert all(any(name.startswith(make) for make in makes) for name in models)


def compose_preset(dataset: str, notion: str):
    with initialize_config_dir(str(CONF), version_base="1.3"):
        return compose("train_eval", overrides=["~projector", f"experiment=paper_{dataset}", f"notion={notion}"],
                       return_hydra_config=True)


@pytest.mark.parametrize("dataset", DATASETS)
def test_paper_preset_sweeps_the_papers_notions(dataset):
    notion = sorted(PAPER_NOTIONS[dataset])[0]
    config = compose_preset(dataset, notion)
    assert config.dataset.name == dataset and config.notion.name == notion
    assert config.dataset.notions[notion].templates and config.backbone.model_name == "ViT-B-32"
    assert set(str(config.hydra.sweeper.params.notion).split(",")) == PAPER_NOTIONS[dataset]


def test_paper_preset_runs_every_baseline_with_the_papers_k_and_repetitions():
    config = compose_preset("cars196", "model")
    assert config.n_components == 128 and config.repetitions == 5
    assert set(config.compare_with) == {"clip", "random", "random_transform", "pca", "lae", "ae", "oracle"}, (
        "the experiment preset's top-level keys are overridden by train_eval.yaml: its defaults list must put "
        "_self_ before 'experiment: null'")
