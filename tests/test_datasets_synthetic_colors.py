"""Synthetic-cars colour names agree with the paper's ``hsv_to_name`` (original utils.py) on every sample."""
import colorsys
import itertools
import random
import types

import pytest

from indirect.datasets.css3_names import CSS3_HEX_TO_NAMES
from indirect.datasets.css_colors import CSS21_COLORS, synthetic_color_name


def _reversedict(d):
    return {value: key for key, value in d.items()}


def _stand_in_webcolors():
    """The parts of webcolors 1.x that hsv_to_name uses, written out from its sources (the real
    package when a 1.x one is installed). Only the CSS3 reverse table is the project's; it is pinned
    separately below."""
    try:
        import webcolors
        if hasattr(webcolors, "CSS21_HEX_TO_NAMES"):
            return webcolors
    except ImportError:
        pass
    html4 = {"aqua": "#00ffff", "black": "#000000", "blue": "#0000ff", "fuchsia": "#ff00ff", "green": "#008000",
             "gray": "#808080", "lime": "#00ff00", "maroon": "#800000", "navy": "#000080", "olive": "#808000",
             "purple": "#800080", "red": "#ff0000", "silver": "#c0c0c0", "teal": "#008080", "white": "#ffffff",
             "yellow": "#ffff00"}
    css21_hex_to_names = _reversedict({"orange": "#ffa500", **html4})

    def hex_to_rgb(value):
        return int(value[1:3], 16), int(value[3:5], 16), int(value[5:7], 16)

    def rgb_to_name(rgb):
        clipped = [0 if v < 0 else 255 if v > 255 else v for v in rgb]
        name = CSS3_HEX_TO_NAMES.get("#{:02x}{:02x}{:02x}".format(*clipped))
        if name is None:
            raise ValueError(f"{rgb} has no defined color name in css3")
        return name

    return types.SimpleNamespace(CSS21_HEX_TO_NAMES=css21_hex_to_names, hex_to_rgb=hex_to_rgb, rgb_to_name=rgb_to_name)


webcolors = _stand_in_webcolors()


# verbatim from the original utils.py
def hsv_to_name(row, hue_column="color_hue", sat_column="color_sat", val_column="color_val"):
    # colorsys expects colors in the range [0, 1]
    rgb = colorsys.hsv_to_rgb((row[hue_column] + 0.5) % 1, 0.5*row[sat_column], 0.5*row[val_column])
    rgb = [int(255*x) for x in rgb]

    try:
        color_name = webcolors.rgb_to_name(rgb)
    except ValueError:
        min_colors = {}
        for key, name in webcolors.CSS21_HEX_TO_NAMES.items():
            r_c, g_c, b_c = webcolors.hex_to_rgb(key)
            rd = (r_c - rgb[0]) ** 2
            gd = (g_c - rgb[1]) ** 2
            bd = (b_c - rgb[2]) ** 2
            min_colors[(rd + gd + bd)] = name
        color_name = min_colors[min(min_colors.keys())]

    return color_name


def _original(hue, sat, val):
    return hsv_to_name({"color_hue": hue, "color_sat": sat, "color_val": val})


def _samples():
    rng = random.Random(0)
    uniform = [(rng.random(), rng.random(), rng.random()) for _ in range(20000)]
    grid = list(itertools.product([i / 20 for i in range(21)], repeat=3))  # many equidistant (tied) colours
    grays = [(0.0, 0.0, i / 1000) for i in range(1001)]  # every gray level, dimgray included
    beyond = [(rng.random(), 2 * rng.random(), 2 * rng.random()) for _ in range(5000)]  # values above 1, as fixtures use
    return uniform + grid + grays + beyond


def test_names_equal_the_original_hsv_to_name_on_every_sample():
    samples = _samples()
    differing = [(hsv, _original(*hsv), synthetic_color_name(*hsv)) for hsv in samples
                 if _original(*hsv) != synthetic_color_name(*hsv)]
    assert differing == []
    names = {synthetic_color_name(*hsv) for hsv in samples}
    assert "dimgray" in names  # exact CSS3 names outside CSS2.1 occur, as in the paper
    assert set(CSS21_COLORS) - {"orange", "white", "yellow", "silver", "aqua", "fuchsia", "lime"} <= names


def test_the_samples_hold_ties_which_go_to_the_last_css21_name():
    ties = 0
    for hsv in _samples()[:30000]:
        rgb = [int(255 * x) for x in colorsys.hsv_to_rgb((hsv[0] + 0.5) % 1, 0.5 * hsv[1], 0.5 * hsv[2])]
        distances = [sum((a - b) ** 2 for a, b in zip(value, rgb)) for value in CSS21_COLORS.values()]
        ties += distances.count(min(distances)) > 1
    assert ties > 100


@pytest.mark.parametrize("hsv, name", [
    ((0.0, 0.0, 0.5028), "teal"),       # (64, 64, 64): black, green, gray, maroon, navy... teal all at 12288: the last
    ((0.913, 0.97, 0.97), "teal"),      # int() gives (63, 123, 92) (teal); round() would give (64, 124, 92) (gray)
    ((0.0, 0.0, 0.825), "dimgray"),     # (105, 105, 105) is CSS3's dimgray: named exactly, not the nearest gray
    ((0.0, 0.0, 0.5), "black"),         # (63, 63, 63): black, not a tie
    ((0.0, 2.0, 2.0), "cyan"),          # (0, 255, 255): webcolors' CSS3 name of aqua
])
def test_known_cases(hsv, name):
    assert synthetic_color_name(*hsv) == name == _original(*hsv)


def test_css3_table_is_webcolors_reverse_table():
    assert len(CSS3_HEX_TO_NAMES) == 138
    assert {CSS3_HEX_TO_NAMES[h] for h in ("#00ffff", "#ff00ff", "#808080", "#696969", "#2f4f4f", "#a9a9a9")} == \
        {"cyan", "magenta", "gray", "dimgray", "darkslategray", "darkgray"}
    assert all(CSS3_HEX_TO_NAMES["#{:02x}{:02x}{:02x}".format(*rgb)] == name for name, rgb in CSS21_COLORS.items()
               if name not in ("aqua", "fuchsia"))
    assert list(CSS21_COLORS)[:2] == ["orange", "aqua"] and list(CSS21_COLORS).index("green") < list(CSS21_COLORS).index("gray")
