"""The retrieval figure DML papers show: a few queries, each with its top-k neighbours in the raw
backbone space and in the projected (notion) space, correct neighbours outlined green, wrong red.

``neighbour_figure`` draws answers already computed (``scripts/search.py``'s ``neighbours.png``);
``retrieval_figure`` picks the queries and computes the leave-one-out neighbours itself, for an
experiment run's embeddings (to be wired as ``analysis=neighbours``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from indirect.search.index import exact_neighbours, unit_rows
from indirect.search.results import Hit, QueryResult

AGREE, DISAGREE = "#1a9641", "#d7191c"


def _pixels(path: Path | None):
    if path is None:
        return None
    try:
        with Image.open(path) as image:
            image = image.convert("RGB")
            image.thumbnail((96, 96))
            return np.asarray(image)
    except (OSError, ValueError):
        return None


def neighbour_figure(results: list[QueryResult], path, title: str | None = None) -> Path:
    """One row per query: the query (image or text), its raw neighbours, then its notion-space
    neighbours; each neighbour titled with its id (and label), outlined when labels decide."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not results:
        raise ValueError("neighbour_figure needs at least one query result")
    k = max(max(len(r.raw), len(r.projected)) for r in results)
    columns = 1 + 2 * k
    fig, axes = plt.subplots(len(results), columns, figsize=(1.25 * columns, 1.75 * len(results) + 0.5),
                             squeeze=False)
    for row, result in enumerate(results):
        caption = "text query" if result.path is None else f"query\n{_short(result.query, 14)}"
        _draw(axes[row][0], _pixels(result.path), caption, None,
              text=result.query if result.path is None else None, label=result.label)
        for space, offset in (("raw", 1), ("projected", 1 + k)):
            hits = getattr(result, space)
            for j in range(k):
                axis = axes[row][offset + j]
                if j >= len(hits):
                    axis.axis("off")
                    continue
                hit = hits[j]
                colour = None if (result.label is None or hit.label is None) else (
                    AGREE if hit.label == result.label else DISAGREE)
                _draw(axis, _pixels(hit.path), f"{_short(hit.id, 14)}\n{hit.distance:.3f}", colour, label=hit.label)
    top = 1 - 0.45 / fig.get_figheight()
    fig.tight_layout(rect=(0, 0, 1, top))
    for first, heading in ((1, "raw backbone space"), (1 + k, "notion space (projected)")):
        fig.text(axes[0][first].get_position().x0, top + 0.1 / fig.get_figheight(), heading, fontsize=10, weight="bold")
    if title:
        fig.text(0.01, top + 0.25 / fig.get_figheight(), title, fontsize=9)
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _short(text: str, width: int) -> str:
    text = str(text)
    return text if len(text) <= width else text[:width - 1] + "…"


def _draw(axis, pixels, caption: str, colour, text: str | None = None, label: str | None = None) -> None:
    if pixels is not None:
        axis.imshow(pixels)
    elif text is not None:
        axis.text(0.5, 0.5, _short(text, 40), ha="center", va="center", wrap=True, fontsize=8)
    axis.set_xticks([])
    axis.set_yticks([])
    for spine in axis.spines.values():
        spine.set_visible(colour is not None)
        if colour is not None:
            spine.set_color(colour)
            spine.set_linewidth(4)
    axis.set_title(caption + (f"\n{_short(label, 14)}" if label is not None else ""), fontsize=7)


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
