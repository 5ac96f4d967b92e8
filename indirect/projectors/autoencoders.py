"""Autoencoder baselines of the paper, fitted on prompt embeddings; images go through the encoder."""
from __future__ import annotations

import torch
from torch import nn

from .base import Projector, l2_normalize, seed_from
from .training import MAX_STEPS, adam_with_patience, seeded


class _Autoencoder(Projector):
    """Shared fit: sum-of-squared-errors reconstruction of the L2-normalised prompts with
    full-batch Adam and patience, as in the original code. Subclasses define the layers.

    Defaults (our numerics): images are L2-normalised before the encoder, like the prompts it
    was fitted on (``normalize_input``), and its output is L2-normalised (``normalize_output``).
    The paper's numerics are ``normalize_input=False, normalize_output=False``: the original
    applied the encoder to the raw image features and evaluated its output as it came.
    """

    fit_on = "text"
    depends_on_seed = True
    weight_decay = 0.0
    _state_attrs = ("encoder_weights_", "decoder_weights_")

    def __init__(self, n_components: int = 128, normalize_input: bool = True, normalize_output: bool = True,
                 lr: float = 0.01, patience: int = 100, max_iter: int = MAX_STEPS, random_state=None,
                 device="auto"):
        self.n_components = n_components
        self.normalize_input = normalize_input
        self.normalize_output = normalize_output
        self.lr = lr
        self.patience = patience
        self.max_iter = max_iter
        self.random_state = random_state
        self.device = device

    def _layers(self, n_features: int) -> tuple[nn.Module, nn.Module]:
        raise NotImplementedError

    def _fit(self, X: torch.Tensor, y) -> None:
        device = self._device()
        encoder, decoder = seeded(lambda: self._layers(X.shape[1]), seed_from(self.random_state))
        encoder, decoder = encoder.to(device), decoder.to(device)
        texts = l2_normalize(X).to(device)
        params = list(encoder.parameters()) + list(decoder.parameters())
        self.loss_, self.n_iter_ = adam_with_patience(
            params, lambda: ((decoder(encoder(texts)) - texts) ** 2).sum(),
            lr=self.lr, weight_decay=self.weight_decay, patience=self.patience, max_iter=self.max_iter)
        self.encoder_weights_ = {k: v.detach().cpu() for k, v in encoder.state_dict().items()}
        self.decoder_weights_ = {k: v.detach().cpu() for k, v in decoder.state_dict().items()}
        self._restore(X.shape[1])

    def _restore(self, n_features: int | None = None) -> None:
        self.encoder_, _ = self._layers(n_features or self.n_features_in_)
        self.encoder_.load_state_dict(self.encoder_weights_)
        self.encoder_.eval().requires_grad_(False)  # gradients reach the input only when it asks for them

    def _transform(self, X: torch.Tensor) -> torch.Tensor:
        return self.encoder_.to(X.device)(l2_normalize(X) if self.normalize_input else X)


class LinearAutoencoder(_Autoencoder):
    """Linear(D -> k) encoder, Linear(k -> D) decoder (the paper's "Linear AE"), with biases: the
    original builds both with ``torch.nn.Linear``'s default ``bias=True`` (its
    dimensionality_reduction.py), whatever a summary of it says ("no bias")."""

    method_name = "lae"

    def _layers(self, n_features: int) -> tuple[nn.Module, nn.Module]:
        k = int(self.n_components)
        return nn.Linear(n_features, k), nn.Linear(k, n_features)


class Autoencoder(_Autoencoder):
    """D -> 512 -> k encoder, k -> 512 -> D decoder with LeakyReLU, Adam weight decay 0.01 (the
    paper's "AE")."""

    method_name = "ae"
    weight_decay = 0.01
    hidden = 512

    def _layers(self, n_features: int) -> tuple[nn.Module, nn.Module]:
        k, h = int(self.n_components), self.hidden
        encoder = nn.Sequential(nn.Linear(n_features, h), nn.LeakyReLU(), nn.Linear(h, k))
        decoder = nn.Sequential(nn.Linear(k, h), nn.LeakyReLU(), nn.Linear(h, n_features))
        return encoder, decoder
