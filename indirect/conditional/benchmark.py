"""Scoring queries with every method.

:func:`evaluate_methods` is what an ``evaluation=conditional`` run needs once it has an embedding
table, a text embedder, a :class:`~indirect.conditional.spaces.ConditionSpaces` and queries
(the run's stage, :mod:`indirect.experiment.conditional`, builds those from the composed config).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from indirect.conditional.metrics import Scorer, evaluate_scorer
from indirect.conditional.queries import Query, check_queries
from indirect.conditional.scorers import (METHODS, EmbeddingTable, NotionScorer, clip_scorer, image_text_scorer,
                                          text_scorer)
from indirect.conditional.spaces import ConditionSpaces, EmbedText
from indirect.errors import ConfigError


def remembered(embed_text: EmbedText) -> EmbedText:
    """``embed_text`` with each text's vector kept in memory: the HDF5 text cache is read once per
    new text, not once per query (scorers embed the same few conditions for every query)."""
    known: dict[str, np.ndarray] = {}

    def embed(texts):
        texts = list(texts)
        missing = list(dict.fromkeys(t for t in texts if t not in known))
        if missing:
            known.update(zip(missing, np.asarray(embed_text(missing), dtype=np.float32)))
        return np.stack([known[t] for t in texts])
    return embed


def build_scorers(table: EmbeddingTable, embed_text: EmbedText, spaces: ConditionSpaces,
                  methods: Sequence[str] = METHODS) -> dict[str, Scorer]:
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ConfigError(f"conditional method '{unknown[0]}' is not one of {', '.join(METHODS)}")
    makers = {"clip": lambda: clip_scorer(table), "text": lambda: text_scorer(table, embed_text),
              "image_text": lambda: image_text_scorer(table, embed_text),
              "image_text_normalised": lambda: image_text_scorer(table, embed_text, normalize_inputs=True),
              "indirect": lambda: NotionScorer(table, spaces)}
    return {name: makers[name]() for name in methods}


def evaluate_methods(scorers: dict[str, Scorer], queries: Sequence[Query]) -> dict[str, dict]:
    """Method -> {recall_at_1..3, chance_recall_at_1..3, n_queries}; the ``indirect`` entry also
    gets ``fallback_conditions`` (focus conditions without a vocabulary, scored in the raw space)."""
    queries = check_queries(queries)
    results = {}
    for name, scorer in scorers.items():
        results[name] = evaluate_scorer(scorer, queries)
        if isinstance(scorer, NotionScorer):
            results[name]["fallback_conditions"] = sorted(scorer.fallbacks)
    return results
