"""Analyses added to a run with ``analysis=...``: saliency maps and embedding maps.

Each analysis is a config node under ``analysis`` (``conf/analysis/*.yaml``) whose ``_target_``
is a callable class: built with the node's options, called with the run's objects
(:class:`indirect.experiment.RunObjects`), it writes its files into the run folder and returns
an :class:`AnalysisOutput`. A class's ``RULES`` (option -> rule) are checked by its constructor
and, before anything is loaded, by the run's validation (:func:`check_options`). The run stores
files and summary values in results.json and hands the images to the tracker without knowing
which analysis made them.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from indirect.errors import AnalysisError

__all__ = ["AnalysisError", "AnalysisOutput", "check_options", "at_least"]

Rule = Callable[[str, Any], Any]   # (analysis.<node>.<option>, value) -> the value to use, or an AnalysisError


def at_least(minimum, kind: type = int, allow_none: bool = False) -> Rule:
    """A rule: an integer (``kind=float``: a number) of at least ``minimum`` (None too with ``allow_none``)."""
    noun = "integer" if kind is int else "number"

    def rule(key: str, value):
        if value is None and allow_none:
            return None
        if (isinstance(value, bool) or not isinstance(value, numbers.Integral if kind is int else numbers.Real)
                or value < minimum):
            raise AnalysisError(f"{key}={value!r} is not {'an' if kind is int else 'a'} {noun} >= {minimum}; "
                                f"set {key}=<{noun} >= {minimum}>")
        return kind(value)
    return rule


def check_options(node: str, rules: dict[str, Rule], **options) -> dict:
    """``options`` of ``analysis.<node>`` with each ruled one checked (and converted) by its rule."""
    return {key: rules[key](f"analysis.{node}.{key}", value) if key in rules else value
            for key, value in options.items()}


@dataclass
class AnalysisOutput:
    """``files``: results.json key -> written file; ``images``: the figures among them, for the
    tracker; ``summary``: headline values for results.json (e.g. object shares, point counts)."""

    files: dict[str, Path] = field(default_factory=dict)
    images: dict[str, Path] = field(default_factory=dict)
    summary: dict = field(default_factory=dict)
