"""Answers to a list of queries in both spaces, in the shape the gallery, the figure and
``neighbours.json`` share."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Hit:
    id: str
    distance: float
    path: Path | None = None
    label: str | None = None


@dataclass
class QueryResult:
    """One query: how it reads (``query`` as given, ``kind``), its image and label when it is an
    image, and its neighbours in the projected (notion) and the raw backbone space."""

    query: str
    kind: str
    projected: list[Hit]
    raw: list[Hit]
    path: Path | None = None
    label: str | None = None
    extra: dict = field(default_factory=dict)

    def agreement(self, space: str) -> float | None:
        """Share of ``space``'s neighbours with the query's label (None when nothing to compare)."""
        hits = [h for h in getattr(self, space) if h.label is not None]
        if self.label is None or not hits:
            return None
        return sum(h.label == self.label for h in hits) / len(hits)


def answer(space, queries: list, k: int, label_column: str | None = None) -> list[QueryResult]:
    """Each query's ``k`` neighbours in the notion space and in the raw space. Every query is
    read (and checked) before any is answered, so a bad one fails before the slow work."""
    described = [space.describe(q) for q in queries]
    results = []
    for query, how in zip(queries, described):
        hits = {}
        for name in ("projected", "raw"):
            ids, distances = space.search(query, k, space=name)
            hits[name] = [Hit(i, float(d), space.path_of(i), space.label_of(i, label_column) if label_column else None)
                          for i, d in zip(ids, distances)]
        image_id = how.get("id")
        label = space.label_of(image_id, label_column) if (image_id and label_column) else None
        results.append(QueryResult(str(query), how["kind"], hits["projected"], hits["raw"],
                                   path=Path(how["path"]) if how.get("path") else None, label=label))
    return results


def write_neighbours_json(results: list[QueryResult], path: Path, label_column: str | None = None) -> Path:
    """``{"queries": [{"query", "kind", "projected": [{"id", "distance"}], "raw": [...]}]}``; with
    labels, each query's label and the share of each space's neighbours that agree with it."""
    rows = []
    for result in results:
        row = {"query": result.query, "kind": result.kind,
               "projected": [{"id": h.id, "distance": round(h.distance, 6)} for h in result.projected],
               "raw": [{"id": h.id, "distance": round(h.distance, 6)} for h in result.raw]}
        if label_column and result.label is not None:
            row["label"] = result.label
            row["agreement"] = {name: result.agreement(name) for name in ("projected", "raw")}
        rows.append(row)
    payload = {"queries": rows}
    if label_column:
        payload["label_column"] = label_column
    path.write_text(json.dumps(payload, indent=1))
    return path
