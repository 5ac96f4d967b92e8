"""Cache faults that heal or are named: a corrupt file is moved aside and recomputed, a
directory that cannot be written (permissions, read-only mount, full disk) is one line.
"""
from __future__ import annotations

import errno
import logging
import time
from contextlib import contextmanager
from pathlib import Path

from indirect.errors import CacheError

log = logging.getLogger(__name__)

UNWRITABLE = {errno.EACCES: "permission denied", errno.EPERM: "permission denied",
              errno.EROFS: "read-only file system", errno.ENOSPC: "no space left on device",
              errno.EDQUOT: "disk quota exceeded"}


def move_aside(path: Path, why: str) -> Path:
    """Rename a corrupt cache file to ``<name>.corrupt-<timestamp>`` (kept for inspection, never
    read again) and say so; the caller then recomputes what it held."""
    target = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}-{time.time_ns() % 10**9:09d}")
    path.rename(target)
    log.warning("cache file %s is unreadable (%s); moved aside to %s and recomputing", path, why, target.name)
    return target


def check_shape(embeddings, rows: int, dim: int | None) -> None:
    """A cache file's embeddings are ``rows`` x ``dim``; another width (a file of another backbone) or row
    count makes the file damaged: a ``ValueError`` that its reader turns into :func:`move_aside`."""
    if embeddings.shape[0] != rows or (rows and dim is not None and embeddings.shape[1:] != (dim,)):
        raise ValueError(f"its embeddings are {'x'.join(map(str, embeddings.shape))}, not {rows}x{dim} "
                         f"(another backbone's width?)")


def write_problem(error: OSError) -> str | None:
    """The one-line reason when ``error`` means the folder cannot take the cache, else None."""
    if isinstance(error, PermissionError):
        return "permission denied"
    return UNWRITABLE.get(getattr(error, "errno", None))


@contextmanager
def writing_cache(folder):
    """Turn "cannot write here" errors raised inside into one CacheError naming the folder and the fix."""
    try:
        yield
    except OSError as error:
        reason = write_problem(error)
        if reason is None:
            raise
        where = getattr(error, "filename", None) or folder
        fix = ("free some space or set paths.cache_dir=<folder with space>" if error.errno in (errno.ENOSPC, errno.EDQUOT)
               else "make it writable or set paths.cache_dir=<writable folder>")
        raise CacheError(f"cannot write the embedding cache in {folder} ({reason} on {where}); {fix}") from error
