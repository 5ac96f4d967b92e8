"""The CLIP baseline: raw image embeddings, full D dimensions, only L2-normalised."""
from __future__ import annotations

import torch

from .base import Projector


class CLIPIdentity(Projector):
    """No projection: what retrieval with plain CLIP embeddings gives. ``fit`` only records D."""

    method_name = "clip"
    fit_on = "none"
    depends_on_seed = False

    def __init__(self, n_components=None, random_state=None, device="auto"):
        self.n_components = n_components
        self.random_state = random_state
        self.device = device

    def _check_n_components(self, n_features: int) -> None:
        """n_components is accepted (the pipeline passes it to every projector) but not used."""

    def _fit(self, X: torch.Tensor, y) -> None:
        pass

    def _transform(self, X: torch.Tensor) -> torch.Tensor:
        return X
