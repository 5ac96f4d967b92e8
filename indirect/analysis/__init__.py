"""Analyses added to a run with ``analysis=...``: saliency maps and embedding maps."""
from __future__ import annotations


def run_analyses(analysis_cfg, context) -> dict:
    """Run the analyses switched on in ``analysis_cfg``; returns {name: output file}."""
    return {}
