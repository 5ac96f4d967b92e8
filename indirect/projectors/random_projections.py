"""Random floors: random unit vectors per image, and a random (unfitted) InDiReCT projection."""
from __future__ import annotations

import torch

from .base import Projector, l2_normalize, seed_from


class RandomEmbedding(Projector):
    """Each image gets a random unit vector of size k, ignoring its content: the chance floor
    (the original's, under both numerics).

    The vectors are drawn at transform time from a generator seeded with ``random_state``, so
    the same projector gives the same vectors for the same number of images.
    """

    method_name = "random"
    fit_on = "none"
    depends_on_seed = True
    _state_attrs = ("seed_",)

    def __init__(self, n_components: int = 128, random_state=None, device="auto"):
        self.n_components = n_components
        self.random_state = random_state
        self.device = device

    def _fit(self, X: torch.Tensor, y) -> None:
        self.seed_ = seed_from(self.random_state)

    def _transform(self, X: torch.Tensor) -> torch.Tensor:
        generator = torch.Generator().manual_seed(self.seed_)
        return torch.randn(X.shape[0], int(self.n_components), generator=generator).to(X.device)


class RandomTransform(Projector):
    """U ~ N(0, 0.1) (k x D) and InDiReCT's transform normalize(U normalize(x)), without fitting:
    what the fit adds. The original's, under both numerics."""

    method_name = "random_transform"
    fit_on = "none"
    depends_on_seed = True
    _state_attrs = ("components_",)

    def __init__(self, n_components: int = 128, random_state=None, device="auto"):
        self.n_components = n_components
        self.random_state = random_state
        self.device = device

    def _fit(self, X: torch.Tensor, y) -> None:
        generator = torch.Generator().manual_seed(seed_from(self.random_state))
        self.components_ = torch.randn(int(self.n_components), X.shape[1], generator=generator) * 0.1

    def _transform(self, X: torch.Tensor) -> torch.Tensor:
        return l2_normalize(X) @ self.components_.to(X.device).T
