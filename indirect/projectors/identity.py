"""The CLIP baseline: the image embeddings themselves, full D dimensions."""
from __future__ import annotations

import torch

from .base import Projector


class CLIPIdentity(Projector):
    """No projection: what retrieval with plain CLIP embeddings gives. ``fit`` only records D.

    ``normalize_output=True`` (default) L2-normalises the embeddings, so Euclidean retrieval
    ranks by cosine; ``False`` returns them exactly as given, the raw features the original
    code evaluated with Euclidean distance (the paper's numerics).
    """

    method_name = "clip"
    fit_on = "none"
    depends_on_seed = False

    def __init__(self, n_components=None, normalize_output: bool = True, random_state=None, device="auto"):
        self.n_components = n_components
        self.normalize_output = normalize_output
        self.random_state = random_state
        self.device = device

    def _check_n_components(self, n_features: int) -> None:
        """n_components is accepted (the pipeline passes it to every projector) but not used."""

    def _fit(self, X: torch.Tensor, y) -> None:
        pass

    def _transform(self, X: torch.Tensor) -> torch.Tensor:
        return X
