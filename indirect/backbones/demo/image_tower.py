"""The demo backbone's image tower: a small CNN mapping 64 px images into the text space.

Four conv blocks (16-32-64-128 channels, BatchNorm, ReLU, max-pool), average- and max-pooled
features, one linear head to the 384-d space of all-MiniLM-L6-v2. Small enough to embed a few
thousand images in seconds on a shared CPU (the prototype's 32-64-96-128 took twice as long for
training and embedding), which keeps the demo pipeline within its time budget. Run it in
channels-last memory format on CPU: that alone halves its time there.
"""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torch import nn

IMAGE_SIZE = 64
CHANNELS = (16, 32, 64, 128)
PREPROCESS_DESCRIPTION = f"rgb,resize{IMAGE_SIZE}bilinear,scale01,normalize(0.5,0.5)"


class ImageTower(nn.Module):
    def __init__(self, embed_dim: int = 384, channels: tuple[int, ...] = CHANNELS):
        super().__init__()
        blocks, previous = [], 3
        for width in channels:
            blocks += [nn.Conv2d(previous, width, 3, padding=1, bias=False), nn.BatchNorm2d(width),
                       nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            previous = width
        self.features = nn.Sequential(*blocks)
        self.head = nn.Linear(2 * previous, embed_dim)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        maps = self.features(images)
        pooled = torch.cat([maps.mean(dim=(2, 3)), maps.amax(dim=(2, 3))], dim=1)
        return self.head(pooled)


def pixels_to_tensor(pixels: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(N, H, W, 3) uint8 pixels -> (N, 3, H, W) normalised float32, as :func:`preprocess` does."""
    pixels = torch.as_tensor(pixels)
    return (pixels.permute(0, 3, 1, 2).float() / 255.0 - 0.5) / 0.5


def preprocess_uint8(image: Image.Image) -> torch.Tensor:
    """PIL image -> (3, 64, 64) uint8 tensor: the part of :func:`preprocess` before scaling."""
    image = image.convert("RGB")
    if image.size != (IMAGE_SIZE, IMAGE_SIZE):
        image = image.resize((IMAGE_SIZE, IMAGE_SIZE), Image.BILINEAR)
    return torch.from_numpy(np.array(image)).permute(2, 0, 1).contiguous()


def preprocess(image: Image.Image) -> torch.Tensor:
    """PIL image -> (3, 64, 64) float tensor in [-1, 1]."""
    return pixels_to_tensor(preprocess_uint8(image).permute(1, 2, 0)[None])[0]


def _split_preprocess():
    """:func:`preprocess` as uint8 part + device normalisation (see ``split_preprocess``)."""
    from indirect.embedding.images import SplitPreprocess

    return SplitPreprocess(preprocess_uint8, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))


preprocess.split = _split_preprocess
