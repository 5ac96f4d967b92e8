"""The methods of one run: which projectors, fitted on what, repeated over which seeds."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from indirect.notions import ConfigError

log = logging.getLogger(__name__)


@dataclass
class MethodSpec:
    """A projector config plus whether to wrap it in the ``ignore`` transform."""

    config: DictConfig
    ignore: bool = False

    def build(self, seed: int):
        from indirect.projectors import Ignore

        projector = instantiate(self.config, random_state=seed)
        return Ignore(base=projector) if self.ignore else projector


def projector_config(name: str, conf_dir: Path, n_components: int) -> DictConfig:
    path = Path(conf_dir) / "projector" / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in path.parent.glob("*.yaml"))
        raise ConfigError(f"compare_with: unknown method '{name}'; known: {', '.join(known)}")
    holder = OmegaConf.create({"n_components": n_components, "projector": OmegaConf.load(path)})
    OmegaConf.resolve(holder)
    return holder.projector


def method_specs(cfg: DictConfig, conf_dir: Path) -> list[MethodSpec]:
    """The chosen projector first (wrapped when ``ignore`` is set, with the plain one next to
    it), then ``compare_with``; the raw-backbone reference ``clip`` is always included."""
    specs = [MethodSpec(cfg.projector, ignore=bool(cfg.get("ignore")))]
    if cfg.get("ignore"):
        specs.append(MethodSpec(cfg.projector))
    chosen = OmegaConf.select(cfg, "projector._target_")
    for name in list(dict.fromkeys(["clip", *(cfg.get("compare_with") or [])])):
        extra = projector_config(name, conf_dir, cfg.n_components)
        if extra._target_ != chosen or dict(extra) != dict(cfg.projector):
            specs.append(MethodSpec(extra))
    return specs


def fit_transform(spec: MethodSpec, seed: int, text: np.ndarray, images: np.ndarray, labels: np.ndarray,
                  ignore_text: np.ndarray | None):
    """Fit one projector as its kind requires and return (method name, projector, image embeddings)."""
    projector = spec.build(seed)
    inner = projector.base if spec.ignore else projector
    fit_on = getattr(inner, "fit_on", "text")
    data, target = (images, labels) if fit_on == "images" else (text, None)
    kwargs = {"ignore_embeddings": ignore_text} if spec.ignore else {}
    projector.fit(data, target, **kwargs)
    return projector.method_name, projector, projector.transform(images)


def depends_on_seed(spec: MethodSpec) -> bool:
    """Read off an unfitted instance, since it can depend on options (e.g. the solver)."""
    return bool(getattr(instantiate(spec.config, random_state=0), "depends_on_seed", True))
