"""The interface every image-text backbone implements (CLIP variants and the demo model).

The pipeline, the embedding cache, the projectors and the saliency explainer only see this
interface, so a new backbone is one file plus one yaml in ``conf/backbone``.
"""
from __future__ import annotations

import abc
import re
from typing import Callable

import torch

from indirect.errors import PromptError


def describe(preprocess) -> str:
    """A preprocess as the cache key spells it: its repr without object addresses (OpenAI clip's
    transform holds a plain function, whose repr says 'at 0x7f...', another in every process)."""
    return re.sub(r" at 0x[0-9a-fA-F]+", "", repr(preprocess))


def auto_device(device: str | torch.device | None = "auto") -> torch.device:
    """'auto' (or None) -> CUDA when present, else CPU; anything else is passed to torch.device.

    The one place a device setting is resolved: backbones, projectors and the evaluation use it."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def refuse_long_prompts(texts: list[str], counts: list[int], context_length: int) -> None:
    """CLIP's text encoders read ``context_length`` tokens (start and end included); open_clip's
    tokenizer cuts a longer prompt silently, so prompts that differ only after the cut get one
    embedding. The original calls ``clip.tokenize`` without truncation, which refuses: so do we."""
    for text, count in zip(texts, counts):
        if count > context_length:
            shown = text if len(text) <= 60 else text[:57] + "..."
            raise PromptError(f"prompt {shown!r} is {count} tokens long, over the text encoder's context length "
                              f"{context_length} (CLIP would cut it, and prompts differing after the cut would get "
                              "one embedding): shorten its template or vocabulary entry")


class Backbone(abc.ABC):
    """A frozen dual encoder.

    Subclasses set ``name`` (a readable identifier), ``embed_dim``, ``device`` and
    ``preprocess`` (PIL image -> CHW float tensor, the model's own transform), and implement
    :meth:`image_features` and :meth:`text_features`. Outputs are *not* normalised: the
    projectors decide how to normalise, as in the paper.
    """

    name: str
    embed_dim: int
    device: torch.device
    preprocess: Callable

    @abc.abstractmethod
    def image_features(self, images: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) preprocessed images on any device -> (B, embed_dim) float32.

        Differentiable (no ``no_grad`` inside) so that saliency maps can use it; callers that
        only embed wrap it in ``torch.inference_mode``.
        """

    @abc.abstractmethod
    def text_features(self, texts: list[str]) -> torch.Tensor:
        """A list of strings -> (len(texts), embed_dim) float32 on CPU."""

    @abc.abstractmethod
    def fingerprint(self) -> dict:
        """What identifies these weights and this preprocessing for the embedding cache:
        at least ``backbone`` (name) and ``weights`` (pretrained tag or checkpoint sha256)
        and ``preprocess`` (a string describing the transform)."""

    precision: str = "auto"

    def effective_precision(self) -> str:
        """The precision image features are computed in: part of the cache fingerprint."""
        if self.device.type != "cuda" or self.precision == "fp32":
            return "fp32"
        return "bf16" if self.precision == "bf16" else "fp16"

    def autocast(self):
        """Mixed precision on CUDA (``precision``: auto/fp16 -> float16, bf16 -> bfloat16,
        fp32 -> off); always off on CPU, where it would only slow the convolutions down."""
        precision = self.effective_precision()
        if precision != "fp32":
            return torch.autocast("cuda", dtype=torch.bfloat16 if precision == "bf16" else torch.float16)
        return torch.autocast("cpu", enabled=False)
