"""SmoothGrad saliency of an image embedding, the paper's explanation of what a projection attends to.

The quantity explained is the distance between an image's (projected) embedding and the
(projected) embedding of an all-black image: pixels whose change moves the embedding away from
"nothing" are the ones the embedding is made of. SmoothGrad (Smilkov et al., 2017) averages the
gradient over noisy copies of the input so that the map shows regions, not pixel noise.

Choices where the paper's text leaves room (documented here so they are not re-decided):

* distance: Euclidean distance between unit-length embeddings (retrieval compares unit vectors);
* magnitude: the absolute gradient of every noisy copy is taken *before* averaging over copies
  (captum's ``NoiseTunnel(Saliency(...))`` with its default ``abs=True``), so opposite-signed
  gradients of different copies do not cancel;
* colour channels (``channels``): ours (``abs_mean``, the default) averages the channels'
  absolute gradients, so a pixel whose red and blue pull opposite ways still counts; the original
  code (explainer.py: ``data.grad.mean(dim=1)``, then ``abs().sum(dim=0)``) takes the absolute
  value of the *signed* channel mean (``signed_mean``), in which they cancel.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from PIL import Image

from indirect.errors import AnalysisError

Embedder = Callable[[torch.Tensor], torch.Tensor]
CHANNELS = {  # (copies, C, H, W) gradient -> (copies, H, W) magnitude, see the module docstring
    "abs_mean": lambda gradient: gradient.abs().mean(dim=1),
    "signed_mean": lambda gradient: gradient.mean(dim=1).abs(),
}


def check_channels(channels: str) -> str:
    """``channels`` if it names a reduction of :data:`CHANNELS`, else a one-line refusal."""
    if channels not in CHANNELS:
        raise AnalysisError(f"analysis.saliency.channels={channels}; choose one of: {', '.join(CHANNELS)} "
                            "(abs_mean: ours, signed_mean: the original code's)")
    return channels


def unit_embedder(backbone, projection: Callable[[torch.Tensor], torch.Tensor] | None = None) -> Embedder:
    """(B, C, H, W) preprocessed images -> (B, k) unit embeddings, raw or projected, differentiable."""

    def embed(images: torch.Tensor) -> torch.Tensor:
        features = backbone.image_features(images).float()
        if projection is not None:
            features = projection(features)
        return torch.nn.functional.normalize(features, dim=-1)

    return embed


def black_image(backbone, size: tuple[int, int]) -> torch.Tensor:
    """An all-black image of ``size`` (width, height) in pixel space, through the backbone's own
    preprocessing: black after normalisation is not the zero tensor."""
    return backbone.preprocess(Image.new("RGB", size))


def smoothgrad(embed: Embedder, image: torch.Tensor, reference: torch.Tensor, n_samples: int = 25,
               noise: float = 0.15, generator: torch.Generator | None = None, batch_size: int = 25,
               channels: str = "abs_mean") -> np.ndarray:
    """(H, W) raw saliency of ``image`` (C, H, W): mean over ``n_samples`` noisy copies (noise std =
    ``noise`` x (max - min) of the image) of the gradient g = d distance(embed(x), reference) / dx
    reduced over channels: mean_c |g_c| (``abs_mean``) or |mean_c g_c| (``signed_mean``)."""
    reduce = CHANNELS[check_channels(channels)]
    if n_samples < 1 or noise < 0:
        raise AnalysisError(f"saliency: n_samples={n_samples}, noise={noise}; need n_samples >= 1 and noise >= 0")
    image = image.detach().float().cpu()
    reference = reference.detach().reshape(1, -1)
    std = noise * float(image.max() - image.min())
    total = torch.zeros(image.shape[1:])
    for start in range(0, n_samples, batch_size):
        count = min(batch_size, n_samples - start)
        noisy = image.unsqueeze(0) + std * torch.randn((count, *image.shape), generator=generator)
        noisy.requires_grad_(True)
        with torch.enable_grad():
            embedded = embed(noisy)
            distance = (embedded - reference.to(embedded.device)).norm(dim=1).sum()
            (gradient,) = torch.autograd.grad(distance, noisy)
        total += reduce(gradient).sum(dim=0).cpu()
    return (total / n_samples).numpy()


def normalise_saliency(raw: np.ndarray, percentile: float = 99.0) -> np.ndarray:
    """Clip at the ``percentile``-th percentile and min-max scale to [0, 1] (a constant map -> zeros)."""
    clipped = np.minimum(raw, np.percentile(raw, percentile))
    low, high = float(clipped.min()), float(clipped.max())
    if high - low <= 0:
        return np.zeros_like(clipped, dtype=np.float32)
    return ((clipped - low) / (high - low)).astype(np.float32)


def mass_inside(saliency: np.ndarray, mask: np.ndarray) -> float:
    """Share of the saliency map's total mass on the pixels of ``mask`` (same shape, bool)."""
    if saliency.shape != mask.shape:
        raise AnalysisError(f"saliency map {saliency.shape} and mask {mask.shape} differ in shape")
    total = float(saliency.sum())
    return float(saliency[mask].sum()) / total if total > 0 else float("nan")
