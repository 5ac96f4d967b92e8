"""Scorers: how similar each candidate is to the reference under the condition.

Every scorer maps a :class:`~indirect.conditional.queries.Query` to one score per candidate
(target first). Which task each suits:

* ``clip`` (image only): cosine of the L2-normalised raw image features of reference and
  candidate. Ignores the condition; a floor for every task, strong where the distractors differ
  from the reference more than the target does.
* ``text`` (text only): cosine of the condition's text embedding and each candidate. Ignores the
  reference; suits change tasks (the target carries the asked value), near chance on focus tasks.
* ``image_text`` (the official baseline, facebookresearch/genecis utils/model_utils.py
  ``FeatureComb('image_plus_text')`` as called in eval/eval_functions.py ``validate``): the
  reference's and the condition's *raw* features averaged with weight 0.5, then normalised, against
  normalised candidates. (The paper describes the average of normalised features; the code averages
  the raw ones, which is what is reproduced here.)
* ``image_text_normalised``: the paper's description, the *unit* image and text features averaged,
  then normalised (``normalize_inputs=True``). Where the backbone's image and text features differ
  in norm (the demo backbone: image norms several times the text's) the raw average is the image
  alone in all but name; this variant shows what the condition text adds when both weigh alike.
* ``indirect`` (per-condition notion spaces, :mod:`indirect.conditional.spaces`): for a focus
  condition, the cosine of reference and candidate in an InDiReCT space fitted on prompts over the
  condition's values; for a change condition, the cosine of reference and candidate in the
  reference's *identity* space (what must stay) plus the cosine of the condition prompt and the
  candidate in the condition's space (what must change). Suits both kinds; a focus condition
  without a vocabulary falls back to ``clip`` and is counted in ``fallbacks``.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from indirect.conditional.queries import Query
from indirect.errors import MetricsError

METHODS = ("clip", "text", "image_text", "image_text_normalised", "indirect")


def unit_rows(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    return X / np.maximum(np.linalg.norm(X, axis=-1, keepdims=True), 1e-12)


class EmbeddingTable:
    """Raw image features by id; rows are looked up by the ids a query names."""

    def __init__(self, ids: Sequence[str], embeddings: np.ndarray):
        self.ids = list(ids)
        self.raw = np.asarray(embeddings, dtype=np.float64)
        self.unit = unit_rows(self.raw)
        self.row = {item: i for i, item in enumerate(self.ids)}

    def index(self, items: Sequence[str]) -> np.ndarray:
        try:
            return np.array([self.row[item] for item in items])
        except KeyError as missing:
            raise MetricsError(f"item {missing.args[0]!r} has no image embedding; it was skipped or is not in the dataset") from None


def clip_scorer(table: EmbeddingTable) -> Callable[[Query], np.ndarray]:
    def score(query: Query) -> np.ndarray:
        return table.unit[table.index(query.candidates)] @ table.unit[table.index([query.reference])[0]]
    return score


def text_scorer(table: EmbeddingTable, embed_text: Callable[[list[str]], np.ndarray]) -> Callable[[Query], np.ndarray]:
    """``embed_text``: texts -> raw text features (e.g. ``indirect.embedding.embed_texts`` bound to a backbone)."""
    def score(query: Query) -> np.ndarray:
        return table.unit[table.index(query.candidates)] @ unit_rows(embed_text([query.condition]))[0]
    return score


def image_text_scorer(table: EmbeddingTable, embed_text: Callable[[list[str]], np.ndarray], weight: float = 0.5,
                      normalize_inputs: bool = False) -> Callable[[Query], np.ndarray]:
    def score(query: Query) -> np.ndarray:
        image = table.raw[table.index([query.reference])[0]]
        text = np.asarray(embed_text([query.condition])[0], dtype=np.float64)
        if normalize_inputs:
            image, text = unit_rows(image), unit_rows(text)
        combined = unit_rows(weight * image + (1 - weight) * text)
        return table.unit[table.index(query.candidates)] @ combined
    return score


class NotionScorer:
    """The ``indirect`` method: per-condition notion spaces from a :class:`ConditionSpaces`."""

    def __init__(self, table: EmbeddingTable, spaces):
        self.table = table
        self.spaces = spaces
        self.fallbacks: set[str] = set()
        self._projected: dict[str, np.ndarray] = {}

    def _in_space(self, name: str) -> np.ndarray:
        if name not in self._projected:
            self._projected[name] = np.asarray(self.spaces.projector(name).transform(self.table.raw.astype(np.float32)),
                                               dtype=np.float64)
        return self._projected[name]

    def _similarity(self, name: str | None, query: Query, rows: np.ndarray) -> np.ndarray:
        X = self._in_space(name) if name else self.table.unit
        return X[rows] @ X[self.table.index([query.reference])[0]]

    def __call__(self, query: Query) -> np.ndarray:
        rows = self.table.index(query.candidates)
        if query.kind == "focus":
            name = self.spaces.focus_space(query)
            if name is None:
                self.fallbacks.add(query.condition)
            return self._similarity(name, query, rows)
        identity = self._similarity(self.spaces.identity_space(query), query, rows)
        name = self.spaces.condition_space(query)
        text = unit_rows(self.spaces.condition_text(query))
        if name:
            projector = self.spaces.projector(name)
            text = np.asarray(projector.transform(text[None].astype(np.float32)), dtype=np.float64)[0]
            candidates = self._in_space(name)[rows]
        else:
            candidates = self.table.unit[rows]
        return identity + candidates @ text
