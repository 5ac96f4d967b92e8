"""Reading and preprocessing images inside DataLoader workers."""
from __future__ import annotations

from typing import Callable, Sequence

import torch
from PIL import Image
from torch.utils.data import Dataset


class ImageDataset(Dataset):
    """Item ``i`` -> (i, preprocessed tensor, error message or ""): an unreadable file does not
    kill the worker; the caller decides to skip it or fail with its path.

    With ``draft_size``, JPEGs are decoded by libjpeg at the strongest 1/2, 1/4 or 1/8 reduction
    that still covers ``draft_size`` on both sides: for photos several times the model's input
    this cuts decoding (the bottleneck of a fast model) several-fold, at the cost of pixels
    slightly different from a full decode followed by the model's own resize."""

    def __init__(self, paths: Sequence, preprocess: Callable, draft_size: int | None = None):
        self.paths = list(paths)
        self.preprocess = preprocess
        self.draft_size = draft_size
        self._blank = None

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int):
        try:
            with Image.open(self.paths[index]) as image:
                if self.draft_size:
                    image.draft("RGB", (self.draft_size, self.draft_size))
                return index, self.preprocess(image.convert("RGB")), ""
        except Exception as error:  # PIL raises many types for corrupt or truncated files
            if self._blank is None:
                self._blank = self.preprocess(Image.new("RGB", (32, 32)))
            return index, torch.zeros_like(self._blank), f"{type(error).__name__}: {error}".splitlines()[0]


def model_input_side(preprocess: Callable) -> int:
    """The shorter side of what ``preprocess`` produces: the resolution the model sees."""
    with Image.new("RGB", (64, 64)) as probe:
        return int(min(preprocess(probe).shape[-2:]))
