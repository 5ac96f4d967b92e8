"""Which labels and which prompts a (dataset, notion) pair means."""
from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from indirect.datasets.base import DatasetError, LabelledImages
from indirect.prompts.builder import PromptError, build_prompts, load_vocabulary
from indirect.errors import ConfigError



def label_column(dataset_cfg: DictConfig, notion: str, labelled: LabelledImages | None = None) -> str:
    """The label column a notion reads; a one-line error lists the dataset's valid notions."""
    notions = dict(dataset_cfg.get("notions") or {})
    if notion in notions:
        return str(notions[notion])
    if labelled is not None and notion in labelled.labels.columns:
        return notion
    raise ConfigError(
        f"notion '{notion}' is not defined for dataset '{dataset_cfg.name}'; "
        f"valid notions: {', '.join(sorted(notions)) or '(none)'}"
    )


def notion_labels(labelled: LabelledImages, column: str):
    """A notion's labels, or the loader's own explanation of why that column is absent."""
    missing = labelled.notes.get("missing_columns", {})
    if column not in labelled.labels.columns and column in missing:
        raise DatasetError(missing[column])
    return labelled.label_column(column)


def prompt_set(cfg: DictConfig, conf_dir: Path, notion: str, labelled: LabelledImages,
               max_prompts: int | None = None, seed: int = 0, spec: DictConfig | None = None) -> list[str]:
    """Prompts of ``notion``: ``spec`` when given, ``cfg.prompts`` for the run's own notion,
    else the file ``conf/prompts/<dataset>/<notion>.yaml`` (the ``ignore`` notion's default)."""
    if spec is None and notion == cfg.notion.name:
        spec = cfg.get("prompts")
    elif spec is None:
        path = Path(conf_dir) / "prompts" / str(cfg.dataset.name) / f"{notion}.yaml"
        if not path.is_file():
            raise ConfigError(f"no prompt set for notion '{notion}' of dataset '{cfg.dataset.name}': {path} does not exist")
        spec = OmegaConf.load(path)
    if spec is None or "templates" not in spec:
        raise PromptError(
            f"no prompt set for notion '{notion}' of dataset '{cfg.dataset.name}'; add conf/prompts/{cfg.dataset.name}/{notion}.yaml "
            "or pass prompts=custom prompts.vocabulary='[...]'"
        )
    vocab_spec = None if OmegaConf.is_missing(spec, "vocabulary") else OmegaConf.to_container(spec, resolve=True)["vocabulary"]
    vocabulary = load_vocabulary(vocab_spec, labelled.notes.get("vocabularies"))
    templates = list(spec.templates) if not isinstance(spec.templates, str) else [spec.templates]
    return build_prompts(templates, vocabulary, max_prompts=max_prompts, seed=seed)
