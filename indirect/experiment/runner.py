"""``run(cfg) -> (results, objects)``: one experiment as a sequence of stages, each one job."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from indirect.datasets.base import LabelledImages
from indirect.errors import ConfigError
from indirect.experiment.conditional import is_conditional, run_conditional
from indirect.experiment.embeddings import embed_inputs, embed_shard, experiment_done, image_embeddings
from indirect.experiment.evaluation import evaluate_methods
from indirect.experiment.fitting import fit_methods
from indirect.experiment.inputs import build, load_dataset, load_inputs
from indirect.experiment.report import build_results, write_results
from indirect.experiment.selection import select_methods
from indirect.experiment.validation import validate
from indirect.notions import Notion
from indirect.timing import StageTimer

log = logging.getLogger(__name__)


@dataclass
class RunObjects:
    """What a run loaded and fitted, for analyses and for callers of ``run``: the first fitted
    instance of every method (``projectors``), the evaluated images' ids, embeddings and labels."""

    cfg: DictConfig
    output_dir: Path
    backbone: object
    labelled: LabelledImages
    notion: Notion
    ids: list[str]
    image_embeddings: np.ndarray
    labels: np.ndarray
    projectors: dict = field(default_factory=dict)


def run(cfg: DictConfig, tracker=None) -> tuple[dict, RunObjects | None]:
    """Run the configured experiment into ``cfg.paths.output_dir``; return (results, objects).

    ``evaluation=conditional`` runs the GeneCIS protocol instead of fitting and scoring one
    notion (:mod:`indirect.experiment.conditional`). A shard job whose slice does not complete
    the cache returns ({}, None). ``tracker`` (an
    ``indirect.tracking`` tracker, already started) receives the results after the local files."""
    timer = StageTimer()
    validate(cfg)
    if is_conditional(cfg):
        return run_conditional(cfg, tracker, timer)
    output_dir = Path(cfg.paths.output_dir)
    with timer("dataset"):
        labelled = load_dataset(cfg.dataset)
    backbone = embedded = None
    if cfg.embed.shard is not None:
        with timer("backbone"):
            backbone = build(cfg.backbone)
        with timer("embed"):
            embedded = embed_shard(cfg, backbone, labelled, output_dir)
        if embedded is None:
            return {}, None  # this shard is written; the job that completes the cache runs the experiment
    inputs = load_inputs(cfg, labelled)
    if backbone is None:
        with timer("backbone"):
            backbone = build(cfg.backbone)
    specs = select_methods(cfg)
    check_dimensions(specs, backbone)
    with timer("embed"):
        embedded = embedded or image_embeddings(cfg, backbone, labelled)
        embeddings = embed_inputs(cfg, backbone, inputs, embedded)
    with timer("fit"):
        fitted = fit_methods(specs, int(cfg.seed), int(cfg.repetitions), embeddings)
    with timer("evaluate"):
        scores = evaluate_methods(fitted, embeddings, cfg.evaluation)
    results = build_results(cfg, backbone, inputs, embeddings, fitted, scores)
    objects = RunObjects(cfg, output_dir, backbone, labelled, inputs.notion, embeddings.ids, embeddings.images,
                         embeddings.labels)
    for method in fitted:
        objects.projectors.setdefault(method.name, method.projector)
    with timer("analysis"):
        results["analysis"], images = run_analyses(cfg.get("analysis"), objects)
    results["timings"] = dict(timer.seconds)
    write_results(results, output_dir, tracker, images)
    experiment_done(output_dir)
    log.info(timer.summary())          # Hydra's console handler shows it; the run's log file keeps it
    return results, objects


def check_dimensions(specs, backbone) -> None:
    """Every method's k is at least 2 and fits the backbone's embedding size: refused before anything is embedded."""
    for spec in specs:
        k = OmegaConf.select(spec.config, "n_components")
        if k is not None and int(k) == 1:
            raise ConfigError(f"{spec.key}.n_components=1: unit-normalised outputs of one dimension are +1 or -1, "
                              "every distance is 0 or 2 and a ranking is tie order; set it to an integer >= 2")
        if k is not None and int(k) > backbone.embed_dim:
            raise ConfigError(f"{spec.key}.n_components={k} exceeds the {backbone.embed_dim}-d embeddings of "
                              f"{backbone.name}; set n_components<={backbone.embed_dim}")


def in_run_dir(path, run_dir) -> str:
    """A file as results.json names it: relative to the run's folder (which can then move), or
    absolute when it lies elsewhere."""
    try:
        return Path(path).resolve().relative_to(Path(run_dir).resolve()).as_posix()
    except ValueError:
        return str(path)


def run_analyses(analysis_cfg: DictConfig | None, objects: RunObjects) -> tuple[dict, dict[str, Path]]:
    """Every analysis node under ``analysis`` (null = off), instantiated and called on the run's
    objects: their files and summary values for results.json, their images for the tracker."""
    summary: dict = {}
    images: dict[str, Path] = {}
    for node in (analysis_cfg or {}).values():
        if node is None:
            continue
        output = build(node, _convert_="all")(objects)
        summary.update({key: in_run_dir(path, objects.output_dir) for key, path in output.files.items()})
        summary.update(output.summary)
        images.update(output.images)
    return summary, images
