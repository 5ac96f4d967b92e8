"""InDiReCT: a linear projection fitted on prompt text embeddings only (the paper's DimRedRecon).

U (k x D) encodes a text embedding t as v = normalize(U t) and decodes t_hat = normalize(U^T v);
the objective is the mean angle arccos(<t, t_hat>) between prompts and their reconstructions. The
directions that reconstruct the prompts are the directions in which the prompts vary, i.e. the
user's similarity notion; images are projected onto them with the same U.
"""
from __future__ import annotations

import math

import torch

from ..threads import limited_threads, threads_for
from .base import Projector, ProjectorError, as_tensor, l2_normalize, seed_from
from .training import MAX_STEPS, adam_with_patience

ARCCOS_EPS = 1e-7
ARCCOS_EDGE = 1.0 - ARCCOS_EPS
ARCCOS_SLOPE = math.acos(ARCCOS_EDGE) / ARCCOS_EPS   # the original's slope, not arccos' tangent
_EDGE_SLOPE = -ARCCOS_SLOPE   # safe_arccos'(x) beyond the edge, for the fast solver's weights


def safe_arccos(x: torch.Tensor) -> torch.Tensor:
    """arccos, continued linearly beyond |x| > 1 - eps (eps = 1e-7) exactly as the original code.

    The true derivative -1/sqrt(1 - x^2) is infinite at x = +-1, which a perfectly reconstructed
    prompt reaches. Beyond the edge the original (after pytorch issue 8069) uses the straight
    line through (1 - eps, arccos(1 - eps)) with slope arccos(1 - eps) / eps (about twice
    arccos' own slope there), so it reaches 0 at x = 1; mirrored below -1 + eps, reaching pi at
    x = -1. The expression is the original's, operation for operation, so it is the formula in
    float64 and the original's float32 numbers in float32 (where acos(1 - eps) rounds to
    4.9e-4, not 4.5e-4, and every prompt beyond the edge gets ~4e-5 more; no gradient changes).
    """
    beyond = x.abs() > ARCCOS_EDGE
    inner = torch.acos(torch.where(beyond, torch.zeros_like(x), x))   # finite gradient where unused
    sign = torch.sign(x)
    line = torch.acos(sign * (1 - ARCCOS_EPS)) - ARCCOS_SLOPE * sign * (x.abs() - 1 + ARCCOS_EPS)
    return torch.where(beyond, line, inner)


def reconstruction_loss(U: torch.Tensor, T: torch.Tensor, ortho_weight: float = 0.0) -> torch.Tensor:
    """The paper's objective for unit-length text rows ``T`` (n x D) and projection ``U`` (k x D)."""
    v = l2_normalize(T @ U.T)
    t_hat = l2_normalize(v @ U)
    loss = safe_arccos((T * t_hat).sum(dim=1)).mean()
    if ortho_weight:
        eye = torch.eye(U.shape[0], dtype=U.dtype, device=U.device)
        loss = loss + ortho_weight * ((U @ U.T - eye) ** 2).sum()
    return loss


def unique_unit_rows(X: torch.Tensor) -> torch.Tensor:
    """L2-normalised rows with exact duplicates removed (repeated prompts would weigh double)."""
    return torch.unique(l2_normalize(X), dim=0)


class InDiReCT(Projector):
    """InDiReCT projector (Kobs et al., WACV 2023), fitted on prompt text embeddings.

    ``solver="faithful"`` is the original optimisation: all k rows of U ~ N(0, 0.1) (std 0.1),
    full-batch Adam (``lr``), the loss recorded before each step and the U it was computed at kept
    when it is the lowest so far, stop when it has not improved for ``patience`` steps. Its only
    cap is ``max_iter`` (100,000 by default; the original's longest logged runs pass 8,000 steps),
    with a ``ConvergenceWarning`` if reached. With the defaults (lr 0.01, patience 100) it is the
    paper's numerics.

    ``solver="fast"`` (default) minimises the same loss in far less time, to a local minimum as the
    faithful loop does (the loss is not convex: usually lower than the loop's, not always; README
    "Method notes" gives the figures): it starts from the uncentred PCA of the prompts (top-k principal directions, the solution of
    the unnormalised problem min ||t - U^T U t||^2), lowers the angular loss by iteratively
    reweighted PCA (each step a weighted eigendecomposition, stopped when the relative
    improvement is below ``tol``; 1e-5 gives the mean angle to about five significant digits),
    then optionally polishes U without the orthonormality of PCA by at most ``polish_iter``
    L-BFGS iterations (strong Wolfe line search), all in float64 on ``device`` (on the CPU on one
    thread for D <= 2048: small eigendecompositions gain nothing from more and stall under load,
    see :mod:`indirect.threads`). The polish is off by default (on the benchmark prompts it
    lowers the loss by ~1e-8 at the cost of more time than the reweighting) and 100 iterations
    when ``ortho_weight`` > 0, since the reweighting ignores the penalty.
    Since the loss only sees U through the span of the prompts, U is parametrised as W B with B an
    orthonormal basis of that span, which shrinks the problem when there are fewer prompts than
    dimensions. It is deterministic (the random state only draws surplus rows, below).

    More components than the prompts have rank (``n_components > rank``): the first ``rank`` rows
    then reproduce every prompt exactly (the loss is at its floor) and the other rows are not
    constrained by the prompts at all. What fills them is ``surplus``:

    * ``"zero"`` (fast default): the surplus rows are zero, so images are projected onto the prompt
      span only and every output dimension carries the notion (the k-dim output keeps its shape;
      the trailing coordinates are 0). Recorded in ``n_surplus_``.
    * ``"random"`` (faithful behaviour, the only choice for ``solver="faithful"``, where the rows
      simply stay near their random init): with the fast solver the surplus rows are seeded
      N(0, 0.1) draws with their component in the prompt span removed (so they leave the loss
      unchanged) and the fitted rows are scaled to 0.1 * sqrt(D), the expected norm of an initial
      row. That is the original's start, not its end: its fitted rows grow inside the prompt span
      while Adam runs, so there the notion part outweighs the random part more (energy inside /
      outside the span 3.3 for the faithful fit, 0.5 for this one, 40 prompts, D = 512, k = 128).

    ``n_components > D`` raises :class:`ProjectorError` (a ValueError).

    Learned attributes: ``components_`` (k x D float32 tensor), ``loss_`` (the objective at the
    end), ``n_iter_`` (optimiser iterations), ``n_prompts_`` (unique prompts), ``rank_`` (rank of
    the prompt embeddings), ``n_surplus_`` (rows not determined by the prompts).
    """

    method_name = "indirect"
    fit_on = "text"
    depends_on_seed = True
    _state_attrs = ("components_", "loss_", "n_iter_", "n_prompts_", "rank_", "n_surplus_")

    def __init__(self, n_components: int = 128, solver: str = "fast", surplus: str = "auto",
                 ortho_weight: float = 0.0, lr: float = 0.01, patience: int = 100,
                 max_iter: int = MAX_STEPS, tol: float = 1e-5, polish_iter: int | None = None,
                 random_state=None, device="auto"):
        self.n_components = n_components
        self.solver = solver
        self.surplus = surplus
        self.ortho_weight = ortho_weight
        self.lr = lr
        self.patience = patience
        self.max_iter = max_iter
        self.tol = tol
        self.polish_iter = polish_iter
        self.random_state = random_state
        self.device = device

    def _surplus_mode(self) -> str:
        mode = {"auto": "zero" if self.solver == "fast" else "random"}.get(self.surplus, self.surplus)
        if mode not in ("zero", "random"):
            raise ProjectorError(f"surplus={self.surplus!r} is not one of 'auto', 'zero', 'random'")
        if self.solver == "faithful" and mode != "random":
            raise ProjectorError("surplus='zero' needs solver='fast'; the faithful solver leaves surplus rows at their random init")
        return mode

    def _fit(self, X: torch.Tensor, y) -> None:
        if self.solver not in ("fast", "faithful"):
            raise ProjectorError(f"solver={self.solver!r} is not one of 'fast', 'faithful'")
        if self.solver == "fast" and not (int(self.max_iter) >= 1 and float(self.tol) >= 0):
            raise ProjectorError(f"max_iter={self.max_iter}, tol={self.tol}: the fast solver needs max_iter >= 1 and "
                                 "tol >= 0 (max_iter=0 returned its PCA start as the fit)")
        mode = self._surplus_mode()
        # every step, the deduplication and the final loss included, on the threads its size is
        # worth: two threads on a 150 x 512 matrix stall each other beside a busy neighbour (50x)
        with limited_threads(threads_for(X.shape[1], device=self._device())):
            texts = unique_unit_rows(X)
            generator = torch.Generator().manual_seed(seed_from(self.random_state))
            self.n_prompts_ = int(texts.shape[0])
            if self.solver == "faithful":
                self._fit_faithful(texts, generator)
            else:
                self._fit_fast(texts, generator, mode)
            self.loss_ = self._loss_on(texts)

    def _fit_faithful(self, texts: torch.Tensor, generator: torch.Generator) -> None:
        device = self._device()
        k, dim = int(self.n_components), texts.shape[1]
        U = (torch.randn(k, dim, generator=generator) * 0.1).to(device).requires_grad_(True)
        T = texts.to(device)
        _, self.n_iter_ = adam_with_patience(
            [U], lambda: reconstruction_loss(U, T, self.ortho_weight),
            lr=self.lr, patience=self.patience, max_iter=self.max_iter)
        self.components_ = U.detach().cpu().float()
        self.rank_ = int(torch.linalg.matrix_rank(texts.double()))
        self.n_surplus_ = max(0, k - self.rank_)

    def _fit_fast(self, texts: torch.Tensor, generator: torch.Generator, mode: str) -> None:
        self._fit_fast_on(texts.to(device=self._device(), dtype=torch.float64), generator, mode)

    def _fit_fast_on(self, T: torch.Tensor, generator: torch.Generator, mode: str) -> None:
        k, (n, dim) = int(self.n_components), T.shape
        basis, coords, rank, eigvecs = self._prompt_coordinates(T)
        m = min(k, rank)
        W = eigvecs[:, -m:].flip(1).T if eigvecs is not None else \
            torch.eye(rank, dtype=T.dtype, device=T.device)[:m]          # PCA init: top-m principal directions
        n_irls = n_polish = 0
        if m < rank:
            W, n_irls = self._irls(W, coords, eigvecs)
        if m < rank or self.ortho_weight:
            W, n_polish = self._polish(W, coords)
        self.n_iter_ = n_irls + n_polish
        U = W if basis is None else W @ basis
        U = U * torch.sign(U.gather(1, U.abs().argmax(dim=1, keepdim=True)))   # deterministic signs
        self.rank_ = rank
        self.n_surplus_ = k - m
        if self.n_surplus_:
            if mode == "random":
                U = U * (0.1 * math.sqrt(dim) / U.norm(dim=1, keepdim=True))
            U = torch.cat([U, self._surplus_rows(mode, basis, generator, dim)])
        self.components_ = U.float().cpu()

    @staticmethod
    def _prompt_coordinates(T: torch.Tensor):
        """(basis, coords, rank, eigvecs) of the prompts: the loss sees U only through their span.

        Fewer prompts than dimensions: one thin SVD gives an orthonormal ``basis`` (rank x D) of
        the span and the prompts' coordinates in it (n x rank); the IRLS then works with rank x
        rank matrices. Otherwise (the span is usually all of R^D) the eigendecomposition of the
        D x D Gram matrix gives the rank and the PCA start at once; ``basis`` is None (identity)
        and ``eigvecs`` holds the Gram's eigenvectors (ascending), or None after the SVD.
        """
        n, dim = T.shape
        if n >= dim:
            eigvals, eigvecs = torch.linalg.eigh(T.T @ T)
            rank = int((eigvals > eigvals[-1] * 1e-12).sum())
            if rank == dim:
                return None, T, rank, eigvecs
        _, singular, Vh = torch.linalg.svd(T, full_matrices=False)
        rank = int((singular > singular[0] * 1e-6).sum())
        basis = Vh[:rank]
        return basis, T @ basis.T, rank, None

    def _irls(self, W: torch.Tensor, coords: torch.Tensor, eigvecs: torch.Tensor | None) -> tuple[torch.Tensor, int]:
        """Iteratively reweighted uncentred PCA for orthonormal U.

        With orthonormal rows, prompt i's loss is g(x_i), x_i = |W c_i| (its reconstruction's
        cosine), with g the safe arccos; as a function of the squared residual e_i^2 = 1 - x_i^2
        it is concave for angles below 45 degrees, so each weighted PCA with weights
        w_i = dg/d(e_i^2) at the current W lowers the loss (majorise-minimise). It converges in
        tens of eigendecompositions where gradient steps need thousands. The loss of each W comes
        from the same x_i as the next weights (no separate evaluation). Stops when the relative
        improvement falls below ``tol``.

        With many more dimensions than components (rank > 2k), the iterations run in a working
        subspace, the top 2k principal directions (``eigvecs`` from the start), where each
        eigendecomposition is (rank / 2k)^3 times cheaper; a full-space step then checks the
        result and the iterations continue in the full space if it still improves by ``tol``.
        """
        k, rank = W.shape[0], coords.shape[1]
        if eigvecs is not None and rank > 2 * k:
            work = eigvecs[:, -2 * k:].flip(1)                  # rank x 2k, orthonormal columns
            W_sub, n_sub = self._irls_steps(W @ work, coords @ work)
            W, n_full = self._irls_steps(W_sub @ work.T, coords)
            return W, n_sub + n_full
        return self._irls_steps(W, coords)

    def _irls_steps(self, W: torch.Tensor, coords: torch.Tensor) -> tuple[torch.Tensor, int]:
        k = W.shape[0]
        best_W, best_loss = W, float("inf")
        n_iter = 0
        for n_iter in range(1, self.max_iter + 1):
            x = (coords @ W.T).norm(dim=1).clamp(1e-6, 1.0)
            loss = float(safe_arccos(x).mean())
            improved = best_loss - loss
            if improved > 0:
                best_W, best_loss = W, loss
            if improved <= self.tol * best_loss:
                break
            dg = torch.where(x > ARCCOS_EDGE, _EDGE_SLOPE, -1.0 / torch.sqrt((1.0 - x * x).clamp_min(1e-30)))
            weights = -dg / (2.0 * x)
            _, eigvecs = torch.linalg.eigh((coords * weights[:, None]).T @ coords)
            W = eigvecs[:, -k:].flip(1).T
        return best_W, n_iter - 1

    def _polish(self, W0: torch.Tensor, coords: torch.Tensor) -> tuple[torch.Tensor, int]:
        """A few L-BFGS steps on a general (not orthonormal) W; keeps the start if they do not help."""
        steps = self.polish_iter if self.polish_iter is not None else (100 if self.ortho_weight else 0)
        if steps <= 0:
            return W0, 0
        W = W0.clone().requires_grad_(True)
        optimizer = torch.optim.LBFGS([W], lr=1.0, max_iter=steps, tolerance_grad=1e-12,
                                      tolerance_change=1e-14, history_size=20, line_search_fn="strong_wolfe")

        def closure():
            optimizer.zero_grad(set_to_none=True)
            loss = reconstruction_loss(W, coords, self.ortho_weight)
            loss.backward()
            return loss

        optimizer.step(closure)
        with torch.no_grad():
            start = reconstruction_loss(W0, coords, self.ortho_weight)
            end = reconstruction_loss(W, coords, self.ortho_weight)
        n_iter = int(optimizer.state[W].get("n_iter", 0))
        return (W.detach(), n_iter) if end < start else (W0, n_iter)

    def _surplus_rows(self, mode: str, basis: torch.Tensor | None, generator: torch.Generator,
                      dim: int) -> torch.Tensor:
        device = basis.device if basis is not None else "cpu"
        if mode == "zero":
            return torch.zeros(self.n_surplus_, dim, dtype=torch.float64, device=device)
        draws = (torch.randn(self.n_surplus_, dim, generator=generator, dtype=torch.float64) * 0.1).to(device)
        return draws if basis is None else draws - (draws @ basis.T) @ basis

    def _transform(self, X: torch.Tensor) -> torch.Tensor:
        return l2_normalize(X) @ self.components_.to(X.device).T

    def loss(self, text_embeddings) -> float:
        """The paper's objective (mean safe arccos, plus the orthogonality penalty when its
        weight is non-zero) of the fitted U on ``text_embeddings`` (normalised, deduplicated)."""
        self._check_fitted()
        return self._loss_on(as_tensor(text_embeddings, "text_embeddings"))

    def _loss_on(self, texts: torch.Tensor) -> float:
        """The objective in float64 on rows normalised in float64: float32 unit rows are off unit
        length by ~6e-8, which the safe arccos' line (slope ~4472) would turn into a spurious ~-3e-4."""
        texts = l2_normalize(unique_unit_rows(texts).double())
        with torch.no_grad():
            return float(reconstruction_loss(self.components_.double(), texts, self.ortho_weight))
