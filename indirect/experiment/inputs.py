"""The inputs stage: the dataset's images, the notion's labels and prompts, and the ignored notion's."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from indirect.datasets.base import LabelledImages
from indirect.errors import UserError
from indirect.notions import Notion, lookup_notion
from indirect.prompts.builder import require_two_prompts


@dataclass
class Inputs:
    """What a run reads before any model is loaded."""

    labelled: LabelledImages
    notion: Notion
    labels: pd.Series                    # the notion's labels, indexed by image id
    prompts: list[str]
    ignore: Notion | None = None
    ignore_labels: pd.Series | None = None
    ignore_prompts: list[str] | None = None


def build(config, **kwargs):
    """``hydra.utils.instantiate``, with a user error raised inside the target passed on as itself
    (not wrapped in Hydra's InstantiationException), so the entry point shows its one line."""
    try:
        return instantiate(config, **kwargs)
    except InstantiationException as error:
        if isinstance(error.__cause__, UserError):
            raise error.__cause__ from None
        raise


def load_dataset(dataset_cfg: DictConfig) -> LabelledImages:
    """The loader named by ``dataset._target_`` called with the config's options (not its name or notions)."""
    options = {k: v for k, v in OmegaConf.to_container(dataset_cfg, resolve=True).items() if k not in ("name", "notions")}
    return build(options, _convert_="all")


def load_inputs(cfg: DictConfig, labelled: LabelledImages) -> Inputs:
    """The run's notion (with ``prompts`` over its prompt set) and, with ``ignore``, the ignored one
    (with ``ignore_prompts``): both through the one notion lookup, so both fail the same way."""
    notion = lookup_notion(cfg.dataset, str(cfg.notion.name), cfg.get("prompts"), labelled)
    inputs = Inputs(labelled, notion, notion.labels(labelled),
                    notion.prompts(labelled, cfg.get("max_prompts"), int(cfg.seed)))
    require_two_prompts(inputs.prompts, f"notion '{notion.name}'")
    if cfg.get("ignore"):
        ignore = lookup_notion(cfg.dataset, str(cfg.ignore), cfg.get("ignore_prompts"), labelled)
        inputs.ignore, inputs.ignore_labels, inputs.ignore_prompts = ignore, ignore.labels(labelled), ignore.prompts(labelled)
    return inputs
