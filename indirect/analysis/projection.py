"""A fitted projector as a differentiable function, which saliency needs.

``Projector.transform`` accepts tensors but detaches them (``projectors.base.as_tensor``), so no
gradient reaches the image through it. When that is so, InDiReCT-style projectors (a
``components_`` matrix U applied as x -> normalize(U normalize(x))) are recomputed here from
their fitted U; any other projector must keep the gradient in its own ``transform``.
"""
from __future__ import annotations

from typing import Callable

import torch

from indirect.analysis.errors import AnalysisError

COMPONENT_PROJECTORS = ("InDiReCT", "RandomTransform")


def keeps_gradient(projector) -> bool:
    probe = torch.ones(1, int(projector.n_features_in_), requires_grad=True)
    try:
        out = projector.transform(probe)
    except Exception:  # a projector that rejects tensors cannot carry a gradient either
        return False
    return isinstance(out, torch.Tensor) and out.requires_grad


def differentiable_projection(projector, method: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """(B, D) raw image features -> (B, k) projected features, with gradients."""
    if keeps_gradient(projector):
        return projector.transform
    components = getattr(projector, "components_", None)
    if components is None or type(projector).__name__ not in COMPONENT_PROJECTORS:
        raise AnalysisError(
            f"saliency: the '{method}' projector ({type(projector).__name__}) detaches its input in transform and has no "
            f"U to recompute it from; use analysis.saliency.method=indirect")
    U = torch.as_tensor(components, dtype=torch.float32)

    def project(features: torch.Tensor) -> torch.Tensor:
        unit = torch.nn.functional.normalize(features, dim=-1)
        return torch.nn.functional.normalize(unit @ U.to(features.device).T, dim=-1)

    return project
