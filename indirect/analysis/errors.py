"""The one error class of the analyses, so the entry point can show it as one line."""
from __future__ import annotations


class AnalysisError(ValueError):
    """An analysis cannot run as configured; the message names the setting and the fix."""
