"""OpenAI's own ``clip`` package (optional extra ``indirect[openai]``), loaded with ``jit=False``."""
from __future__ import annotations

import sys
import types
from pathlib import Path

import torch

from indirect.backbones.base import Backbone, auto_device, describe, refuse_long_prompts
from indirect.backbones.checkpoints import (LOAD_ERRORS, read_state_dict, refuse_other_heads, unreadable_checkpoint,
                                           weights_identity)
from indirect.errors import BackboneError, one_line


def _import_clip():
    """``clip`` does ``from pkg_resources import packaging`` for one version check; setuptools
    >= 81 no longer ships pkg_resources, so provide that one attribute when it is missing."""
    try:
        import pkg_resources  # noqa: F401
    except ImportError:
        import packaging.version

        shim = types.ModuleType("pkg_resources")
        shim.packaging = packaging
        sys.modules["pkg_resources"] = shim
    try:
        import clip
    except ImportError as error:
        raise ImportError("backbone=openai_clip needs OpenAI's clip package: pip install 'indirect[openai]'") from error
    return clip


class OpenAIClipBackbone(Backbone):
    """``name`` is one of ``clip.available_models()`` (e.g. ``ViT-B/32``) or a local ``.pt`` file."""

    def __init__(self, name: str = "ViT-B/32", device: str = "auto", precision: str = "auto"):
        self.clip = _import_clip()
        self.device = auto_device(device)
        self.precision = precision
        local = Path(str(name)).expanduser()
        is_file = local.is_file()
        if is_file:
            refuse_other_heads(read_state_dict(local), f"backbone.name={name}")
        try:
            self.model, self.preprocess = self.clip.load(str(local) if is_file else name, device="cpu", jit=False)
        except (LOAD_ERRORS if is_file else (RuntimeError, OSError)) as error:
            if is_file:  # an HTML page or git-lfs pointer under the name, a truncated download, other weights
                raise unreadable_checkpoint(f"backbone.name={name}", error) from error
            # an unknown name; a download on an offline machine
            raise BackboneError(f"OpenAI's clip could not load backbone.name={name}: {one_line(error)} (one of "
                                f"{', '.join(self.clip.available_models())}, or a local checkpoint file: "
                                "backbone.name=/path/to/ViT-B-32.pt, which offline machines need)") from error
        self.model = self.model.float().eval().requires_grad_(False).to(self.device)
        self.embed_dim = int(self.model.visual.output_dim)
        self.name = f"openai_clip:{local.name if is_file else name}"
        self._weights = weights_identity(str(local)) if is_file else f"tag:openai:{name}"

    def image_features(self, images: torch.Tensor) -> torch.Tensor:
        with self.autocast():
            return self.model.encode_image(images.to(self.device, non_blocking=True)).float()

    @torch.inference_mode()
    def text_features(self, texts: list[str]) -> torch.Tensor:
        texts = list(texts)
        refuse_long_prompts(texts, [len(self.clip.clip._tokenizer.encode(t)) + 2 for t in texts], self.model.context_length)
        tokens = self.clip.tokenize(texts).to(self.device)
        with self.autocast():
            return self.model.encode_text(tokens).float().cpu()

    def fingerprint(self) -> dict:
        return {"backbone": self.name, "weights": self._weights, "preprocess": describe(self.preprocess),
                "precision": self.effective_precision()}
