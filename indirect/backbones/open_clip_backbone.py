"""open_clip models by name, with a pretrained tag or a local checkpoint (open_clip or OpenAI format),
built with the activation the weights were trained with (:mod:`indirect.backbones.activation`)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import open_clip
import torch
from open_clip.factory import _find_checkpoint_in_dir, parse_model_name
from open_clip.pretrained import download_pretrained_from_hf
from open_clip.tokenizer import SimpleTokenizer

from indirect.backbones.activation import ModelSpec, create_kwargs, model_spec, refuse_unknown_local_activation
from indirect.backbones.base import Backbone, auto_device, describe, refuse_long_prompts
from indirect.backbones.checkpoints import (LOAD_ERRORS, read_state_dict, refuse_other_heads, unreadable_checkpoint,
                                           weights_identity)
from indirect.errors import BackboneError, one_line

_MODEL_CONFIGS = Path(__file__).parent / "model_configs"
open_clip.add_model_config(_MODEL_CONFIGS)


def architecture_digest(model_name: str) -> str:
    """Random weights are named by their seed and their architecture: open_clip's config for
    ``model_name`` (a config edited under the same name builds another network)."""
    config = open_clip.get_model_config(model_name)
    return "config-" + hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]


def schema_checkpoint(model_name) -> tuple[str | None, Path | None]:
    """``local-dir:<folder>`` and ``hf-hub:<org/repo>`` names take config and weights from a folder
    and ignore ``pretrained``: (the schema, the weights file open_clip will load), resolved as
    open_clip resolves it, so the cache key can name that file by its content. (None, None) for a
    plain name. A folder without weights (open_clip would build random ones) and an hf-hub model
    that is neither cached nor downloadable are refused."""
    schema, identifier = parse_model_name(str(model_name)) if model_name else (None, "")
    if schema == "local-dir":
        found = _find_checkpoint_in_dir(Path(identifier)) if Path(identifier).is_dir() else None
        if not found and Path(identifier).is_dir():
            raise BackboneError(f"backbone.model_name={model_name}: the folder holds no weights open_clip reads "
                                "(*.safetensors, *.bin, *.pth; it would build random ones): put the checkpoint there")
        return schema, Path(found) if found else None
    if schema == "hf-hub":
        try:
            return schema, Path(download_pretrained_from_hf(identifier))
        except (FileNotFoundError, RuntimeError) as error:
            raise BackboneError(f"backbone.model_name={model_name}: its weights are neither in the Hugging Face cache nor "
                                f"downloadable here ({one_line(error)[:120]}): fetch them on a connected machine, or put "
                                "the folder here and use backbone.model_name=local-dir:/path/to/it") from error
    return None, None


class OpenClipBackbone(Backbone):
    """``model_name`` from ``open_clip.list_models()``; ``pretrained`` a tag (``openai``,
    ``laion2b_s34b_b79k``...), a local file, or None for seeded random weights.

    A local file in OpenAI's format (a TorchScript archive, or a plain state dict when
    ``model_name`` is null/``openai``) goes through open_clip's OpenAI loader, which reads the
    architecture off the weights, as ``clip.load`` does, and builds QuickGELU as OpenAI's models have.
    ``local-dir:<folder>``/``hf-hub:<repo>`` names load the folder's config and weights (``pretrained``
    is ignored); the cache key names that file by its sha256.

    A pretrained tag whose open_clip record says QuickGELU (``openai``, ``laion400m_e32``,
    ``metaclip_*``, ``dfn*``...) is built with QuickGELU whatever ``model_name`` spells;
    ``force_quick_gelu`` (None: follow the tag) that contradicts the tag is a BackboneError."""

    def __init__(self, model_name: str | None = "ViT-B-32", pretrained: str | None = "openai",
                 device: str = "auto", precision: str = "auto", seed: int = 0,
                 force_quick_gelu: bool | None = None):
        self.device = auto_device(device)
        self.model_name, self.pretrained, self.precision = model_name, pretrained, precision
        torch.manual_seed(seed)
        schema, checkpoint = schema_checkpoint(model_name)
        if not schema:
            checkpoint = Path(str(pretrained)).expanduser() if pretrained else None
        local = not schema and checkpoint is not None and checkpoint.is_file()
        state = read_state_dict(checkpoint) if local else {}
        openai_format = local and (model_name in (None, "openai") or state is None or "input_resolution" in state)
        if not openai_format and model_name in (None, "openai"):
            raise BackboneError(f"backbone.model_name={model_name} needs backbone.pretrained to be an OpenAI-format "
                                "checkpoint file; otherwise name the model, e.g. backbone.model_name=ViT-B-32")
        if openai_format:
            refuse_other_heads(state, f"backbone.pretrained={pretrained}")
        elif local:
            refuse_unknown_local_activation(model_name, pretrained, force_quick_gelu)
        del state
        spec = ModelSpec(str(model_name), quick_gelu=True) if openai_format else model_spec(
            model_name, None if local or schema else pretrained, force_quick_gelu)
        try:
            if openai_format:
                self.model = open_clip.load_openai_model(str(checkpoint), precision="fp32", device="cpu")
                self.preprocess = open_clip.image_transform(self.model.visual.image_size, is_train=False)
            else:
                self.model, _, self.preprocess = open_clip.create_model_and_transforms(
                    spec.model_name, pretrained=None if schema else str(checkpoint) if checkpoint else pretrained,
                    **create_kwargs(spec))
        except (LOAD_ERRORS if local or schema else RuntimeError) as error:
            if local or schema:  # an HTML page or git-lfs pointer under the name, a truncated file, other weights
                raise unreadable_checkpoint(f"backbone.pretrained={pretrained}" if local else
                                            f"backbone.model_name={model_name} ({checkpoint})", error,
                                            "re-download it, or name the architecture it holds") from error
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
        if schema:  # the folder's config and the file open_clip loaded from it, whatever pretrained says
            self._weights = f"{architecture_digest(model_name)}:{weights_identity(str(checkpoint))}"
        else:
            self._weights = weights_identity(pretrained) if pretrained else f"random:seed{seed}:{architecture_digest(spec.model_name)}"

    def image_features(self, images: torch.Tensor) -> torch.Tensor:
        with self.autocast():
            return self.model.encode_image(images.to(self.device, non_blocking=True)).float()

    @torch.inference_mode()
    def text_features(self, texts: list[str]) -> torch.Tensor:
        texts = list(texts)
        if isinstance(self.tokenizer, SimpleTokenizer):  # CLIP's BPE (other tokenizers are not checked)
            refuse_long_prompts(texts, [len(self.tokenizer.encode(t)) + 2 for t in texts], self.tokenizer.context_length)
        tokens = self.tokenizer(texts).to(self.device)
        with self.autocast():
            return self.model.encode_text(tokens).float().cpu()

    def fingerprint(self) -> dict:
        return {"backbone": self.name, "weights": self._weights, "preprocess": describe(self.preprocess),
                "precision": self.effective_precision(), "activation": self.activation}
