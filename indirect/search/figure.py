"""The retrieval figure DML papers show: a few queries, each with its top-k neighbours in the raw
backbone space and in the projected (notion) space, correct neighbours outlined green, wrong red.

``neighbour_figure`` draws answers already computed (``scripts/search.py``'s ``neighbours.png``);
``retrieval_figure`` picks the queries and computes the leave-one-out neighbours itself, for an
experiment run's embeddings (``analysis=neighbours``, indirect/analysis/neighbours.py).
"""
from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
from PIL import Image

from indirect.embedding.images import open_rgb
from indirect.search.index import exact_neighbours, unit_rows
from indirect.search.results import Hit, QueryResult

AGREE, DISAGREE = "#1a9641", "#d7191c"


THUMB, PAD, LINE, GAP = 96, 6, 13, 18  # thumbnail box, padding, caption line height, gap between the blocks
WHITE, INK, GREY = (255, 255, 255), (20, 20, 20), (235, 235, 235)


def _thumbnail(path: Path | None) -> Image.Image | None:
    if path is None:
        return None
    try:
        image = open_rgb(path)   # as the model saw it: EXIF turn applied, 16-bit scaled, not clipped
        scale = THUMB / max(image.size)
        return image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))))
    except (OSError, ValueError):
        return None


def neighbour_figure(results: list[QueryResult], path, title: str | None = None) -> Path:
    """One row per query: the query (image or text), its raw neighbours, then its notion-space
    neighbours; each neighbour captioned with its id, distance (and label), outlined when labels
    decide. Drawn with PIL, not matplotlib: a grid of 44 thumbnails costs a matplotlib figure
    seconds (44 axes, their layout), PIL tens of milliseconds, which keeps it on by default in runs."""
    from PIL import ImageDraw, ImageFont

    if not results:
        raise ValueError("neighbour_figure needs at least one query result")
    font, bold = ImageFont.load_default(size=11), ImageFont.load_default(size=13)
    k = max(max(len(r.raw), len(r.projected)) for r in results)
    cell = THUMB + 2 * PAD
    caption = 3 * LINE
    row_height = cell + caption + PAD
    starts = {"query": 0, "raw": cell + GAP, "projected": cell + GAP + k * cell + GAP}
    header = (LINE + PAD if title else 0) + LINE + 2 * PAD
    canvas = Image.new("RGB", (starts["projected"] + k * cell, header + len(results) * row_height), WHITE)
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.text((PAD, PAD), title, fill=INK, font=font)
    for name, heading in (("raw", "raw backbone space"), ("projected", "notion space (projected)")):
        draw.text((starts[name] + PAD, header - LINE - PAD), heading, fill=INK, font=bold)
    for row, result in enumerate(results):
        top = header + row * row_height
        if result.path is None:
            draw.rectangle((PAD, top + PAD, PAD + THUMB - 1, top + PAD + THUMB - 1), fill=GREY)
            lines = textwrap.wrap(result.query, 15)[:6]
            draw.multiline_text((PAD + 4, top + PAD + 4), "\n".join(lines), fill=INK, font=font, spacing=2)
            _caption(draw, font, 0, top, ["text query"])
        else:
            _cell(canvas, draw, font, 0, top, _thumbnail(result.path), None,
                  ["query", _short(result.query, 15), result.label])
        for name in ("raw", "projected"):
            for j, hit in enumerate(getattr(result, name)):
                colour = None if (result.label is None or hit.label is None) else (
                    AGREE if hit.label == result.label else DISAGREE)
                _cell(canvas, draw, font, starts[name] + j * cell, top, _thumbnail(hit.path), colour,
                      [_short(hit.id, 15), f"{hit.distance:.3f}", hit.label])
    path = Path(path)
    canvas.save(path, compress_level=1)  # zlib level 1: under half the default's time, 1.1 x the bytes
    return path


def _cell(canvas, draw, font, left: int, top: int, thumb, colour, lines: list) -> None:
    """A thumbnail centred in its box, a 4-pixel outline when ``colour`` is given, the caption below."""
    x, y = left + PAD, top + PAD
    if thumb is None:
        draw.rectangle((x, y, x + THUMB - 1, y + THUMB - 1), fill=GREY)
    else:
        canvas.paste(thumb, (x + (THUMB - thumb.width) // 2, y + (THUMB - thumb.height) // 2))
    if colour is not None:
        draw.rectangle((x - 4, y - 4, x + THUMB + 3, y + THUMB + 3), outline=colour, width=4)
    _caption(draw, font, left, top, lines)


def _caption(draw, font, left: int, top: int, lines: list) -> None:
    for n, line in enumerate(line for line in lines if line is not None):
        draw.text((left + PAD, top + 2 * PAD + THUMB + n * LINE), _short(line, 15), fill=INK, font=font)


def _short(text: str, width: int) -> str:
    text = str(text)
    return text if len(text) <= width else text[:width - 3] + "..."


def retrieval_figure(ids: list[str], paths: list[Path], labels, raw: np.ndarray, projected: np.ndarray, path,
                     n_queries: int = 4, k: int = 5, seed: int = 0, title: str | None = None) -> Path:
    """The figure for an experiment run (see :func:`retrieval_results`), written to ``path``."""
    return neighbour_figure(retrieval_results(ids, paths, labels, raw, projected, n_queries, k, seed), path, title)


def retrieval_results(ids: list[str], paths: list[Path], labels, raw: np.ndarray, projected: np.ndarray,
                      n_queries: int = 4, k: int = 5, seed: int = 0) -> list[QueryResult]:
    """``n_queries`` seeded queries drawn from distinct labels where possible, each with its
    leave-one-out top-``k`` in both spaces (exact cosine)."""
    n = len(ids)
    if n < 2:
        raise ValueError(f"a retrieval figure needs at least 2 images, got {n}")
    labels = [None if v is None else str(v) for v in labels]
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    chosen, seen = [], set()
    for i in order:  # one query per label first, then any
        if labels[i] not in seen:
            chosen.append(int(i))
            seen.add(labels[i])
        if len(chosen) == n_queries:
            break
    chosen += [int(i) for i in order if int(i) not in chosen][:n_queries - len(chosen)]
    k = min(k, n - 1)
    neighbours = {}
    for name, vectors in (("raw", raw), ("projected", projected)):
        data = unit_rows(vectors)
        rows = exact_neighbours(data, data[chosen], k + 1)
        cosines = (data[chosen][:, None, :] * data[rows]).sum(-1)
        neighbours[name] = [[(int(r), 1.0 - float(c)) for r, c in zip(rr, cc) if r != q][:k]
                            for q, rr, cc in zip(chosen, rows, cosines)]
    results = []
    for position, q in enumerate(chosen):
        hits = {name: [Hit(ids[r], d, Path(paths[r]), labels[r]) for r, d in neighbours[name][position]]
                for name in neighbours}
        results.append(QueryResult(ids[q], "id", hits["projected"], hits["raw"], path=Path(paths[q]), label=labels[q]))
    return results
