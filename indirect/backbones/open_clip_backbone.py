"""open_clip models by name, with a pretrained tag or a local checkpoint (open_clip or OpenAI format),
built with the activation the weights were trained with (:mod:`indirect.backbones.activation`)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import open_clip
import torch

from indirect.backbones.activation import ModelSpec, create_kwargs, model_spec
from indirect.backbones.base import Backbone, auto_device, describe
from indirect.backbones.checkpoints import weights_identity
from indirect.errors import BackboneError

_MODEL_CONFIGS = Path(__file__).parent / "model_configs"
open_clip.add_model_config(_MODEL_CONFIGS)


def is_openai_state_dict(path: Path) -> bool:
    """OpenAI's checkpoints (TorchScript archives or plain state dicts) carry
    ``input_resolution``/``context_length``; open_clip's own ones do not."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:
        return True  # a TorchScript archive: only OpenAI ships those
    state = state.get("state_dict", state) if isinstance(state, dict) else state
    return isinstance(state, dict) and "input_resolution" in state


def architecture_digest(model_name: str) -> str:
    """Random weights are named by their seed and their architecture: open_clip's config for
    ``model_name`` (a config edited under the same name builds another network)."""
    config = open_clip.get_model_config(model_name)
    return "config-" + hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]


class OpenClipBackbone(Backbone):
    """``model_name`` from ``open_clip.list_models()``; ``pretrained`` a tag (``openai``,
    ``laion2b_s34b_b79k``...), a local file, or None for seeded random weights.

    A local file in OpenAI's format (a TorchScript archive, or a plain state dict when
    ``model_name`` is null/``openai``) goes through open_clip's OpenAI loader, which reads the
    architecture off the weights, as ``clip.load`` does, and builds QuickGELU as OpenAI's models have.

    A pretrained tag whose open_clip record says QuickGELU (``openai``, ``laion400m_e32``,
    ``metaclip_*``, ``dfn*``...) is built with QuickGELU whatever ``model_name`` spells;
    ``force_quick_gelu`` (None: follow the tag) that contradicts the tag is a BackboneError."""

    def __init__(self, model_name: str | None = "ViT-B-32", pretrained: str | None = "openai",
                 device: str = "auto", precision: str = "auto", seed: int = 0,
                 force_quick_gelu: bool | None = None):
        self.device = auto_device(device)
        self.model_name, self.pretrained, self.precision = model_name, pretrained, precision
        torch.manual_seed(seed)
        checkpoint = Path(str(pretrained)).expanduser() if pretrained else None
        local = checkpoint is not None and checkpoint.is_file()
        openai_format = local and (model_name in (None, "openai") or is_openai_state_dict(checkpoint))
        if not openai_format and model_name in (None, "openai"):
            raise BackboneError(f"backbone.model_name={model_name} needs backbone.pretrained to be an OpenAI-format "
                                "checkpoint file; otherwise name the model, e.g. backbone.model_name=ViT-B-32")
        spec = ModelSpec(str(model_name), quick_gelu=True) if openai_format else model_spec(
            model_name, None if local else pretrained, force_quick_gelu)
        try:
            if openai_format:
                self.model = open_clip.load_openai_model(str(checkpoint), precision="fp32", device="cpu")
                self.preprocess = open_clip.image_transform(self.model.visual.image_size, is_train=False)
            else:
                self.model, _, self.preprocess = open_clip.create_model_and_transforms(
                    spec.model_name, pretrained=str(checkpoint) if checkpoint else pretrained, **create_kwargs(spec))
        except RuntimeError as error:
            raise BackboneError(
                f"open_clip could not load model '{model_name}' with pretrained='{pretrained}': {str(error).splitlines()[0]} "
                "(offline machines need a local checkpoint file: backbone.pretrained=/path/to/weights.pt)"
            ) from error
        self.model = self.model.float().eval().requires_grad_(False).to(self.device)
        # OpenAI checkpoints all use OpenAI's BPE tokenizer, whatever model_name says.
        self.tokenizer = open_clip.get_tokenizer("ViT-B-32" if openai_format else model_name)
        self.embed_dim = int(self.model.visual.output_dim)
        self.activation = spec.activation
        self.name = f"open_clip:{model_name or 'openai-checkpoint'}" if openai_format else f"open_clip:{spec.label}"
        self._weights = weights_identity(pretrained) if pretrained else f"random:seed{seed}:{architecture_digest(spec.model_name)}"

    def image_features(self, images: torch.Tensor) -> torch.Tensor:
        with self.autocast():
            return self.model.encode_image(images.to(self.device, non_blocking=True)).float()

    @torch.inference_mode()
    def text_features(self, texts: list[str]) -> torch.Tensor:
        tokens = self.tokenizer(list(texts)).to(self.device)
        with self.autocast():
            return self.model.encode_text(tokens).float().cpu()

    def fingerprint(self) -> dict:
        return {"backbone": self.name, "weights": self._weights, "preprocess": describe(self.preprocess),
                "precision": self.effective_precision(), "activation": self.activation}
