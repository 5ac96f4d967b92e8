"""Which labels and which prompts a notion means on a dataset: one lookup for every reader.

A notion is defined once per dataset, in its config: ``dataset.notions.<name>`` holds the label
column and the prompt set (templates x vocabulary) together. The run's own notion, ``ignore``
and the saliency's ``second_notion`` are all looked up here; a notion the dataset does not define
may still name any label column when its prompt set is given whole (``notion=custom``).
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from omegaconf import DictConfig, OmegaConf

from indirect.datasets.base import LabelledImages
from indirect.errors import ConfigError, DatasetError, PromptError
from indirect.prompts.builder import build_prompts, load_vocabulary


@dataclass(frozen=True)
class Notion:
    """One notion of one dataset: the label column it reads and its prompt set."""

    name: str
    column: str
    templates: list[str]
    vocabulary: object  # an inline list, a vocabulary file name or ``dataset:<name>`` (see load_vocabulary)

    def labels(self, labelled: LabelledImages) -> pd.Series:
        """The notion's labels, or the loader's own explanation of why that column is absent."""
        if self.column not in labelled.labels.columns and self.column in labelled.missing_columns:
            raise DatasetError(labelled.missing_columns[self.column])
        return labelled.label_column(self.column)

    def prompts(self, labelled: LabelledImages, max_prompts: int | None = None, seed: int = 0) -> list[str]:
        vocabulary = load_vocabulary(self.vocabulary, labelled.vocabularies)
        return build_prompts(self.templates, vocabulary, max_prompts=max_prompts, seed=seed)


def lookup_notion(dataset_cfg: DictConfig, name: str, override: DictConfig | dict | None = None,
                  labelled: LabelledImages | None = None) -> Notion:
    """``dataset.notions.<name>`` with the non-null keys of ``override`` (``prompts``,
    ``ignore_prompts``) replacing its templates or vocabulary; a one-line error lists the
    dataset's notions when the name is neither a notion nor (with ``labelled``) a label column."""
    notions = dataset_cfg.get("notions") or {}
    defined = notions.get(name)
    if defined is None and (labelled is None or name not in labelled.labels.columns):
        columns = "" if labelled is None else f"; its label columns: {', '.join(map(str, labelled.labels.columns)) or '(none)'}"
        raise ConfigError(f"notion '{name}' is not defined for dataset '{dataset_cfg.name}'; "
                          f"valid notions: {', '.join(sorted(notions)) or '(none)'}{columns} "
                          "(or notion=custom notion.name=<label column> prompts=custom prompts.vocabulary=[...])")
    spec = {"column": name, "templates": None, "vocabulary": None}
    if defined is not None:
        spec.update({key: _value(defined, key) for key in ("column", "templates", "vocabulary")})
    return _notion(name, str(dataset_cfg.name), spec, override)


def prompt_notion(dataset_cfg: DictConfig, override: DictConfig | dict | None) -> Notion:
    """A notion given by its prompt set alone (``notion=custom`` without ``notion.name``): what a
    search of unlabelled images needs. Its column is empty: it has no labels to read."""
    if override is None:
        raise PromptError(f"no prompt set for dataset '{dataset_cfg.name}'; pass prompts=custom "
                          "'prompts.vocabulary=[red,green,blue]' 'prompts.templates=[\"a {} shape\"]' (or notion=<name>)")
    return _notion("custom", str(dataset_cfg.name), {"column": "", "templates": None, "vocabulary": None}, override)


def _notion(name: str, dataset: str, spec: dict, override) -> Notion:
    """``spec`` with the non-null prompt keys of ``override``, refused when a part is still missing."""
    for key in ("templates", "vocabulary"):
        if override is not None and _is_missing(override, key):
            raise PromptError(f"the prompt {key} of notion '{name}' has no value (???); pass prompts.{key}=[...] "
                              f"(ignore_prompts.{key} for the ignored notion)")
        if override is not None and _value(override, key) is not None:
            spec[key] = _value(override, key)
    if spec["vocabulary"] is None:
        raise PromptError(f"notion '{name}' of dataset '{dataset}' has no prompt vocabulary; "
                          "pass prompts.vocabulary='[word1,word2]' (or a vocabulary file name)")
    if not spec["templates"]:
        raise PromptError(f"notion '{name}' of dataset '{dataset}' has no prompt templates; "
                          "pass prompts.templates='[\"a photo of a {}\"]'")
    templates = [spec["templates"]] if isinstance(spec["templates"], str) else list(spec["templates"])
    return Notion(name, str(spec["column"]), templates, spec["vocabulary"])


def _is_missing(node, key: str) -> bool:
    if isinstance(node, DictConfig):
        return key in node.keys() and OmegaConf.is_missing(node, key)
    return node.get(key) == "???"


def _value(node, key: str):
    """A key of a config node or dict, a missing value (``???``) read as None, containers as plain lists."""
    if isinstance(node, DictConfig):
        if key not in node.keys() or OmegaConf.is_missing(node, key):
            return None
        value = node[key]
        return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value
    value = node.get(key)
    return None if value == "???" else value
