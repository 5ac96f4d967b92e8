"""A fitted projector as a differentiable function, which saliency needs.

``Projector.transform`` keeps the autograd graph of a tensor that requires grad, so every
projector that actually projects the image embedding (InDiReCT, PCA, the random transform, the
autoencoders, the oracle, ``ignore``) is differentiable as it is. One that ignores its input
(the ``random`` baseline draws embeddings) or detaches it is refused with a clear error.
"""
from __future__ import annotations

from typing import Callable

import torch

from indirect.errors import AnalysisError


def keeps_gradient(projector) -> bool:
    probe = torch.ones(1, int(projector.n_features_in_), requires_grad=True)
    try:
        out = projector.transform(probe)
    except Exception:  # a projector that rejects tensors cannot carry a gradient either
        return False
    return isinstance(out, torch.Tensor) and out.requires_grad


def differentiable_projection(projector, method: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """(B, D) raw image features -> (B, k) projected features, with gradients."""
    if not keeps_gradient(projector):
        raise AnalysisError(
            f"saliency: the '{method}' projector ({type(projector).__name__}) passes no gradient to the image "
            f"embedding (it ignores or detaches its input); use analysis.saliency.method=indirect")
    return projector.transform
