"""Which activation an open_clip model is built with: the one its pretrained weights were trained with.

OpenAI's CLIPs and several open_clip releases (LAION-400M B/32, MetaCLIP, DFN...) were trained
with QuickGELU (``x * sigmoid(1.702 x)``). open_clip's plain configs (``ViT-B-32``) build GELU
and only *warn* when such weights are loaded into them, so the model computed is not the one
that was trained. open_clip's pretrained table records the training activation per tag
(``get_pretrained_cfg(model, tag)["quick_gelu"]``); this module turns it into the build.

"Explicit" choices of activation are ``force_quick_gelu`` (true/false) and a model name ending in
``-quickgelu``. A plain architecture name (``ViT-B-32``) says nothing about the activation: with
a QuickGELU tag it is built with QuickGELU. An explicit choice that contradicts the tag's record
is refused (one line naming the right model) instead of computing a model nobody trained.
"""
from __future__ import annotations

from dataclasses import dataclass

import open_clip
from open_clip.pretrained import get_pretrained_cfg

from indirect.errors import BackboneError

SUFFIX = "-quickgelu"


@dataclass(frozen=True)
class ModelSpec:
    """What to ask open_clip for: ``model_name`` (a config under which ``pretrained`` is a known tag
    when it is one) and the activation, ``quick_gelu``."""

    model_name: str
    quick_gelu: bool

    @property
    def activation(self) -> str:
        return "quick_gelu" if self.quick_gelu else "gelu"

    @property
    def label(self) -> str:
        """The model built, named as open_clip names it (``ViT-B-32-quickgelu`` for QuickGELU)."""
        base = self.model_name.removesuffix(SUFFIX)
        return base + SUFFIX if self.quick_gelu else self.model_name


def _config_quick_gelu(model_name: str) -> bool:
    return bool((open_clip.get_model_config(model_name) or {}).get("quick_gelu", False))


def _right_model(base: str, quick_gelu: bool) -> str:
    if not quick_gelu:
        return f"backbone.model_name={base}"
    if base + SUFFIX in open_clip.list_models():
        return f"backbone.model_name={base + SUFFIX} (or {base})"
    return f"backbone.model_name={base} with backbone.force_quick_gelu unset"


def model_spec(model_name: str, pretrained: str | None, force_quick_gelu: bool | None = None) -> ModelSpec:
    """The model to build for ``model_name`` + ``pretrained`` (a tag, a local open_clip checkpoint
    or None); ``force_quick_gelu`` None follows the tag (else the model's config)."""
    base = model_name.removesuffix(SUFFIX)
    named_quick_gelu = model_name.endswith(SUFFIX)
    if named_quick_gelu and force_quick_gelu is False:
        raise BackboneError(f"backbone.model_name={model_name} asks for QuickGELU and backbone.force_quick_gelu=false "
                            f"for GELU: drop one (GELU is backbone.model_name={base})")
    tag_cfg, tag_model = {}, model_name
    if pretrained:
        for candidate in dict.fromkeys((model_name, base, base + SUFFIX)):
            tag_cfg = get_pretrained_cfg(candidate, pretrained)
            if tag_cfg:
                tag_model = candidate
                break
    if not tag_cfg:  # no tag (random weights, a local checkpoint, or a tag open_clip will refuse)
        if force_quick_gelu is None:
            return ModelSpec(model_name, _config_quick_gelu(model_name))
        return ModelSpec(model_name, force_quick_gelu)
    tag_quick_gelu = bool(tag_cfg.get("quick_gelu", False))
    if tag_quick_gelu:
        if force_quick_gelu is False:
            raise BackboneError(f"backbone.pretrained={pretrained} was trained with QuickGELU, but "
                                f"backbone.force_quick_gelu=false asks for GELU: drop it; the right model is "
                                f"{_right_model(base, True)}")
        return ModelSpec(tag_model, True)
    if force_quick_gelu or named_quick_gelu:
        asked = "backbone.force_quick_gelu=true" if force_quick_gelu else f"backbone.model_name={model_name}"
        raise BackboneError(f"backbone.pretrained={pretrained} was not trained with QuickGELU, but {asked} asks for "
                            f"it: the right model is {_right_model(base, False)}")
    if force_quick_gelu is False:
        return ModelSpec(tag_model, False)
    return ModelSpec(tag_model, _config_quick_gelu(tag_model))


def create_kwargs(spec: ModelSpec) -> dict:
    """Keyword arguments for ``open_clip.create_model*`` that build ``spec``'s activation."""
    if spec.quick_gelu:
        return {"force_quick_gelu": True}
    return {"quick_gelu": False} if _config_quick_gelu(spec.model_name) else {}


def refuse_unknown_local_activation(model_name: str, pretrained: str, force_quick_gelu: bool | None) -> None:
    """A local open_clip-format file does not record the activation it was trained with (OpenAI's
    weights in open_clip's layout are a plain state dict like any other). Under a plain architecture
    name whose config and pretrained tags disagree on it (``ViT-B-32``: GELU config, ``openai``
    QuickGELU, ``laion2b_*`` GELU) the build would be a guess: ask for the activation instead."""
    if force_quick_gelu is not None or model_name.endswith(SUFFIX):
        return
    quick, gelu = [], []
    for name, tag in open_clip.list_pretrained():
        if name.removesuffix(SUFFIX) == model_name and tag not in quick + gelu:
            (quick if get_pretrained_cfg(name, tag).get("quick_gelu", False) else gelu).append(tag)
    if quick and (gelu or not _config_quick_gelu(model_name)):
        others = f"with GELU ({', '.join(gelu[:3])})" if gelu else "its open_clip config builds GELU"
        raise BackboneError(f"backbone.pretrained={pretrained} is a local {model_name} file, which does not record its "
                            f"activation, and {model_name} was trained with QuickGELU ({', '.join(quick[:3])}) and {others}: "
                            "say which, backbone.force_quick_gelu=true (OpenAI's weights) or false")
