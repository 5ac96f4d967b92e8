"""Reading and preprocessing images inside DataLoader workers."""
from __future__ import annotations

from typing import Callable, Sequence

import torch
from PIL import Image
from torch.utils.data import Dataset


class ImageDataset(Dataset):
    """Item ``i`` -> (i, preprocessed tensor, error message or ""): an unreadable file does not
    kill the worker; the caller decides to skip it or fail with its path."""

    def __init__(self, paths: Sequence, preprocess: Callable):
        self.paths = list(paths)
        self.preprocess = preprocess
        self._blank = None

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int):
        try:
            with Image.open(self.paths[index]) as image:
                return index, self.preprocess(image.convert("RGB")), ""
        except Exception as error:  # PIL raises many types for corrupt or truncated files
            if self._blank is None:
                self._blank = self.preprocess(Image.new("RGB", (32, 32)))
            return index, torch.zeros_like(self._blank), f"{type(error).__name__}: {error}".splitlines()[0]
