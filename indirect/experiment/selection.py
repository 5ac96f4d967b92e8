"""Which methods a run fits: the projector under test, then ``compare_with``'s picks from ``methods``.

Every method is a config node (``projector``, ``methods.<name>``), so its parameters show in
``--cfg job`` and the run's saved config, and any of them is overridable from the command line.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from indirect.errors import ConfigError
from indirect.experiment.validation import compared
from indirect.projectors import Ignore

REFERENCE = "clip"  # the raw backbone: every run reports it


@dataclass
class MethodSpec:
    """One method's config node, where it sits in the config, and whether it ignores a notion."""

    key: str                                  # 'projector' or 'methods.<name>': named in error messages
    config: DictConfig
    ignore: bool = False
    row: str | None = None                    # the results' row when the projector's own name is taken

    def name(self, projector) -> str:
        """The results' row of this method's fits."""
        return self.row or projector.method_name

    def build(self, seed: int, ignore_embeddings: np.ndarray | None = None):
        """A fresh, unfitted projector seeded with ``seed``; with ``ignore``, wrapped in
        :class:`Ignore` built with the ignored notion's prompt embeddings."""
        try:
            projector = instantiate(self.config, random_state=seed)
        except InstantiationException as error:
            raise ConfigError(f"{self.key}: {str(error.__cause__ or error).splitlines()[0]}; "
                              f"check {self.key}.* (python train_eval.py --cfg job shows it)") from error
        return Ignore(base=projector, ignore_embeddings=ignore_embeddings) if self.ignore else projector


def plain(node: DictConfig) -> dict:
    return OmegaConf.to_container(node, resolve=True)


def select_methods(cfg: DictConfig) -> list[MethodSpec]:
    """The chosen projector first (wrapped when ``ignore`` is set, with the plain one next to it),
    then the raw-backbone reference and ``compare_with``'s methods, each once: a compared method
    configured exactly like the projector is not fitted twice. A compared method whose projector
    has the name of one before it (``projector=indirect compare_with=[indirect_faithful]``: both
    InDiReCT) reports under its ``methods`` key, so two configurations never share a row."""
    specs = [MethodSpec("projector", cfg.projector, ignore=bool(cfg.get("ignore")))]
    if cfg.get("ignore"):
        specs.append(MethodSpec("projector", cfg.projector))
    taken = {spec.name(spec.build(0)) for spec in specs}
    for name in dict.fromkeys([REFERENCE, *compared(cfg)]):
        if name not in cfg.methods:
            raise ConfigError(f"compare_with: unknown method '{name}'; known: {', '.join(cfg.methods)}")
        if plain(cfg.methods[name]) != plain(cfg.projector):
            spec = MethodSpec(f"methods.{name}", cfg.methods[name])
            own = spec.name(spec.build(0))
            row = next(r for r in (own, name, spec.key) if r not in taken)
            spec.row = None if row == own else row
            taken.add(row)
            specs.append(spec)
    return specs
