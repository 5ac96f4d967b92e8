"""Analyses added to a run with ``analysis=...``: saliency maps and embedding maps.

Each analysis is a config node under ``analysis`` (``conf/analysis/*.yaml``) whose ``_target_``
is a callable class: built with the node's options, called with the run's objects
(:class:`indirect.experiment.RunObjects`), it writes its files into the run folder and returns
an :class:`AnalysisOutput`. The run stores files and summary values in results.json and hands
the images to the tracker without knowing which analysis made them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from indirect.errors import AnalysisError

__all__ = ["AnalysisError", "AnalysisOutput"]


@dataclass
class AnalysisOutput:
    """``files``: results.json key -> written file; ``images``: the figures among them, for the
    tracker; ``summary``: headline values for results.json (e.g. object shares, point counts)."""

    files: dict[str, Path] = field(default_factory=dict)
    images: dict[str, Path] = field(default_factory=dict)
    summary: dict = field(default_factory=dict)
