"""The optimisation loop of the original code, shared by InDiReCT (faithful), the autoencoders
and the oracle: full-batch Adam, stop when the best loss has not improved for ``patience`` steps,
keep the best parameters. The original has no cap; ``max_iter`` (100,000 by default, far beyond
the original's longest logged runs of some 8,000 steps) only stops a loss that keeps creeping down
by tiny amounts from running for ever, and a run that reaches it says so with a
``ConvergenceWarning`` (its result is then not the original's).
"""
from __future__ import annotations

import math
import warnings
from typing import Callable, Sequence

import torch
from sklearn.exceptions import ConvergenceWarning
from torch import nn

from ..errors import ProjectorError

MAX_STEPS = 100_000


def adam_with_patience(params: Sequence[torch.Tensor], loss_fn: Callable[[], torch.Tensor], *,
                       lr: float = 0.01, weight_decay: float = 0.0, patience: int = 100,
                       max_iter: int = MAX_STEPS) -> tuple[float, int]:
    """Minimise ``loss_fn()`` over ``params`` in place; on return they hold the best values seen.

    As the original: the loss is recorded *before* each step, the parameters it was computed
    at are kept when it is the lowest so far, and the loop stops once ``patience`` losses in a
    row were not lower than the best. Returns (best loss, number of losses computed).
    """
    for name, value, low in (("lr", lr, 0.0), ("patience", patience, 0), ("max_iter", max_iter, 0)):
        if not value > low:
            raise ProjectorError(f"{name}={value} must be > {low:g}")
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
    else:
        warnings.warn(f"Adam stopped at max_iter={max_iter} steps while the loss was still improving "
                      f"(best {best_loss:.6g}, {since_best} steps ago); raise max_iter for the original's "
                      f"patience-only stop", ConvergenceWarning, stacklevel=3)
    if not math.isfinite(best_loss):
        raise ProjectorError(f"the loss was never finite in {step} step(s) (NaN or inf from the start): nothing was "
                             "fitted; check the method's parameters (a temperature of 0, a learning rate, ...)")
    with torch.no_grad():
        for saved, p in zip(best, params):
            p.copy_(saved)
    return best_loss, step


def seeded(build, seed: int) -> nn.Module:
    """Build a module with its default initialisation drawn from ``seed`` (global RNG untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()
