"""The conditional-similarity run (``evaluation=conditional``): the GeneCIS protocol on the run's embeddings.

It replaces the fit-and-score stages of a retrieval run: the images are embedded as always (the
embeddings stage and its cache), the queries come from the dataset (``dataset=genecis``: the
official templates of ``dataset.task``) or are drawn from its labels (``dataset=shapes``: focus
and change queries for the run's notion, :mod:`indirect.conditional.shapes_queries`), and every
method of ``evaluation.methods`` scores them; the ``indirect`` method fits one space per
condition with the run's ``projector`` node on prompts over that condition's values.

Results keep the results.json contract, one row per method and task kind: ``methods`` holds
``<method>+<kind>`` (``indirect+focus``, ``clip+change``...) with ``recall_at_1..3`` as
``{"mean", "std", "runs"}`` over the repetitions, and ``chance+<kind>`` the expected recall of a
random ranking. A repetition draws a new query set (demo world, seed + r) and fits the spaces
with seed + r; the GeneCIS templates are fixed, so there a repetition only re-fits the spaces.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from indirect.conditional import (OTHER_FACTOR, TOP_K, DemoSpaces, EmbeddingTable, GenecisSpaces, build_scorers,
                                  demo_queries, evaluate_methods, remembered)
from indirect.conditional.queries import KINDS
from indirect.conditional.scorers import METHODS
from indirect.errors import ConfigError
from indirect.experiment.embeddings import embed_shard, image_embeddings
from indirect.experiment.inputs import build, load_dataset
from indirect.experiment.report import write_results
from indirect.experiment.selection import MethodSpec
from indirect.timing import StageTimer

log = logging.getLogger(__name__)
PROTOCOL = "conditional"
DEMO_DATASET = "shapes"
GENECIS_DATASET = "genecis"
RECALLS = tuple(f"recall_at_{k}" for k in TOP_K)


def is_conditional(cfg: DictConfig) -> bool:
    return OmegaConf.select(cfg, "evaluation.protocol") == PROTOCOL


def validate_conditional(cfg: DictConfig) -> None:
    """One line per malformed ``evaluation.*`` value of a conditional run, before anything loads."""
    from indirect.experiment.validation import integer

    integer(cfg, "evaluation.n_queries", 1)
    for key, allowed in (("kinds", KINDS), ("methods", METHODS)):
        values = [str(v) for v in OmegaConf.select(cfg, f"evaluation.{key}") or []]
        if not values:
            raise ConfigError(f"evaluation.{key} is empty; list at least one of {', '.join(allowed)}")
        unknown = [v for v in values if v not in allowed]
        if unknown:
            raise ConfigError(f"evaluation.{key}: '{unknown[0]}' is unknown; choose from {', '.join(allowed)}")
    dataset = str(cfg.dataset.name)
    if dataset not in (DEMO_DATASET, GENECIS_DATASET):
        raise ConfigError(f"evaluation=conditional needs queries: dataset=shapes (drawn from its labels) or "
                          f"dataset=genecis (the official files), not dataset={dataset}")
    if dataset == GENECIS_DATASET:
        kind = str(OmegaConf.select(cfg, "dataset.task", default="")).split("_")[0]
        kinds = [str(v) for v in cfg.evaluation.kinds]
        if kind in KINDS and kind not in kinds:   # the task decides the kind: its rows would not be the asked ones
            raise ConfigError(f"dataset.task={cfg.dataset.task} is a {kind} task, but evaluation.kinds={kinds}; a "
                              f"GeneCIS task has one kind: set evaluation.kinds=[{kind}] or dataset.task=<a {kinds[0]} task>")
    if dataset == DEMO_DATASET and str(cfg.notion.name) not in OTHER_FACTOR:
        raise ConfigError(f"notion={cfg.notion.name} has no conditional queries on the demo world; "
                          f"use one of {', '.join(OTHER_FACTOR)}")
    asked = [name for name, node in (cfg.get("analysis") or {}).items() if node is not None]
    other = [name for name in asked if name != "neighbours"]
    if other:
        raise ConfigError(f"analysis={other[0]} does not apply to evaluation=conditional (no single space to analyse); "
                          "set analysis=none")
    if cfg.get("ignore"):
        raise ConfigError("ignore does not apply to evaluation=conditional; drop ignore=...")


def require_conditional(cfg: DictConfig) -> None:
    """A dataset made of queries (GeneCIS) has no retrieval labels: only the conditional evaluation reads it."""
    if str(cfg.dataset.name) == GENECIS_DATASET and not is_conditional(cfg):
        raise ConfigError("dataset=genecis is a conditional-similarity benchmark; run it with evaluation=conditional")


def run_conditional(cfg: DictConfig, tracker=None, timer: StageTimer | None = None):
    """``run(cfg)`` for ``evaluation=conditional``: (results, RunObjects), or ({}, None) for a shard
    job that did not complete the cache."""
    from indirect.experiment.runner import RunObjects, check_dimensions

    timer = timer or StageTimer()
    output_dir = Path(cfg.paths.output_dir)
    if (cfg.get("analysis") or {}).get("neighbours") is not None:   # the default retrieval figure: one space
        log.info("analysis.neighbours left out: evaluation=conditional fits one space per condition")
    with timer("dataset"):
        labelled = load_dataset(cfg.dataset)
    genecis = bool(labelled.queries)
    projector = MethodSpec("projector", cfg.projector)
    with timer("backbone"):
        backbone = build(cfg.backbone)
    check_dimensions([projector], backbone)
    with timer("embed"):
        embedded = (embed_shard(cfg, backbone, labelled, output_dir) if cfg.embed.shard is not None
                    else image_embeddings(cfg, backbone, labelled))
    if embedded is None:
        return {}, None
    table = EmbeddingTable(embedded.ids, embedded.embeddings)
    embed_text = remembered(lambda texts: _embed_texts(backbone, texts, cfg.paths.cache_dir))
    kinds = [str(k) for k in cfg.evaluation.kinds]
    methods = [str(m) for m in cfg.evaluation.methods]
    n_components = int(OmegaConf.select(cfg, "projector.n_components", default=cfg.n_components))
    runs: dict[str, list[dict]] = {}
    counts: dict[str, dict] = {}
    prompts: set[str] = set()
    fallbacks: set[str] = set()
    spaces = None
    with timer("evaluate"):
        for repetition in range(int(cfg.repetitions)):
            seed = int(cfg.seed) + repetition
            if genecis:
                spaces = GenecisSpaces(embed_text, n_components, seed, make_projector=projector.build)
                by_kind = {labelled.queries[0].kind: _kept(labelled.queries, table)}
            else:
                spaces = DemoSpaces(embed_text, cfg.dataset, n_components, seed, make_projector=projector.build)
                labels = labelled.labels.loc[embedded.ids]
                by_kind = {kind: (demo_queries(labels, str(cfg.notion.name), kind, int(cfg.evaluation.n_queries), seed), 0)
                           for kind in kinds}
            for kind, (queries, skipped) in by_kind.items():
                scores = evaluate_methods(build_scorers(table, embed_text, spaces, methods), queries)
                for method, metrics in scores.items():
                    runs.setdefault(f"{method}+{kind}", []).append({m: metrics[m] for m in RECALLS})
                    fallbacks.update(metrics.get("fallback_conditions", []))
                first = next(iter(scores.values()))
                runs.setdefault(f"chance+{kind}", []).append({m: first[f"chance_{m}"] for m in RECALLS})
                counts[kind] = {"n_queries": first["n_queries"], "skipped_queries": skipped}
            prompts.update(p for name in spaces.fitted_names() for p in spaces.prompts(name))
    results = build_conditional_results(cfg, backbone, labelled, embedded, runs, counts, len(prompts), sorted(fallbacks))
    objects = RunObjects(cfg, output_dir, backbone, labelled, None, list(embedded.ids), embedded.embeddings,
                         np.array([]), projectors={f"indirect:{name}": spaces.projector(name) for name in spaces.fitted_names()})
    results["timings"] = dict(timer.seconds)
    write_results(results, output_dir, tracker)
    log.info(timer.summary())          # Hydra's console handler shows it; the run's log file keeps it
    return results, objects


def _embed_texts(backbone, texts, cache_dir):
    from indirect.embedding import embed_texts

    return embed_texts(backbone, list(texts), cache_dir)


def _kept(queries, table: EmbeddingTable):
    """The templates whose every image was embedded, and how many were left out (unreadable images)."""
    kept = [q for q in queries if all(item in table.row for item in (q.reference, *q.candidates))]
    if len(kept) < len(queries):
        log.warning("%d GeneCIS template(s) name an image that could not be read; left out", len(queries) - len(kept))
    return kept, len(queries) - len(kept)


def build_conditional_results(cfg, backbone, labelled, embedded, runs, counts, n_prompts, fallbacks) -> dict:
    """The results.json dict of a conditional run (schema: indirect/reporting/results.py)."""
    from indirect.reporting import summarize_runs

    genecis = bool(labelled.queries)
    return {
        "dataset": str(cfg.dataset.name),
        "notion": str(cfg.dataset.task) if genecis else str(cfg.notion.name),
        "backbone": backbone.name, "n_images": len(embedded.ids), "n_prompts": n_prompts,
        "protocol": PROTOCOL,
        "methods": {name: summarize_runs(per_seed) for name, per_seed in runs.items()},
        "n_queries": {kind: c["n_queries"] for kind, c in counts.items()},
        "skipped_queries": {kind: c["skipped_queries"] for kind, c in counts.items()},
        "chance": {kind: {m: runs[f"chance+{kind}"][0][m] for m in RECALLS} for kind in counts},
        "fallback_conditions": fallbacks,
        "projector": OmegaConf.select(cfg, "projector._target_"),
        "n_components": int(OmegaConf.select(cfg, "projector.n_components", default=cfg.n_components)),
        "repetitions": int(cfg.repetitions),
        "skipped_images": len(embedded.skipped_ids),
    }
