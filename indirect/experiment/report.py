"""The report stage: results.json (the contract every report reads), the tables, the tracker."""
from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from indirect.experiment.embeddings import Embeddings
from indirect.experiment.evaluation import Scores
from indirect.experiment.fitting import FittedMethod
from indirect.experiment.inputs import Inputs
from indirect.jsonsafe import to_json


def build_results(cfg: DictConfig, backbone, inputs: Inputs, embeddings: Embeddings, fitted: list[FittedMethod],
                  scores: Scores) -> dict:
    """The results.json dict (schema: indirect/reporting/results.py), without analyses and timings."""
    from indirect.reporting import summarize_runs

    upper_bounds = list(dict.fromkeys(m.name for m in fitted if getattr(m.projector, "upper_bound", False)))
    results = {
        "dataset": str(cfg.dataset.name), "notion": inputs.notion.name, "backbone": backbone.name,
        "n_images": len(embeddings.ids), "n_prompts": len(inputs.prompts),
        "methods": {name: summarize_runs(runs) for name, runs in scores.runs.items()},
        "projector": OmegaConf.select(cfg, "projector._target_"),
        "n_components": int(OmegaConf.select(cfg, "projector.n_components", default=cfg.n_components)),
        "repetitions": int(cfg.repetitions),
        "upper_bound_methods": upper_bounds, "skipped_images": embeddings.skipped_images,
        "protocol": str(OmegaConf.select(cfg, "protocol.name", default="improved")),
    }
    skipped = {name: reason for name, reason in getattr(fitted, "not_applicable", {}).items()
               if name not in results["methods"]}
    if skipped:
        results["not_applicable"] = skipped
    if inputs.ignore is not None:
        results["ignored"] = {"notion": inputs.ignore.name, "n_prompts": len(inputs.ignore_prompts),
                              "methods": {name: summarize_runs(runs) for name, runs in scores.ignored.items()}}
    return results


def write_results(results: dict, output_dir: Path, tracker=None, images: dict[str, Path] | None = None) -> None:
    """Local files first (results.json, .md, .csv), then the tracker, which may fail harmlessly."""
    from indirect.reporting import console_table, run_rows, write_run_tables
    from indirect.reporting.tables import ignored_view

    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "results.json").write_text(to_json(results, indent=2))
    write_run_tables(results, output_dir)
    print(console_table(results))
    if (ignored := ignored_view(results)) is not None:
        print(console_table(ignored))
    if tracker is not None:
        tracker.log_results(results, *run_rows(results))
        if images:
            tracker.log_images(images)
