"""Captions that describe demo images in varied wordings, for training the image tower.

A caption mentions a random subset of the factors (the shape always, as a noun or as a generic
"shape"/"object"), in shuffled clause order and with a few phrasings per clause, so the image
tower learns every factor and not one sentence pattern. Each caption carries the factors it
mentions: an image is a correct match for a caption whenever it agrees on those factors, which
gives the soft targets of the contrastive loss.

The words here are the only ones the image tower ever sees; the prompt vocabularies
(indirect/prompts/vocab/shapes_*.txt) add words that never occur in training (e.g. "crimson").
"""
from __future__ import annotations

import numpy as np

from indirect.datasets.shapes.factors import FACTORS

_COLOUR_WORDS = {value: [value] for value in FACTORS["color"]}
_COLOUR_WORDS["gray"] = ["gray", "grey"]
_BACKGROUND_WORDS = {value: [value] for value in FACTORS["background"]}
_BACKGROUND_WORDS["gray"] = ["gray", "grey"]
_SIZE_WORDS = {"small": ["small", "little"], "medium": ["medium-sized", "medium"], "large": ["large", "big"]}
_TEXTURE_WORDS = {"plain": ["plain"], "striped": ["striped"], "dotted": ["dotted"],
                  "checkered": ["checkered"], "noisy": ["noisy"]}
_POSITION_PHRASES = {
    "center": ["in the center", "in the middle of the picture"],
    "top left": ["in the top left corner", "at the upper left"],
    "top right": ["in the top right corner", "at the upper right"],
    "bottom left": ["in the bottom left corner", "at the lower left"],
    "bottom right": ["in the bottom right corner", "at the lower right"],
}
_LIGHTING_PHRASES = {
    "left": ["lit from the left", "with light coming from the left"],
    "right": ["lit from the right", "with light coming from the right"],
    "even": ["evenly lit", "under even light"],
}
# Background is named less often: it dominates the pixels, and naming it as often as the rest
# lets it dominate the raw embedding too (then no space can improve on raw background retrieval).
_MENTION_PROB = {"background": 0.45}
_PREFIXES = ["", "", "a picture of ", "an image of ", "a drawing of ", "a rendering of "]


def write_caption(labels: dict[str, str], rng: np.random.Generator, mention_prob: float = 0.7) -> tuple[str, list[str]]:
    """One caption for an image with ``labels`` (factor -> value), and the factors it names."""
    mentioned = {f for f in FACTORS if f != "shape" and rng.random() < _MENTION_PROB.get(f, mention_prob)}
    if rng.random() < 0.85:
        mentioned.add("shape")
    pick = lambda options: options[rng.integers(len(options))]  # noqa: E731

    adjectives = []
    if "size" in mentioned:
        adjectives.append(pick(_SIZE_WORDS[labels["size"]]))
    if "color" in mentioned:
        adjectives.append(pick(_COLOUR_WORDS[labels["color"]]))
    noun = labels["shape"] if "shape" in mentioned else pick(["shape", "object"])
    subject = " ".join(adjectives + [noun])
    subject = ("an " if subject[0] in "aeiou" else "a ") + subject

    clauses = []
    if "background" in mentioned or "texture" in mentioned:
        words = []
        if "texture" in mentioned:
            words.append(pick(_TEXTURE_WORDS[labels["texture"]]))
        if "background" in mentioned:
            words.append(pick(_BACKGROUND_WORDS[labels["background"]]))
        clauses.append(pick(["on a {} background", "against a {} backdrop"]).format(" ".join(words)))
    if "position" in mentioned:
        clauses.append(pick(_POSITION_PHRASES[labels["position"]]))
    if "lighting" in mentioned:
        clauses.append(pick(_LIGHTING_PHRASES[labels["lighting"]]))
    order = rng.permutation(len(clauses))
    text = pick(_PREFIXES) + subject + "".join(
        (" " if i == 0 else pick([" ", ", "])) + clauses[j] for i, j in enumerate(order))
    return text, sorted(mentioned)


def write_captions(labels, per_image: int, seed: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    """``per_image`` captions for every row of ``labels`` (a DataFrame of factor columns).

    Returns the texts (image-major order), the image index of each caption, and a
    (n_captions, n_factors) bool array of the factors each caption names (in FACTORS order).
    """
    rng = np.random.default_rng(seed)
    factor_names = list(FACTORS)
    texts, owners, mentions = [], [], []
    for row, record in enumerate(labels[factor_names].to_dict("records")):
        for _ in range(per_image):
            text, named = write_caption(record, rng)
            texts.append(text)
            owners.append(row)
            mentions.append([f in named for f in factor_names])
    return texts, np.asarray(owners), np.asarray(mentions, bool)
