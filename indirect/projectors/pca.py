"""PCA baseline: scikit-learn's (centred) PCA fitted on the prompt embeddings, applied to images."""
from __future__ import annotations

import torch
from sklearn.decomposition import PCA

from .base import NotApplicable, Projector, l2_normalize, seed_from


NO_VARIANCE = 1e-12   # explained-variance ratio below which a component is the SVD's rounding, not the prompts'


class PCAProjector(Projector):
    """sklearn ``PCA`` on the L2-normalised prompt embeddings; images are centred with the
    prompts' mean and projected on the components.

    Defaults (our numerics): images are L2-normalised first (``normalize_input``), the output is
    L2-normalised (``normalize_output``), and when ``n_components`` exceeds what PCA can find, the
    rank of the centred prompts (at most ``min(n_prompts - 1, D)``: a component of no variance is an
    arbitrary direction left by rounding, on which images would still get coordinates), the
    ``n_components_`` found are zero-padded to ``n_components``
    columns (``pad``) so every projector of a run has the same output size; the padded columns
    are 0 for every image and change no distance.

    The paper's numerics are ``normalize_input=False, normalize_output=False, pad=False``: the
    original fitted PCA on the normalised, deduplicated prompts and applied it to the *raw*
    image features, and sklearn refused more components than prompts, which the paper reports
    as "-": ``fit`` then raises :class:`~indirect.projectors.base.NotApplicable` (its message
    is the reason).
    """

    method_name = "pca"
    fit_on = "text"
    depends_on_seed = True
    _state_attrs = ("components_", "mean_", "n_components_", "explained_variance_ratio_")

    def __init__(self, n_components: int = 128, normalize_input: bool = True, normalize_output: bool = True,
                 pad: bool = True, random_state=None, device="auto"):
        self.n_components = n_components
        self.normalize_input = normalize_input
        self.normalize_output = normalize_output
        self.pad = pad
        self.random_state = random_state
        self.device = device

    def _fit(self, X: torch.Tensor, y) -> None:
        texts = l2_normalize(X).cpu().double().numpy()
        limit = min(texts.shape)
        if not self.pad and int(self.n_components) > limit:
            raise NotApplicable(
                f"PCA finds at most {limit} components in {texts.shape[0]} prompts of dimension {texts.shape[1]}, "
                f"fewer than n_components={self.n_components}: not applicable (the paper's '-')")
        if self.pad:
            limit = min(limit, texts.shape[0] - 1)   # centred prompts have rank <= n - 1
        self.n_components_ = int(min(int(self.n_components), limit))
        pca = PCA(self.n_components_, random_state=seed_from(self.random_state)).fit(texts)
        components, ratios = pca.components_, pca.explained_variance_ratio_
        if self.pad:   # a direction of no variance is rounding noise in the SVD: images would get coordinates on it
            kept = ratios > NO_VARIANCE
            components, ratios = components[kept], ratios[kept]
            self.n_components_ = int(kept.sum())
        self.components_ = torch.from_numpy(components).float()
        self.mean_ = torch.from_numpy(pca.mean_).float()
        self.explained_variance_ratio_ = torch.from_numpy(ratios).float()

    def _transform(self, X: torch.Tensor) -> torch.Tensor:
        images = l2_normalize(X) if self.normalize_input else X
        projected = (images - self.mean_.to(X.device)) @ self.components_.to(X.device).T
        missing = int(self.n_components) - self.n_components_
        return torch.nn.functional.pad(projected, (0, missing))
