"""The factors of the demo world and the values each one takes.

One table shared by the renderer (pixels), the caption writer (words) and the prompt
vocabularies, so that a value can never be drawn under one name and described under another.
Seven factors, all described in the training captions: with only four, every evaluation image
had near-twins and the raw embedding already retrieved colour and background perfectly, which
left InDiReCT nothing to show (README, "The offline demo world").
"""
from __future__ import annotations

SHAPES = ("circle", "square", "triangle", "star", "cross", "hexagon", "ring")

OBJECT_COLORS = {
    "red": (215, 35, 35),
    "orange": (245, 135, 25),
    "yellow": (240, 215, 35),
    "green": (45, 165, 55),
    "cyan": (40, 205, 225),
    "blue": (35, 70, 225),
    "purple": (135, 55, 185),
    "pink": (250, 135, 195),
}

# Disjoint from the object colours so an object never vanishes into its background. Eight of
# them, not six: background dominates the pixels, and with few background colours the raw
# embedding already retrieves it almost perfectly (no headroom for a notion-specific space).
BACKGROUND_COLORS = {
    "white": (232, 232, 232),
    "black": (22, 22, 22),
    "gray": (125, 125, 125),
    "brown": (115, 70, 35),
    "olive": (105, 115, 35),
    "navy": (20, 30, 95),
    "maroon": (100, 20, 35),
    "teal": (20, 105, 105),
}

# Circumradius as a fraction of the image side.
SIZES = {"small": 0.11, "medium": 0.17, "large": 0.24}

TEXTURES = ("plain", "striped", "dotted", "checkered", "noisy")

# Object centre as (x, y) fractions of the image side; a few pixels of jitter are added.
POSITIONS = {
    "center": (0.5, 0.5),
    "top left": (0.3, 0.3),
    "top right": (0.7, 0.3),
    "bottom left": (0.3, 0.7),
    "bottom right": (0.7, 0.7),
}

# Horizontal brightness ramp: +1 brighter on the left, -1 on the right, 0 flat.
LIGHTINGS = {"left": 1.0, "right": -1.0, "even": 0.0}

FACTORS = {
    "shape": list(SHAPES),
    "color": list(OBJECT_COLORS),
    "background": list(BACKGROUND_COLORS),
    "size": list(SIZES),
    "texture": list(TEXTURES),
    "position": list(POSITIONS),
    "lighting": list(LIGHTINGS),
}
"""Factor name -> its values, in code order (the label columns of the demo dataset)."""
