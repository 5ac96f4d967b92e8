"""Ignore a notion (beyond the paper): remove the directions in which "ignore" prompts vary.

Prompts that vary only along an unwanted notion (e.g. "a photo of a {colour} car" when colour
must not matter) span the directions carrying it. Projecting them out with P = I - V V^T is the
closed-form debiasing used for CLIP text embeddings; a focus projector (e.g. InDiReCT) can then
be fitted on the cleaned embeddings, so "focus on X, ignore Y" is one composed projector.
"""
from __future__ import annotations

import torch

from .base import Projector, ProjectorError, as_tensor, class_from_name, l2_normalize


class Ignore(Projector):
    """Project out the top directions of the centred ignore-prompt embeddings, then apply ``base``.

    ``ignore_embeddings`` (the text embeddings of the prompts to ignore) are given when the
    projector is built, so ``fit(X, y=None)`` keeps the estimator contract. At fit they are
    L2-normalised and centred; their top right singular vectors V are kept, ``n_directions`` of
    them or, when that is None, as many as explain ``variance`` of their centred variance.
    ``base`` (any projector, or None for no focus) is then fitted on normalize(P X) with
    P = I - V V^T. transform: ``base.transform(normalize(P normalize(x)))``, or just
    ``normalize(P normalize(x))``. A base that reads raw features (the paper's numerics:
    ``normalize_input=False``, or CLIP with ``normalize_output=False``) gets ``P x`` unnormalised
    and the output is normalised only if the base's is, so a "+ignore" row differs from its base's
    row by the projection alone (P is linear; normalising first would also switch the paper
    protocol's raw-feature numerics to unit vectors, a gain that is not the ignoring's).
    Learned: ``directions_`` (m x D), ``base_`` (the fitted base or None).
    """

    _state_attrs = ("directions_",)

    def __init__(self, base: Projector | None = None, ignore_embeddings=None, n_directions: int | None = None,
                 variance: float = 0.99):
        self.base = base
        self.ignore_embeddings = ignore_embeddings
        self.n_directions = n_directions
        self.variance = variance

    @property
    def method_name(self) -> str:
        return f"{self.base.method_name}+ignore" if self.base is not None else "ignore"

    @property
    def fit_on(self) -> str:
        """What the base is fitted on (the prompts, or the images for the oracle)."""
        return getattr(self.base, "fit_on", "text")

    @property
    def depends_on_seed(self) -> bool:
        return bool(self.base is not None and self.base.depends_on_seed)

    @property
    def normalize_output(self) -> bool:
        return bool(getattr(self.base, "normalize_output", True)) if self.base is not None else True

    @property
    def reads_raw(self) -> bool:
        """Whether the base reads unnormalised features (then P is applied to them as they are)."""
        if self.base is None:
            return False
        return getattr(self.base, "normalize_input", getattr(self.base, "normalize_output", True)) is False

    @property
    def n_components(self):
        return getattr(self.base, "n_components", None)

    def fit(self, X, y=None) -> "Ignore":
        if self.ignore_embeddings is None:
            raise ProjectorError("Ignore needs ignore_embeddings=<text embeddings of the prompts to ignore> when built")
        X_t = as_tensor(X)
        ignore = l2_normalize(as_tensor(self.ignore_embeddings, "ignore_embeddings")).double()
        if ignore.shape[1] != X_t.shape[1]:
            raise ProjectorError(f"ignore_embeddings have {ignore.shape[1]} dims but X has {X_t.shape[1]}; "
                                 "embed both with the same backbone")
        if ignore.shape[0] < 2:
            raise ProjectorError("Ignore needs at least 2 distinct ignore prompts (their variation is what is removed)")
        _, singular, Vh = torch.linalg.svd(ignore - ignore.mean(dim=0), full_matrices=False)
        self.directions_ = Vh[: self._count(singular)].float()
        self.n_features_in_ = int(X_t.shape[1])
        cleaned = self._clean(X_t)
        self.base_ = self.base.fit(cleaned, y) if self.base is not None else None
        return self

    def _count(self, singular: torch.Tensor) -> int:
        if self.n_directions is not None:
            if not 1 <= int(self.n_directions) <= len(singular):
                raise ProjectorError(f"n_directions={self.n_directions} must be between 1 and {len(singular)} "
                                     "(the number of ignore prompts or D)")
            return int(self.n_directions)
        if not 0.0 < self.variance <= 1.0:
            raise ProjectorError(f"variance={self.variance} must be in (0, 1]")
        share = torch.cumsum(singular**2, 0) / (singular**2).sum()
        return int((share < self.variance - 1e-12).sum()) + 1

    def _clean(self, X: torch.Tensor) -> torch.Tensor:
        x = X if self.reads_raw else l2_normalize(X)
        V = self.directions_.to(x.device)
        cleaned = x - (x @ V.T) @ V
        return cleaned if self.reads_raw else l2_normalize(cleaned)

    def _transform(self, X: torch.Tensor) -> torch.Tensor:
        cleaned = self._clean(X)
        return cleaned if self.base_ is None else self.base_.transform(cleaned)

    def state_dict(self) -> dict:
        payload = super().state_dict()
        payload["params"].pop("base")
        payload["params"].pop("ignore_embeddings")  # used at fit only; the state keeps the directions
        payload["base"] = self.base_.state_dict() if self.base_ is not None else None
        return payload

    @classmethod
    def from_state_dict(cls, payload: dict) -> "Ignore":
        base_payload = payload.get("base")
        base = None
        if base_payload is not None:
            base = class_from_name(base_payload["class"]).from_state_dict(base_payload)
        projector = cls(base=base, **payload["params"])
        for name, value in payload["state"].items():
            setattr(projector, name, value)
        projector.base_ = base
        return projector
