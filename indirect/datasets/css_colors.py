"""The 17 CSS2.1 colour names and the paper's rule that names a synthetic car's HSV colour.

The synthetic-cars renderer stores colours as HSV triples. The paper (``hsv_to_name`` in the
original ``utils.py``) turned them into words with a fixed conversion (a half-turn hue shift and
halved saturation and value, matching how the renderer mixed the colour), ``int(255 * x)`` per
channel (truncation, not rounding), then ``webcolors.rgb_to_name``: the exact CSS3 name when the
RGB triple is one of webcolors' CSS3 values (so a few non-CSS2.1 names such as ``dimgray`` or
``darkslategray`` do occur), else the nearest of the 17 CSS2.1 colours by squared RGB distance.
On equal distances the original kept the LAST name in webcolors' CSS2.1 order (it overwrote a
``{distance: name}`` dict), which is the order of :data:`CSS21_COLORS`. Keeping the rule here lets
the loader, the prompt vocabulary and the tests share one table.
"""
from __future__ import annotations

import colorsys

from indirect.datasets.css3_names import CSS3_HEX_TO_NAMES

# webcolors.CSS21_HEX_TO_NAMES order (1.11-1.13: orange first, then HTML 4's list with green before gray);
# the nearest-name tie-break depends on it.
CSS21_COLORS: dict[str, tuple[int, int, int]] = {
    "orange": (255, 165, 0),
    "aqua": (0, 255, 255),
    "black": (0, 0, 0),
    "blue": (0, 0, 255),
    "fuchsia": (255, 0, 255),
    "green": (0, 128, 0),
    "gray": (128, 128, 128),
    "lime": (0, 255, 0),
    "maroon": (128, 0, 0),
    "navy": (0, 0, 128),
    "olive": (128, 128, 0),
    "purple": (128, 0, 128),
    "red": (255, 0, 0),
    "silver": (192, 192, 192),
    "teal": (0, 128, 128),
    "white": (255, 255, 255),
    "yellow": (255, 255, 0),
}


def nearest_css21(rgb: tuple[int, int, int]) -> str:
    """The nearest CSS2.1 name to ``rgb`` by squared distance; ties go to the last name in
    :data:`CSS21_COLORS` order, as the original's dict overwrite did."""
    best_name, best = None, None
    for name, value in CSS21_COLORS.items():
        distance = sum((a - b) ** 2 for a, b in zip(value, rgb))
        if best is None or distance <= best:
            best_name, best = name, distance
    return best_name


def exact_css3(rgb: tuple[int, int, int]) -> str | None:
    """``webcolors.rgb_to_name(rgb)`` (CSS3): the name of the clipped triple, or None when it has none."""
    clipped = [0 if value < 0 else 255 if value > 255 else value for value in rgb]
    return CSS3_HEX_TO_NAMES.get("#{:02x}{:02x}{:02x}".format(*clipped))


def css_name(rgb: tuple[int, int, int]) -> str:
    """The original's naming of an RGB triple: the exact CSS3 name, else the nearest CSS2.1 name."""
    return exact_css3(rgb) or nearest_css21(rgb)


def synthetic_hsv_to_rgb(hue: float, sat: float, val: float) -> tuple[int, int, int]:
    """The renderer's HSV (each 0..1) as the RGB the paper named: hue + 0.5, half saturation and value,
    ``int(255 * x)`` per channel."""
    red, green, blue = colorsys.hsv_to_rgb((hue + 0.5) % 1, 0.5 * sat, 0.5 * val)
    return tuple(int(255 * channel) for channel in (red, green, blue))


def synthetic_color_name(hue: float, sat: float, val: float) -> str:
    """The word the paper gave one synthetic-cars HSV colour (car or background)."""
    return css_name(synthetic_hsv_to_rgb(hue, sat, val))
