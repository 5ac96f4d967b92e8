"""GeneCIS-style queries on the demo world (``dataset=shapes``): the benchmark's twin that runs offline.

Every demo notion is paired with one *other named factor*, the one its distractors share with the
reference (GeneCIS's "same object category"): shape for colour, background, size, texture and
position (the object stays, its property varies), and colour for shape (a shape notion needs
distractors that agree in something as salient as the shape itself).

* **focus** (condition: the notion's name, "color"): every candidate shares the reference's other
  factor; the target also shares its notion value, the 14 distractors all differ in it.
* **change** (condition: a value, "red", different from the reference's): the target has the asked
  value and the reference's other factor, and among such images it agrees with the reference in
  the most remaining factors (background, size, texture, position, lighting, ...; ties drawn at
  random): "the reference's object with that value" as far as the 2,000 images hold one. Half the
  distractors (7) have the reference's value and its other factor (the reference unchanged),
  the other half (7) have the asked value on another object (the change without the reference).

Queries are drawn with ``numpy.random.default_rng(seed)``: the same labels and seed give the same
queries. The reference is never a candidate; a gallery never holds an item twice.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from indirect.conditional.queries import Query
from indirect.datasets.shapes.factors import FACTORS
from indirect.errors import ConfigError, DatasetError

OTHER_FACTOR = {"color": "shape", "background": "shape", "size": "shape", "texture": "shape",
                "position": "shape", "shape": "color"}
"""Demo notion -> the factor its distractors share with the reference."""

N_CANDIDATES = 15  # the target and 14 distractors, as in GeneCIS
N_QUERIES = 1000


def _columns(labels: pd.DataFrame, notion: str) -> tuple[np.ndarray, np.ndarray, str]:
    if notion not in OTHER_FACTOR:
        raise ConfigError(f"notion '{notion}' has no conditional queries on the demo world; "
                          f"use one of {', '.join(OTHER_FACTOR)}")
    other = OTHER_FACTOR[notion]
    for column in (notion, other):
        if column not in labels.columns:
            raise DatasetError(f"the demo labels have no '{column}' column; regenerate data/shapes")
    return labels[notion].astype(str).to_numpy(), labels[other].astype(str).to_numpy(), other


def focus_queries(labels: pd.DataFrame, notion: str, n_queries: int = N_QUERIES, seed: int = 0,
                  n_candidates: int = N_CANDIDATES) -> list[Query]:
    """``n_queries`` seeded focus queries for ``notion`` over the images of ``labels`` (indexed by id)."""
    value, other, other_name = _columns(labels, notion)
    ids = labels.index.astype(str).to_numpy()
    n_distractors = n_candidates - 1
    usable = []
    for i in range(len(ids)):
        same_other = other == other[i]
        n_targets = int((same_other & (value == value[i])).sum()) - 1
        if n_targets >= 1 and int((same_other & (value != value[i])).sum()) >= n_distractors:
            usable.append(i)
    if not usable:
        raise DatasetError(f"no image of {len(ids)} has a same-{other_name} image sharing its {notion} and "
                           f"{n_distractors} differing in it; use more images (dataset.n_images)")
    rng = np.random.default_rng(seed)
    queries = []
    for i in rng.choice(usable, size=n_queries, replace=True):
        same_other = other == other[i]
        targets = np.flatnonzero(same_other & (value == value[i]))
        target = rng.choice(targets[targets != i])
        distractors = rng.choice(np.flatnonzero(same_other & (value != value[i])), size=n_distractors, replace=False)
        queries.append(Query(ids[i], notion, ids[target], tuple(ids[distractors]), "focus", notion))
    return queries


def change_queries(labels: pd.DataFrame, notion: str, n_queries: int = N_QUERIES, seed: int = 0,
                   n_candidates: int = N_CANDIDATES) -> list[Query]:
    """``n_queries`` seeded change queries for ``notion`` (condition: the asked value)."""
    value, other, other_name = _columns(labels, notion)
    ids = labels.index.astype(str).to_numpy()
    rest = [c for c in FACTORS if c in labels.columns and c not in (notion, other_name)]
    rest_values = labels[rest].astype(str).to_numpy()
    n_unchanged = (n_candidates - 1) // 2
    n_elsewhere = n_candidates - 1 - n_unchanged
    rng = np.random.default_rng(seed)
    queries = []
    attempts = 0
    while len(queries) < n_queries:
        attempts += 1
        if attempts > 100 * n_queries:
            raise DatasetError(f"cannot draw {n_queries} change queries for '{notion}' from {len(ids)} images; "
                               "use more images (dataset.n_images)")
        i = int(rng.integers(len(ids)))
        same_other = other == other[i]
        unchanged = np.flatnonzero(same_other & (value == value[i]))
        unchanged = unchanged[unchanged != i]
        asked_values = sorted(set(value[same_other]) - {value[i]})
        if len(unchanged) < n_unchanged or not asked_values:
            continue
        asked = asked_values[int(rng.integers(len(asked_values)))]
        elsewhere = np.flatnonzero(~same_other & (value == asked))
        if len(elsewhere) < n_elsewhere:
            continue
        targets = np.flatnonzero(same_other & (value == asked))
        agreement = (rest_values[targets] == rest_values[i]).sum(axis=1)
        best = targets[agreement == agreement.max()]
        target = rng.choice(best)
        gallery = np.concatenate([rng.choice(unchanged, size=n_unchanged, replace=False),
                                  rng.choice(elsewhere, size=n_elsewhere, replace=False)])
        rng.shuffle(gallery)
        queries.append(Query(ids[i], asked, ids[target], tuple(ids[gallery]), "change", notion))
    return queries


def demo_queries(labels: pd.DataFrame, notion: str, kind: str, n_queries: int = N_QUERIES, seed: int = 0) -> list[Query]:
    """Focus or change queries by name (``kind``: ``focus`` | ``change``)."""
    builders = {"focus": focus_queries, "change": change_queries}
    if kind not in builders:
        raise ConfigError(f"query kind '{kind}' is not one of {', '.join(builders)}")
    if n_queries < 1:
        raise ConfigError(f"n_queries={n_queries}; ask for at least one query")
    return builders[kind](labels, notion, n_queries, seed)
