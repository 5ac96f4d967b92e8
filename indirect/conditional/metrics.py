"""Recall@k of conditional-similarity queries, for any scorer.

A scorer is a function ``scorer(query) -> scores``: one similarity per item of
``query.candidates`` (target first), higher meaning "more similar to the reference under the
condition". Recall@k is the fraction of queries whose target is among the k best candidates
(the official ``get_recall`` with target rank 0, facebookresearch/genecis utils/metric_utils.py).

Two rules the official code leaves to chance, made explicit here:

* a gallery entry that *is* the target (the same id: the same image, or the same crop) counts as
  the target; the official files hold such a template (change_object) and its two copies always
  get equal scores, so which one a sort puts first would otherwise decide the hit;
* ties between the target and a distractor are resolved as a uniformly random order would be,
  in expectation: with ``g`` distractors scored above the target and ``t`` tied with it, the
  target's rank is uniform on g..g+t, so a query adds P(rank < k) = clip((k - g) / (t + 1), 0, 1).
  A constant scorer thus gets exactly the chance level, never a perfect score.

The chance level of a query is ``min(k, n) / n`` with ``n`` the target plus its distractor
entries (a distractor listed twice counts twice, as it does in a random ranking; copies of the
target are the target), so a constant scorer scores exactly that.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from indirect.conditional.queries import Query
from indirect.errors import MetricsError

TOP_K = (1, 2, 3)
Scorer = Callable[[Query], np.ndarray]


def distractor_mask(query: Query) -> np.ndarray:
    """True for the candidates that are not the target (copies of the target are not distractors)."""
    return np.array([item != query.target for item in query.candidates])


def hit_probabilities(scores: np.ndarray, distractors: np.ndarray, ks: Sequence[int] = TOP_K) -> np.ndarray:
    """P(target within the top k) for each k, ties broken uniformly at random (module docstring)."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape != distractors.shape:
        raise MetricsError(f"a scorer returned {scores.shape[0] if scores.ndim else 0} scores for "
                           f"{distractors.shape[0]} candidates; return one score per candidate")
    if not np.all(np.isfinite(scores)):
        raise MetricsError("a scorer returned a non-finite score; scores must be finite numbers")
    target = scores[~distractors].max()
    others = scores[distractors]
    above = int((others > target).sum())
    tied = int((others == target).sum())
    return np.array([min(max((k - above) / (tied + 1), 0.0), 1.0) for k in ks])


def chance_levels(query: Query, ks: Sequence[int] = TOP_K) -> np.ndarray:
    n = int(distractor_mask(query).sum()) + 1
    return np.array([min(k, n) / n for k in ks])


def evaluate_scorer(scorer: Scorer, queries: Sequence[Query], ks: Sequence[int] = TOP_K) -> dict:
    """``recall_at_<k>`` and ``chance_recall_at_<k>`` for every k, and ``n_queries``."""
    if not queries:
        raise MetricsError("no queries to evaluate; a recall over zero queries is not a number")
    hits = np.zeros(len(ks))
    chance = np.zeros(len(ks))
    for query in queries:
        hits += hit_probabilities(scorer(query), distractor_mask(query), ks)
        chance += chance_levels(query, ks)
    result = {f"recall_at_{k}": float(h / len(queries)) for k, h in zip(ks, hits)}
    result.update({f"chance_recall_at_{k}": float(c / len(queries)) for k, c in zip(ks, chance)})
    result["n_queries"] = len(queries)
    return result
