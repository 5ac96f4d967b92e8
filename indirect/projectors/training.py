"""The optimisation loop of the original code, shared by InDiReCT (faithful), the autoencoders
and the oracle: full-batch Adam, stop when the best loss has not improved for ``patience`` steps,
keep the best parameters. ``max_iter`` caps the loop so a loss that keeps creeping down by tiny
amounts cannot run for ever.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn


def adam_with_patience(params: Sequence[torch.Tensor], loss_fn: Callable[[], torch.Tensor], *,
                       lr: float = 0.01, weight_decay: float = 0.0, patience: int = 100,
                       max_iter: int = 10000) -> tuple[float, int]:
    """Minimise ``loss_fn()`` over ``params`` in place; on return they hold the best values seen.

    Returns (best loss, number of Adam steps taken).
    """
    params = list(params)
    optimizer = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    best_loss = float("inf")
    best = [p.detach().clone() for p in params]
    since_best = 0
    step = 0
    for step in range(1, max_iter + 1):
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn()
        value = float(loss.detach())
        if value < best_loss:
            best_loss, since_best = value, 0
            for saved, p in zip(best, params):
                saved.copy_(p.detach())
        else:
            since_best += 1
            if since_best >= patience:
                break
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        for saved, p in zip(best, params):
            p.copy_(saved)
    return best_loss, step


def seeded(build, seed: int) -> nn.Module:
    """Build a module with its default initialisation drawn from ``seed`` (global RNG untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()
