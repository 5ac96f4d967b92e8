"""The supervised ceiling: a projection trained on the evaluation images' own labels."""
from __future__ import annotations

import numpy as np
import torch

from pytorch_metric_learning.losses import NormalizedSoftmaxLoss
from pytorch_metric_learning.utils.common_functions import TorchInitWrapper

from .base import Projector, ProjectorError, l2_normalize, seed_from
from .training import MAX_STEPS, adam_with_patience, seeded


class Oracle(Projector):
    """NormalizedSoftmax on the evaluation images: U (k x D) and class proxies P (C x k),
    logits = normalize(U x) . normalize(P)^T / ``temperature``, cross-entropy with the labels
    (pytorch-metric-learning's ``NormalizedSoftmaxLoss``), full-batch Adam with patience. It sees
    the labels it is evaluated on, so it is an upper bound (``upper_bound``), not a competitor.
    ``fit(X_images, y)``: ``y`` may hold strings or ints; the class order is recorded in
    ``classes_``. Output: normalize(U normalize(x)).

    Defaults (our numerics): pml's temperature 0.05 and its proxy init N(0, 1)
    (``proxy_std=None``). The paper's numerics are ``temperature=1.0, proxy_std=0.1``: the
    original's own NormalizedSoftmax used the plain cosine logits and N(0, 0.1) proxies; its
    U ~ N(0, 0.1), lr 0.01 and patience 100 are our defaults too.
    """

    method_name = "oracle"
    fit_on = "images"
    depends_on_seed = True
    upper_bound = True
    _state_attrs = ("components_", "proxies_", "classes_", "loss_", "n_iter_")

    def __init__(self, n_components: int = 128, temperature: float = 0.05, proxy_std: float | None = None,
                 lr: float = 0.01, patience: int = 100, max_iter: int = MAX_STEPS, random_state=None,
                 device="auto"):
        self.n_components = n_components
        self.temperature = temperature
        self.proxy_std = proxy_std
        self.lr = lr
        self.patience = patience
        self.max_iter = max_iter
        self.random_state = random_state
        self.device = device

    def _fit(self, X: torch.Tensor, y) -> None:
        if not float(self.temperature) > 0:
            raise ProjectorError(f"temperature={self.temperature} must be > 0 (1.0 is the original's plain cosine logits)")
        if y is None:
            raise ProjectorError("Oracle.fit needs the image labels: call fit(image_embeddings, labels)")
        labels = np.asarray(y)
        if labels.shape[0] != X.shape[0]:
            raise ProjectorError(f"Oracle.fit got {X.shape[0]} embeddings but {labels.shape[0]} labels")
        classes, targets = np.unique(labels, return_inverse=True)
        device = self._device()
        seed = seed_from(self.random_state)
        generator = torch.Generator().manual_seed(seed)
        k = int(self.n_components)
        U = (torch.randn(k, X.shape[1], generator=generator) * 0.1).to(device).requires_grad_(True)
        init = None if self.proxy_std is None else TorchInitWrapper(torch.nn.init.normal_, std=float(self.proxy_std))
        criterion = seeded(lambda: NormalizedSoftmaxLoss(len(classes), k, temperature=self.temperature,
                                                         weight_init_func=init), seed).to(device)
        images = l2_normalize(X).to(device)
        targets_t = torch.as_tensor(targets, device=device)
        self.loss_, self.n_iter_ = adam_with_patience(
            [U, criterion.W], lambda: criterion(images @ U.T, targets_t),
            lr=self.lr, patience=self.patience, max_iter=self.max_iter)
        self.components_ = U.detach().cpu()
        self.proxies_ = criterion.W.detach().T.cpu()
        self.classes_ = classes.tolist()

    def _transform(self, X: torch.Tensor) -> torch.Tensor:
        return l2_normalize(X) @ self.components_.to(X.device).T
