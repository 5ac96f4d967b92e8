"""The embeddings stage: cached image embeddings, the prompts' text embeddings, aligned labels.

``embed_shard`` is the sharded-extraction path: a job with ``embed.shard`` set embeds its slice
of the cache and stops, unless it is the job that completed the cache (it merged the parts; shard 0
over a cache complete before it started), in which case it goes on with the experiment on the
embeddings it just assembled (no second pass over the cache): one job of a sweep runs it.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from indirect.embedding import embed_images, embed_texts
from indirect.embedding.image_cache import ImageEmbeddings
from indirect.errors import ConfigError
from indirect.experiment.inputs import Inputs
from indirect.metrics.evaluate import check_k_covers_classes, require_measurable
from indirect.notions import Notion

log = logging.getLogger(__name__)
MERGED_FILE = "merged_shards.json"   # in the run folder of the shard job that completed the cache, until its results


@dataclass
class Embeddings:
    """The evaluated images (those with a label of the notion), their labels and the prompts' embeddings."""

    ids: list[str]
    images: np.ndarray
    labels: np.ndarray
    text: np.ndarray
    skipped_images: int
    ignore_keep: list[int] | None = None      # positions in ``ids`` labelled for the ignored notion
    ignore_labels: np.ndarray | None = None
    ignore_text: np.ndarray | None = None


def image_embeddings(cfg: DictConfig, backbone, labelled, **embed) -> ImageEmbeddings | None:
    """Every readable image's embedding (from the cache when complete); None when this is a shard
    job and other shards are still missing. ``embed`` overrides ``cfg.embed`` values."""
    return embed_images(backbone, labelled, cfg.paths.cache_dir,
                        **{**OmegaConf.to_container(cfg.embed, resolve=True), **embed})


def embed_shard(cfg: DictConfig, backbone, labelled, output_dir: Path) -> ImageEmbeddings | None:
    """Embed this job's shard before anything notion-specific is checked; the complete embeddings
    when this job completed the cache, else None (and ``shard.json`` in the run folder, which the
    sweep report lists as a shard job)."""
    from indirect.reporting.jobs import SHARD_FILE, swept_keys

    others = [key for key in swept_keys(output_dir.parent) if key != "embed.shard"]
    if others:
        raise ConfigError(f"this sharded sweep also varies {', '.join(others)}: one job per cache runs the experiment "
                          f"(the one that completes it), so the other {others[0]} values would never run; embed first "
                          f"(embed.num_shards=N 'embed.shard=range(N)' alone), then sweep {others[0]}=... without embed.shard")
    embedded = image_embeddings(cfg, backbone, labelled)
    merged = output_dir / MERGED_FILE
    if embedded is None and merged.is_file():
        # this job completed the cache in an earlier attempt and was stopped before its results (a SLURM
        # requeue): the experiment is still its to run, on the complete cache
        log.info("shard %s completed the cache before it was stopped: running the experiment", cfg.embed.shard)
        embedded = image_embeddings(cfg, backbone, labelled, shard=None)
    output_dir.mkdir(parents=True, exist_ok=True)
    if embedded is None:
        (output_dir / SHARD_FILE).write_text(json.dumps({"shard": cfg.embed.shard, "num_shards": cfg.embed.num_shards}))
    else:
        merged.write_text(json.dumps({"shard": cfg.embed.shard, "num_shards": cfg.embed.num_shards}))
    return embedded


def experiment_done(output_dir: Path) -> None:
    """The run wrote its results: a later attempt in this folder is no longer the shard that merged."""
    (Path(output_dir) / MERGED_FILE).unlink(missing_ok=True)


def aligned_labels(labels: pd.Series, ids: list[str]) -> tuple[list[int], np.ndarray]:
    """Positions of ``ids`` that carry a label, and those labels as strings."""
    values = labels.reindex(ids)
    keep = [i for i, v in enumerate(values) if not pd.isna(v) and str(v) != ""]
    return keep, values.iloc[keep].astype(str).to_numpy()


def measurable(labels: np.ndarray, notion: Notion, dataset: str) -> None:
    """Refuse, in one line naming the notion and its column, labels that give no figure (fewer than
    two classes with two images each)."""
    require_measurable(labels, f"notion '{notion.name}' (label column '{notion.column}') of dataset '{dataset}'")


def warn_lone_images(labels, what: str) -> int:
    """Log how many images are alone in their class: like pml, the retrieval metrics (P@1, MAP@R,
    R-Prec, MAP, MRR) leave them out as queries (they have nothing to find), so those figures
    average over fewer images than the run holds; NMI/AMI still cluster them. Returns the count."""
    counts = pd.Series(labels).value_counts()
    lone = int((counts == 1).sum())
    if lone:
        log.warning("%d of %d image(s) are alone in their %s class: left out as queries of the retrieval metrics "
                    "(P@1, MAP@R, R-Prec, MAP, MRR average over the other %d), still clustered for NMI/AMI",
                    lone, len(labels), what, len(labels) - lone)
    return lone


def embed_inputs(cfg: DictConfig, backbone, inputs: Inputs, embedded: ImageEmbeddings) -> Embeddings:
    """Keep the images labelled for the notion, embed the prompts (and the ignored notion's); labels
    that cannot be measured are refused before any prompt is embedded."""
    keep, labels = aligned_labels(inputs.labels, embedded.ids)
    measurable(labels, inputs.notion, str(cfg.dataset.name))
    check_k_covers_classes(OmegaConf.select(cfg, "evaluation.k"), labels, OmegaConf.select(cfg, "evaluation.metrics"))
    warn_lone_images(labels, f"notion '{inputs.notion.name}'")
    if len(keep) < len(embedded.ids):
        log.warning("%d image(s) without a '%s' label left out of the evaluation", len(embedded.ids) - len(keep),
                    inputs.notion.column)
    ids = [embedded.ids[i] for i in keep]
    result = Embeddings(ids, embedded.embeddings[keep], labels, embed_texts(backbone, inputs.prompts, cfg.paths.cache_dir),
                        len(embedded.skipped_ids))
    if inputs.ignore is not None:
        result.ignore_keep, result.ignore_labels = aligned_labels(inputs.ignore_labels, ids)
        measurable(result.ignore_labels, inputs.ignore, str(cfg.dataset.name))
        # the ignored notion is scored with the same evaluation.k: its classes (colours: a few large
        # ones) may exceed k where the run's notion does not, and its R-Prec/MAP@R would be at k
        check_k_covers_classes(OmegaConf.select(cfg, "evaluation.k"), result.ignore_labels,
                               OmegaConf.select(cfg, "evaluation.metrics"),
                               f"the ignored notion '{inputs.ignore.name}' (label column '{inputs.ignore.column}')")
        warn_lone_images(result.ignore_labels, f"ignored notion '{inputs.ignore.name}'")
        result.ignore_text = embed_texts(backbone, inputs.ignore_prompts, cfg.paths.cache_dir)
    return result
