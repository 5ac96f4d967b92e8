"""One-line refusals for annotation files that do not read as their layout says.

A loader reads many small text, CSV and MATLAB files; a damaged or hand-edited one should stop
the run with one line naming the file, the line (where known), the value and the fix, never a
parser traceback. These helpers do the reading steps that can fail and word the refusal.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from indirect.errors import DatasetError, one_line

_FIELDS = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


def refuse(dataset: str, path: Path, problem: str, fix: str, line: int | None = None) -> DatasetError:
    """``dataset '<name>': <file>[ line <n>]: <problem>; <fix>`` as a DatasetError (raise it)."""
    where = f"{path} line {line}" if line is not None else f"{path}"
    return DatasetError(f"dataset '{dataset}': {where}: {problem}; {fix}")


def text_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, stripped text) of the non-blank lines of an annotation file; a UTF-8 BOM is not part
    of the first line."""
    return [(number, line.strip()) for number, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), 1)
            if line.strip()]


def listed_twice(dataset: str, path: Path, key: str, first: int, again: int, fix: str) -> DatasetError:
    """The refusal of an id or path listed twice in one file: which of its lines holds the truth is unknowable."""
    return refuse(dataset, path, f"{key} is listed twice (line {first} and line {again})", fix, again)


def integer(value, dataset: str, path: Path, line: int | None, what: str, fix: str) -> int:
    """``value`` as an int (``"12"``, ``12.0``), or a refusal naming the file, the line and the value."""
    try:
        number = float(str(value).strip())
    except ValueError:
        number = float("nan")
    if number != number or number != int(number):
        raise refuse(dataset, path, f"{what} {str(value).strip()!r} is not an integer", fix, line)
    return int(number)


def numeric_column(table: pd.DataFrame, column: str, dataset: str, path: Path, fix: str, integer_only: bool = False,
                   first_line: int = 2) -> pd.Series:
    """``table[column]`` as numbers; the first empty or non-numeric cell is refused with its line.

    ``table`` keeps the row numbers ``read_csv`` gave it as its index (filter it, do not reset it);
    ``first_line`` is the file line of row 0 (2 after a header line)."""
    values = pd.to_numeric(table[column], errors="coerce")
    bad = values.isna() | (values != values.round() if integer_only else False)
    if bad.any():
        position = int(np.flatnonzero(bad.to_numpy())[0])
        raw = table[column].iloc[position]
        shown = "empty" if pd.isna(raw) or str(raw).strip() == "" else f"{str(raw).strip()!r}"
        kind = "an integer" if integer_only else "a number"
        raise refuse(dataset, path, f"{column} is {shown}, not {kind}", fix, first_line + int(table.index[position]))
    return values.astype(int) if integer_only else values.astype(float)


def read_table(path: Path, dataset: str, fix: str, **options) -> pd.DataFrame:
    """``pandas.read_csv(path, **options)`` with its parser errors as one refusal line."""
    try:
        return pd.read_csv(path, **options)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as error:
        fields = _FIELDS.search(str(error))
        if fields:
            expected, line, seen = (int(group) for group in fields.groups())
            raise refuse(dataset, path, f"has {seen} fields where at most {expected} are expected", fix, line) from error
        raise refuse(dataset, path, f"cannot be read as a table ({one_line(error).split(': ', 1)[-1].strip()})",
                     fix) from error


def loadmat(path: Path, dataset: str, fix: str) -> dict:
    """``scipy.io.loadmat(path)``, or a refusal when the file is not a readable MATLAB file."""
    import scipy.io

    try:
        return scipy.io.loadmat(path)
    except Exception as error:  # scipy raises MatReadError, ValueError, OSError, TypeError... on damaged files
        raise refuse(dataset, path, f"cannot be read as a MATLAB file ({one_line(error)})", fix) from error
