"""One experiment: dataset -> cached image embeddings -> prompts -> projectors -> metrics -> results."""
from __future__ import annotations

import csv
import io
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from indirect.datasets.base import LabelledImages
from indirect.embedding import embed_images, embed_texts
from indirect.methods import depends_on_seed, fit_transform, method_specs
from indirect.notions import ConfigError, label_column, notion_labels, prompt_set
from indirect.timing import StageTimer

log = logging.getLogger(__name__)


@dataclass
class RunContext:
    """What analyses get to work with after the run: everything already loaded and fitted."""

    cfg: DictConfig
    conf_dir: Path
    output_dir: Path
    backbone: object
    labelled: LabelledImages
    ids: list[str]
    image_embeddings: np.ndarray
    labels: np.ndarray
    projectors: dict = field(default_factory=dict)


def load_dataset(dataset_cfg: DictConfig) -> LabelledImages:
    options = {k: v for k, v in OmegaConf.to_container(dataset_cfg, resolve=True).items() if k not in ("name", "notions")}
    return instantiate(options, _convert_="all")


def aligned_labels(labels: pd.Series, ids: list[str]) -> tuple[list[int], np.ndarray]:
    """Positions of ``ids`` that carry a label, and those labels as strings."""
    values = labels.reindex(ids)
    keep = [i for i, v in enumerate(values) if not pd.isna(v) and str(v) != ""]
    return keep, values.iloc[keep].astype(str).to_numpy()


def embed_shard(cfg: DictConfig, backbone, labelled: LabelledImages, output_dir: Path) -> bool:
    """Embed this job's shard before anything notion-specific is checked; True once the cache is complete."""
    embedded = embed_images(backbone, labelled, cfg.paths.cache_dir,
                            **OmegaConf.to_container(cfg.embed, resolve=True))
    if embedded is None:
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / "shard.json").write_text(json.dumps({"shard": cfg.embed.shard, "num_shards": cfg.embed.num_shards}))
    return embedded is not None


def run(cfg: DictConfig, conf_dir: Path, output_dir: Path, tracker=None) -> dict:
    """Run the configured experiment, write results into ``output_dir`` and return them."""
    timer = StageTimer()
    output_dir = Path(output_dir)
    with timer("dataset"):
        labelled = load_dataset(cfg.dataset)
    backbone = None
    if cfg.embed.get("shard") is not None:
        with timer("backbone"):
            backbone = instantiate(cfg.backbone)
        if not embed_shard(cfg, backbone, labelled, output_dir):
            return {}  # a shard job: its part of the cache is written; the last shard goes on to the experiment
    column = label_column(cfg.dataset, cfg.notion.name, labelled)
    labels_all = notion_labels(labelled, column)
    ignore_column = label_column(cfg.dataset, cfg.ignore, labelled) if cfg.get("ignore") else None
    prompts = prompt_set(cfg, conf_dir, cfg.notion.name, labelled, cfg.get("max_prompts"), cfg.seed)
    ignore_prompts = prompt_set(cfg, conf_dir, cfg.ignore, labelled, spec=cfg.get("ignore_prompts")) \
        if cfg.get("ignore") else None

    if backbone is None:
        with timer("backbone"):
            backbone = instantiate(cfg.backbone)
    if cfg.n_components > backbone.embed_dim:
        raise ConfigError(f"n_components={cfg.n_components} exceeds the {backbone.embed_dim}-d embeddings of "
                          f"{backbone.name}; set n_components<={backbone.embed_dim}")
    with timer("embed"):
        embedded = embed_images(backbone, labelled, cfg.paths.cache_dir, **OmegaConf.to_container(cfg.embed, resolve=True))
        if embedded is None:
            return {}
        text = embed_texts(backbone, prompts, cfg.paths.cache_dir)
        ignore_text = embed_texts(backbone, ignore_prompts, cfg.paths.cache_dir) if ignore_prompts else None

    keep, labels = aligned_labels(labels_all, embedded.ids)
    if len(keep) < len(embedded.ids):
        log.warning("%d image(s) without a '%s' label left out of the evaluation", len(embedded.ids) - len(keep), column)
    ids = [embedded.ids[i] for i in keep]
    images = embedded.embeddings[keep]
    ignored_labels = aligned_labels(labelled.labels[ignore_column], ids)[1] if ignore_column else None

    from indirect.metrics import evaluate
    from indirect.reporting import summarize_runs

    eval_options = OmegaConf.to_container(cfg.evaluation, resolve=True)
    runs: dict[str, list[dict]] = {}
    ignored_runs: dict[str, list[dict]] = {}
    context = RunContext(cfg, Path(conf_dir), output_dir, backbone, labelled, ids, images, labels)
    upper_bounds = []
    for spec in method_specs(cfg, conf_dir):
        repetitions = cfg.repetitions if depends_on_seed(spec) else 1
        for repetition in range(repetitions):
            seed = cfg.seed + repetition
            with timer("fit"):
                name, projector, projected = fit_transform(spec, seed, text, images, labels, ignore_text)
            with timer("evaluate"):
                runs.setdefault(name, []).append(evaluate(projected, labels, seed=seed, **eval_options))
                if ignored_labels is not None:
                    ignored_runs.setdefault(name, []).append(evaluate(projected, ignored_labels, seed=seed, **eval_options))
            context.projectors.setdefault(name, projector)
            if getattr(projector, "upper_bound", False) and name not in upper_bounds:
                upper_bounds.append(name)

    results = {
        "dataset": str(cfg.dataset.name), "notion": str(cfg.notion.name), "backbone": backbone.name,
        "n_images": len(ids), "n_prompts": len(prompts),
        "methods": {name: summarize_runs(metric_runs) for name, metric_runs in runs.items()},
        "projector": OmegaConf.select(cfg, "projector._target_"),
        "n_components": int(cfg.n_components), "repetitions": int(cfg.repetitions),
        "upper_bound_methods": upper_bounds, "skipped_images": len(embedded.skipped_ids),
    }
    if ignored_labels is not None:
        results["ignored"] = {"notion": str(cfg.ignore), "n_prompts": len(ignore_prompts),
                              "methods": {n: summarize_runs(r) for n, r in ignored_runs.items()}}

    from indirect.analysis import run_analyses

    with timer("analysis"):
        results["analysis"] = run_analyses(cfg.get("analysis"), context)
    results["timings"] = dict(timer.seconds)
    write_results(results, output_dir, tracker)
    log.info(timer.summary())
    print(timer.summary())
    return results


def write_results(results: dict, output_dir: Path, tracker) -> None:
    """Local files first (results.json, .md, .csv), then the tracker, which may fail harmlessly."""
    from indirect.reporting import console_table, results_table, write_run_tables

    output_dir.mkdir(parents=True, exist_ok=True)
    from indirect.jsonsafe import to_json

    (output_dir / "results.json").write_text(to_json(results, indent=2))
    write_run_tables(results, output_dir)
    print(console_table(results))
    if "ignored" in results:
        ignored = {**results, "notion": f"{results['ignored']['notion']} (ignored notion)",
                   "n_prompts": results["ignored"]["n_prompts"], "methods": results["ignored"]["methods"]}
        print(console_table(ignored))
    if tracker is not None:
        rows = list(csv.reader(io.StringIO(results_table(results, "csv").strip())))
        tracker.log_results(results, rows[0], rows[1:])
        images = {key: Path(path) for key, path in (results.get("analysis") or {}).items() if str(path).endswith(".png")}
        if images:
            tracker.log_images(images)
