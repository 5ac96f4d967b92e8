"""The 17 CSS2.1 colour names and the rule that names a synthetic car's HSV colour with one.

The synthetic-cars renderer stores colours as HSV triples. The paper turned them into words
with a fixed conversion (a half-turn hue shift and halved saturation and value, matching how the
renderer mixed the colour) followed by a CSS2.1 look-up: the exact name when the RGB triple is
one of the 17, else the nearest by squared RGB distance. Keeping the rule here lets the loader,
the prompt vocabulary and the tests share one table.
"""
from __future__ import annotations

import colorsys

CSS21_COLORS: dict[str, tuple[int, int, int]] = {
    "aqua": (0, 255, 255),
    "black": (0, 0, 0),
    "blue": (0, 0, 255),
    "fuchsia": (255, 0, 255),
    "gray": (128, 128, 128),
    "green": (0, 128, 0),
    "lime": (0, 255, 0),
    "maroon": (128, 0, 0),
    "navy": (0, 0, 128),
    "olive": (128, 128, 0),
    "orange": (255, 165, 0),
    "purple": (128, 0, 128),
    "red": (255, 0, 0),
    "silver": (192, 192, 192),
    "teal": (0, 128, 128),
    "white": (255, 255, 255),
    "yellow": (255, 255, 0),
}


def nearest_css21(rgb: tuple[int, int, int]) -> str:
    """The CSS2.1 name of ``rgb`` (0..255 ints): exact match first, else the nearest by squared distance.

    Ties go to the alphabetically first name, so the result never depends on dict order.
    """
    for name, value in CSS21_COLORS.items():
        if tuple(rgb) == value:
            return name
    return min(sorted(CSS21_COLORS), key=lambda name: sum((a - b) ** 2 for a, b in zip(rgb, CSS21_COLORS[name])))


def synthetic_hsv_to_rgb(hue: float, sat: float, val: float) -> tuple[int, int, int]:
    """The renderer's HSV (each 0..1) as the RGB the paper named: hue + 0.5, half saturation and value."""
    red, green, blue = colorsys.hsv_to_rgb((hue + 0.5) % 1, 0.5 * sat, 0.5 * val)
    return tuple(int(round(channel * 255)) for channel in (red, green, blue))


def synthetic_color_name(hue: float, sat: float, val: float) -> str:
    """The CSS2.1 word for one synthetic-cars HSV colour (car or background)."""
    return nearest_css21(synthetic_hsv_to_rgb(hue, sat, val))
