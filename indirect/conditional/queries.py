"""Conditional-similarity queries (the GeneCIS protocol, Vaze, Carion, Misra, CVPR 2023).

A query asks: given the ``reference`` image and a ``condition`` text, which candidate is the
``target``? The candidates are the target followed by the ``gallery`` (the hard distractors), the
order the official evaluation scores them in (facebookresearch/genecis, datasets/vaw_dataset.py
and datasets/coco_dataset.py: ``gallery_and_target = [target] + gallery``, target rank 0).
Ids name items of one embedding table (an image, or for GeneCIS attribute tasks a crop).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from indirect.errors import DatasetError

KINDS = ("focus", "change")


@dataclass(frozen=True)
class Query:
    """One template: ``kind`` is ``focus`` (the condition names a notion: "color") or ``change``
    (the condition is a value the target has: "red"); ``notion`` the notion it is about, when known."""

    reference: str
    condition: str
    target: str
    gallery: tuple[str, ...]
    kind: str
    notion: str | None = None

    @property
    def candidates(self) -> tuple[str, ...]:
        """The target first, then the gallery: what a scorer scores, in this order."""
        return (self.target,) + self.gallery


def check_queries(queries: Iterable[Query], known_ids=None, source: str = "queries") -> list[Query]:
    """The queries as a list, or a one-line DatasetError naming the first bad one: an empty
    gallery or one of target copies only, a reference that is its own target, an unknown kind,
    or an id missing from ``known_ids`` (when given)."""
    queries = list(queries)
    if not queries:
        raise DatasetError(f"{source}: no queries; a conditional evaluation needs at least one")
    known = set(known_ids) if known_ids is not None else None
    for number, query in enumerate(queries):
        if query.kind not in KINDS:
            raise DatasetError(f"{source}: query {number} has kind {query.kind!r}; use one of {', '.join(KINDS)}")
        if not query.gallery:
            raise DatasetError(f"{source}: query {number} has an empty gallery; every query needs distractors")
        if all(item == query.target for item in query.gallery):
            raise DatasetError(f"{source}: query {number}'s gallery holds only copies of its target {query.target!r}; "
                               "every query needs distractors (it would score 1.0 whatever the method)")
        if query.reference == query.target:
            raise DatasetError(f"{source}: query {number}'s reference is its target {query.target!r}; the image alone "
                               "would find it: drop the query or give another target")
        if known is not None:
            missing = [i for i in (query.reference, *query.candidates) if i not in known]
            if missing:
                raise DatasetError(f"{source}: query {number} names item {missing[0]!r}, which has no embedding")
    return queries
