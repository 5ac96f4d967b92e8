"""PCA baseline: scikit-learn's (centred) PCA fitted on the prompt embeddings, applied to images."""
from __future__ import annotations

import torch
from sklearn.decomposition import PCA

from .base import Projector, l2_normalize, seed_from


class PCAProjector(Projector):
    """sklearn ``PCA`` on the L2-normalised prompt embeddings; images are L2-normalised, centred
    with the prompts' mean and projected on the components.

    PCA can find at most ``min(n_prompts, D)`` components (the original code failed when
    ``n_components`` exceeded the number of prompts). Here the number actually fitted,
    ``n_components_ = min(n_components, n_prompts, D)``, is recorded, and the output is zero-padded
    to ``n_components`` columns so every projector of a run has the same output size; the padded
    columns are 0 for every image and change no distance.
    """

    method_name = "pca"
    fit_on = "text"
    depends_on_seed = True
    _state_attrs = ("components_", "mean_", "n_components_", "explained_variance_ratio_")

    def __init__(self, n_components: int = 128, random_state=None, device="auto"):
        self.n_components = n_components
        self.random_state = random_state
        self.device = device

    def _fit(self, X: torch.Tensor, y) -> None:
        texts = l2_normalize(X).cpu().double().numpy()
        self.n_components_ = int(min(int(self.n_components), *texts.shape))
        pca = PCA(self.n_components_, random_state=seed_from(self.random_state)).fit(texts)
        self.components_ = torch.from_numpy(pca.components_).float()
        self.mean_ = torch.from_numpy(pca.mean_).float()
        self.explained_variance_ratio_ = torch.from_numpy(pca.explained_variance_ratio_).float()

    def _transform(self, X: torch.Tensor) -> torch.Tensor:
        projected = (l2_normalize(X) - self.mean_.to(X.device)) @ self.components_.to(X.device).T
        missing = int(self.n_components) - self.n_components_
        return torch.nn.functional.pad(projected, (0, missing))
