"""Analyses added to a run with ``analysis=...``: saliency maps and embedding maps.

``run_analyses`` is what the pipeline calls after fitting; each analysis writes its files into
the run's output folder and returns their paths (PNG paths are logged to W&B by the pipeline).
"""
from __future__ import annotations

from indirect.errors import AnalysisError

__all__ = ["AnalysisError", "run_analyses"]


def run_analyses(analysis_cfg, context) -> dict:
    """Run the analyses switched on in ``analysis_cfg`` (``saliency``, ``map``; null = off);
    returns {name: output file} plus a few headline numbers (object shares, number of points)."""
    outputs: dict = {}
    if not analysis_cfg:
        return outputs
    if analysis_cfg.get("saliency"):
        from indirect.analysis.explain import run_saliency

        outputs.update(run_saliency(analysis_cfg.saliency, context))
    if analysis_cfg.get("map"):
        from indirect.analysis.embedding_map import run_map

        outputs.update(run_map(analysis_cfg.map, context))
    return outputs
