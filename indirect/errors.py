"""Every error a user can fix, under one base class.

Entry points catch :class:`UserError` alone and print its message as one line (exit 2); anything
else is a bug and keeps its traceback; Ctrl-C is one line too (exit 130, :func:`quiet_interrupt`).
A message names the file or value at fault and the fix. The subclasses say which part of the
pipeline refused; they carry no extra state.
"""
from __future__ import annotations

import sys


class UserError(Exception):
    """Input a user can fix: a config value, a file, a folder. The message is one actionable line."""


class ConfigError(UserError, ValueError):
    """A configuration value is unusable."""


class DatasetError(UserError, RuntimeError):
    """A dataset cannot be read as configured."""


class PromptError(UserError, ValueError):
    """A prompt set is unusable."""


class BackboneError(UserError, RuntimeError):
    """A backbone (its weights, its model name, its bundled text model) cannot be built as configured."""


class BadImageError(UserError, RuntimeError):
    """An image could not be read and ``embed.on_bad_image=fail``."""


class CacheError(UserError, RuntimeError):
    """An embedding cache cannot be completed, read or written."""


class ProjectorError(UserError, ValueError):
    """A projector was given options or inputs it cannot use."""


class MetricsError(UserError, ValueError):
    """Inputs or options that the evaluation cannot use (including input that gives no meaningful figure)."""


class ResultsError(UserError, ValueError):
    """A results.json or run summary does not follow the contract."""


class SweepError(UserError, ValueError):
    """A multirun directory cannot be reported as asked."""


class AnalysisError(UserError, ValueError):
    """An analysis cannot run as configured."""


class SearchError(UserError, ValueError):
    """A search query (a missing image, an empty text, k < 1) or a saved notion space is unusable."""


def one_line(error: BaseException) -> str:
    """``Type: message`` of ``error``, first line only: how a skipped file or moved-aside cache names its fault."""
    return f"{type(error).__name__}: {error}".splitlines()[0]


INTERRUPTED = "interrupted: finished parts of the embedding cache are kept; run the same command again to resume"


def quiet_interrupt(main, *args):
    """``main(*args)``, with Ctrl-C as one line and exit status 130 (128 + SIGINT) instead of a traceback:
    nothing is lost, the parts written so far stay and the same command resumes from them."""
    try:
        return main(*args)
    except KeyboardInterrupt:
        print(INTERRUPTED, file=sys.stderr)
        sys.exit(130)
