"""Scoring queries with every method, and the demo-world benchmark in one call.

:func:`evaluate_methods` is what an ``evaluation=conditional`` run needs once it has an embedding
table, a text embedder, a :class:`~indirect.conditional.spaces.ConditionSpaces` and queries;
:func:`demo_benchmark` builds those for ``dataset=shapes`` with the demo backbone, and
:func:`genecis_benchmark` for a task loaded by :func:`indirect.datasets.genecis.load_genecis`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from indirect.conditional.metrics import Scorer, evaluate_scorer
from indirect.conditional.queries import Query, check_queries
from indirect.conditional.scorers import (METHODS, EmbeddingTable, NotionScorer, clip_scorer, image_text_scorer,
                                          text_scorer)
from indirect.conditional.shapes_queries import N_QUERIES, demo_queries
from indirect.conditional.spaces import ConditionSpaces, DemoSpaces, EmbedText, GenecisSpaces
from indirect.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


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


def demo_benchmark(notion: str, kinds: Sequence[str] = ("focus", "change"), n_queries: int = N_QUERIES,
                   seed: int = 0, data_dir="data", cache_dir="cache", n_images: int = 2000,
                   n_components: int = 128, methods: Sequence[str] = METHODS, conf_dir=ROOT / "conf") -> dict:
    """The demo-world GeneCIS: kind -> method -> metrics, on the 2,000 demo evaluation images
    (seed 0) embedded by the shipped demo backbone (both through the project's HDF5 caches)."""
    from indirect.backbones.demo import DemoBackbone
    from indirect.datasets.shapes import load_shapes
    from indirect.embedding import embed_images, embed_texts

    labelled = load_shapes(Path(data_dir) / "shapes", n_images=n_images, seed=0)
    backbone = DemoBackbone(device="cpu")
    embedded = embed_images(backbone, labelled, cache_dir, num_workers=0)
    table = EmbeddingTable(embedded.ids, embedded.embeddings)

    embed_text = remembered(lambda texts: embed_texts(backbone, list(texts), cache_dir))

    spaces = DemoSpaces(embed_text, conf_dir, n_components, seed)
    labels = labelled.labels.loc[embedded.ids]
    return {kind: evaluate_methods(build_scorers(table, embed_text, spaces, methods),
                                   demo_queries(labels, notion, kind, n_queries, seed))
            for kind in kinds}


def genecis_benchmark(labelled, backbone, cache_dir, methods: Sequence[str] = METHODS, n_components: int = 128,
                      seed: int = 0, **embed_options) -> dict[str, dict]:
    """Method -> metrics on one GeneCIS task (``labelled`` from ``load_genecis``), with the
    vocabularies of :class:`GenecisSpaces`. Templates naming an image that could not be read
    (skipped by the embedding) are left out and counted in ``skipped_queries``."""
    from indirect.embedding import embed_images, embed_texts

    embedded = embed_images(backbone, labelled, cache_dir, **embed_options)
    table = EmbeddingTable(embedded.ids, embedded.embeddings)
    queries = labelled.queries
    kept = [q for q in queries if all(item in table.row for item in (q.reference, *q.candidates))]
    embed_text = remembered(lambda texts: embed_texts(backbone, list(texts), cache_dir))
    spaces = GenecisSpaces(embed_text, n_components, seed)
    results = evaluate_methods(build_scorers(table, embed_text, spaces, methods), kept)
    for metrics in results.values():
        metrics["skipped_queries"] = len(queries) - len(kept)
    return results
