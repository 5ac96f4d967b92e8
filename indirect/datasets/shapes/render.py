"""Vectorised rendering of the demo world: labels in, pixels and object masks out.

Everything is numpy over a chunk of images at once, so a few thousand 64 px images take a few
seconds on two cores; the evaluation set (written to disk) and the training set of the image
tower (kept in memory) come from the same function with different seeds.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from indirect.datasets.shapes.factors import (BACKGROUND_COLORS, FACTORS, LIGHTINGS, OBJECT_COLORS,
                                   POSITIONS, SIZES)

_CHUNK = 256


@dataclass
class RenderedShapes:
    """``images`` (N, S, S, 3) uint8, ``masks`` (N, S, S) bool object masks, ``labels`` one
    row per image with one column per factor (string values) plus ``rotation`` in degrees."""

    images: np.ndarray
    masks: np.ndarray
    labels: pd.DataFrame


def draw_factors(n_images: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Independent uniform draws of every factor: factor -> (n_images,) int codes."""
    return {name: rng.integers(len(values), size=n_images) for name, values in FACTORS.items()}


def render_shapes(n_images: int, seed: int, image_size: int = 64) -> RenderedShapes:
    """Draw ``n_images`` labelled images from the seeded generator (same seed, same pixels)."""
    rng = np.random.default_rng(seed)
    codes = draw_factors(n_images, rng)
    rotation = rng.uniform(0.0, 360.0, size=n_images)
    images = np.empty((n_images, image_size, image_size, 3), np.uint8)
    masks = np.empty((n_images, image_size, image_size), bool)
    for start in range(0, n_images, _CHUNK):
        part = slice(start, min(start + _CHUNK, n_images))
        chunk_codes = {name: c[part] for name, c in codes.items()}
        images[part], masks[part] = _render_chunk(chunk_codes, rotation[part], image_size, rng)
    labels = pd.DataFrame({name: np.asarray(FACTORS[name], dtype=object)[c] for name, c in codes.items()})
    labels["rotation"] = np.round(rotation).astype(int) % 360
    return RenderedShapes(images, masks, labels)


def _render_chunk(codes, rotation, size, rng):
    n = len(rotation)
    grid = (np.arange(size, dtype=np.float32) + 0.5) / size
    gx, gy = np.meshgrid(grid, grid)  # (S, S), x to the right, y downwards
    background = _background(codes, gx, gy, rng)

    centres = np.array(list(POSITIONS.values()), np.float32)[codes["position"]]
    centres += rng.uniform(-0.05, 0.05, size=centres.shape).astype(np.float32)
    radius = np.array(list(SIZES.values()), np.float32)[codes["size"]]
    radius *= rng.uniform(0.93, 1.07, size=n).astype(np.float32)
    theta = np.deg2rad(rotation).astype(np.float32)[:, None, None]
    dx = (gx[None] - centres[:, 0, None, None]) / radius[:, None, None]
    dy = (gy[None] - centres[:, 1, None, None]) / radius[:, None, None]
    x = np.cos(theta) * dx + np.sin(theta) * dy
    y = -np.sin(theta) * dx + np.cos(theta) * dy
    mask = np.zeros((n, size, size), bool)
    for code, shape in enumerate(FACTORS["shape"]):
        rows = codes["shape"] == code
        if rows.any():
            mask[rows] = _SHAPE_TESTS[shape](x[rows], y[rows])

    colour = np.array(list(OBJECT_COLORS.values()), np.float32)[codes["color"]]
    colour = colour + rng.normal(0.0, 8.0, size=colour.shape).astype(np.float32)
    image = np.where(mask[..., None], colour[:, None, None, :], background)

    ramp = np.array(list(LIGHTINGS.values()), np.float32)[codes["lighting"]]
    light = 1.0 + 0.32 * ramp[:, None, None] * (0.5 - gx[None]) * 2.0
    light = light * rng.uniform(0.92, 1.08, size=(n, 1, 1)).astype(np.float32)
    image = image * light[..., None] + rng.normal(0.0, 4.0, size=image.shape).astype(np.float32)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8), mask


def _background(codes, gx, gy, rng):
    """Background colour modulated by its texture pattern (random phase, scale and angle)."""
    n = len(codes["texture"])
    size = gx.shape[0]
    pattern = np.zeros((n, size, size), np.float32)
    angle = rng.uniform(0.0, np.pi, size=(n, 1, 1)).astype(np.float32)
    period = rng.uniform(0.10, 0.17, size=(n, 1, 1)).astype(np.float32)
    phase = rng.uniform(0.0, 1.0, size=(n, 2, 1, 1)).astype(np.float32)
    u = (np.cos(angle) * gx + np.sin(angle) * gy) / period + phase[:, 0]
    v = (-np.sin(angle) * gx + np.cos(angle) * gy) / period + phase[:, 1]
    names = FACTORS["texture"]
    rows = codes["texture"] == names.index("striped")
    pattern[rows] = np.where((u[rows] % 1.0) < 0.5, 1.0, -1.0)
    rows = codes["texture"] == names.index("checkered")
    pattern[rows] = np.where(((np.floor(u[rows]) + np.floor(v[rows])) % 2) == 0, 1.0, -1.0)
    rows = codes["texture"] == names.index("dotted")
    fu, fv = (u[rows] % 1.0) - 0.5, (v[rows] % 1.0) - 0.5
    pattern[rows] = np.where(fu * fu + fv * fv < 0.07, 1.0, -0.15)
    rows = codes["texture"] == names.index("noisy")
    pattern[rows] = rng.uniform(-1.0, 1.0, size=(int(rows.sum()), size, size)).astype(np.float32)

    base = np.array(list(BACKGROUND_COLORS.values()), np.float32)[codes["background"]]
    base = base + rng.normal(0.0, 10.0, size=base.shape).astype(np.float32)
    return base[:, None, None, :] + 30.0 * pattern[..., None]


def _polygon(sides: int, circumradius: float):
    half = np.pi / sides

    def inside(x, y):
        rho = np.hypot(x, y)
        local = np.mod(np.arctan2(y, x), 2 * half) - half
        return rho * np.cos(local) <= circumradius * np.cos(half)

    return inside


def _star(x, y, points: int = 5, inner: float = 0.45):
    rho = np.hypot(x, y)
    sector = 2 * np.pi / points
    phi = np.mod(np.arctan2(y, x), sector)
    phi = np.minimum(phi, sector - phi)
    px, py = rho * np.cos(phi), rho * np.sin(phi)
    bx, by = inner * np.cos(sector / 2), inner * np.sin(sector / 2)
    # Inside when the point lies on the origin's side of the edge from the tip (1, 0) to b.
    return (bx - 1.0) * py - by * (px - 1.0) >= 0.0


def _cross(x, y, arm: float = 0.95, half_width: float = 0.3):
    ax, ay = np.abs(x), np.abs(y)
    return ((ax <= half_width) & (ay <= arm)) | ((ay <= half_width) & (ax <= arm))


_SHAPE_TESTS = {
    "circle": lambda x, y: np.hypot(x, y) <= 0.85,
    "square": lambda x, y: np.maximum(np.abs(x), np.abs(y)) <= 0.72,
    "triangle": _polygon(3, 1.05),
    "star": _star,
    "cross": _cross,
    "hexagon": _polygon(6, 0.92),
    "ring": lambda x, y: (np.hypot(x, y) <= 0.92) & (np.hypot(x, y) >= 0.55),
}
