"""Results as strict JSON: a figure that could not be computed is ``null``, never ``NaN``.

``json.dumps`` writes NaN and Infinity by default, which no strict JSON reader accepts; here
they become null (the figure is absent, not a number) and ``allow_nan=False`` guarantees no
other non-finite value slips through.
"""
from __future__ import annotations

import json
import math

import numpy as np


def finite_or_none(value):
    """``value`` with every NaN/inf float (also numpy's, also nested in dicts, lists, tuples and
    arrays) replaced by None and numpy scalars made plain Python numbers."""
    if isinstance(value, dict):
        return {key: finite_or_none(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_none(item) for item in value]
    if isinstance(value, np.ndarray):
        return finite_or_none(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def to_json(value, **options) -> str:
    """Strict JSON text of ``value`` (``options`` go to :func:`json.dumps`, e.g. ``indent=2``)."""
    return json.dumps(finite_or_none(value), allow_nan=False, **options)
