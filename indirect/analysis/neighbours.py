"""The retrieval figure of an experiment run: a few queries, each with its top-k neighbours in the
raw backbone space and in the run's projected space, neighbours that share the query's label
outlined green, the others red (the figure DML papers show). Cheap enough to be on by default:
it projects the run's embeddings once and searches exactly for a handful of queries.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from indirect.analysis import AnalysisOutput, at_least, check_options
from indirect.errors import AnalysisError
from indirect.search.figure import retrieval_figure


class Neighbours:
    """Write neighbours.png for the fitted ``method`` (None: the run's projector, the first fitted)."""

    RULES = {"n_queries": at_least(1), "k": at_least(1)}

    def __init__(self, method: str | None = None, n_queries: int = 4, k: int = 5, seed: int = 0):
        self.method = str(method) if method else None
        self.n_queries, self.k = check_options("neighbours", self.RULES, n_queries=n_queries, k=k).values()
        self.seed = int(seed)

    def __call__(self, objects) -> AnalysisOutput:
        method = self.method or next(iter(objects.projectors))
        if method not in objects.projectors:
            raise AnalysisError(f"analysis.neighbours.method={method} was not run; "
                                f"choose one of: {', '.join(objects.projectors)}")
        if len(objects.ids) < 2:
            raise AnalysisError(f"analysis.neighbours: {len(objects.ids)} evaluated image(s); a retrieval figure needs 2")
        path_of = dict(zip(objects.labelled.ids, objects.labelled.paths))
        raw = objects.image_embeddings
        projected = np.asarray(objects.projectors[method].transform(raw))
        out_dir = Path(objects.output_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        title = (f"{objects.cfg.dataset.name} / {objects.notion.name}: top-{self.k} of {len(objects.ids)} images, "
                 f"raw backbone vs {method} (k={projected.shape[1]}); green = same {objects.notion.column}")
        png = retrieval_figure(objects.ids, [path_of[i] for i in objects.ids], objects.labels, raw, projected,
                               out_dir / "neighbours.png", n_queries=self.n_queries, k=self.k, seed=self.seed,
                               title=title)
        return AnalysisOutput(files={"neighbours": png}, images={"neighbours": png},
                              summary={"neighbours_method": method})
