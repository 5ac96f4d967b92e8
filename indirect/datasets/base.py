"""The one shape every dataset loader returns, and the lazy image reader built on it.

A loader only reads metadata: it returns ids, paths and a label table. Pixels are read one
image at a time by :class:`ImageDataset` inside DataLoader workers, so no loader ever holds a
dataset's pixels in memory.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from indirect.errors import DatasetError



@dataclass
class LabelledImages:
    """Evaluation images of one dataset.

    ``ids`` are stable strings (the same image gets the same id whatever the order on disk),
    ``paths`` are absolute image paths aligned with ``ids``, and ``labels`` is a DataFrame
    indexed by id with one column per label (each usable as a similarity notion).

    What readers beyond the labels need, each in its own field:
    ``missing_columns``: label column -> why it is absent and how to get it (read when a notion
    asks for it); ``vocabularies``: name -> word list a prompt set can use as ``dataset:<name>``
    (e.g. CUB's training species); ``object_mask``: image id -> (H, W) bool object mask, for
    datasets that ship masks (saliency measures its share on the object); ``unlabelled``: label
    column -> images without a value there; ``skipped``: records of the metadata left out (no image);
    ``queries``: conditional-similarity queries (reference, condition, target, gallery) of datasets
    that define them (GeneCIS).
    """

    name: str
    root: Path
    ids: list[str]
    paths: list[Path]
    labels: pd.DataFrame
    missing_columns: dict[str, str] = field(default_factory=dict)
    vocabularies: dict[str, list[str]] = field(default_factory=dict)
    object_mask: Callable[[str], np.ndarray] | None = None
    unlabelled: dict[str, int] = field(default_factory=dict)
    skipped: int = 0
    queries: list = field(default_factory=list)

    def __post_init__(self):
        if len(self.ids) != len(self.paths):
            raise DatasetError(f"{self.name}: {len(self.ids)} ids but {len(self.paths)} paths")
        if len(set(self.ids)) != len(self.ids):
            raise DatasetError(f"{self.name}: image ids are not unique")
        undecodable = [i for i in self.ids if not _utf8(i)]
        if undecodable:   # a file name in another encoding: the cache stores ids as UTF-8
            raise DatasetError(f"{self.name} at {self.root}: {len(undecodable)} image name(s) are not valid UTF-8, e.g. "
                               f"{undecodable[0].encode('utf-8', 'surrogateescape')!r}; rename them (convmv -f latin1 "
                               "-t utf8 -r --notest <folder> converts Latin-1 names)")
        if list(self.labels.index) != list(self.ids):
            self.labels = self.labels.loc[self.ids]

    def __len__(self) -> int:
        return len(self.ids)

    def label_column(self, column: str) -> pd.Series:
        """One label column, or a one-line error naming the columns that exist."""
        if column not in self.labels.columns:
            raise DatasetError(
                f"{self.name} at {self.root}: label column '{column}' not found; "
                f"available columns: {', '.join(map(str, self.labels.columns))}"
            )
        return self.labels[column]

    def subset(self, keep: list[int]) -> "LabelledImages":
        ids = [self.ids[i] for i in keep]
        return dataclasses.replace(self, ids=ids, paths=[self.paths[i] for i in keep], labels=self.labels.loc[ids])


def require_root(name: str, root, layout: str, source: str) -> Path:
    """Return ``root`` as a Path or fail with the dataset, the path, the layout and the source."""
    if root is None or str(root) in ("", "???"):
        raise DatasetError(f"dataset '{name}': no location given; set dataset.root=<folder holding {layout}> (download: {source})")
    path = Path(str(root)).expanduser()
    if not path.exists():
        raise DatasetError(
            f"dataset '{name}': {path} does not exist; expected {layout} there "
            f"(download: {source}); set dataset.root=<folder>"
        )
    return path


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
