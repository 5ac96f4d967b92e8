"""2-D maps of the raw and the projected image embeddings, coloured by the notion's labels.

The paper drew its maps with TriMap; we use UMAP (umap-learn): it is maintained, already a
dependency, preserves local neighbourhoods (what retrieval sees) while keeping clusters apart,
and is fast on CPU. The maps are for looking, not measuring, so the choice changes the picture's
layout, not a reported number. UMAP is kept quick on small sets (``n_epochs``, ``low_memory``,
exact neighbours from scikit-learn, ``n_neighbors`` capped below the number of points) and runs
on a seeded subsample of at most ``max_points`` images on large ones.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

from indirect.analysis import AnalysisOutput, at_least, check_options
from indirect.errors import AnalysisError
from indirect.analysis.figures import embedding_maps

MIN_POINTS = 5


def umap_2d(embeddings: np.ndarray, n_neighbors: int = 15, min_dist: float = 0.1, n_epochs: int = 200,
            seed: int = 0) -> np.ndarray:
    """(n, d) embeddings -> (n, 2) UMAP coordinates (cosine metric, seeded).

    The neighbours are computed exactly by scikit-learn and handed to UMAP: at up to
    ``max_points`` images that is cheap, and it skips UMAP's own neighbour search, whose numba
    compilation costs more than the whole map on a small set."""
    import umap
    from sklearn.neighbors import NearestNeighbors

    embeddings = np.asarray(embeddings, dtype=np.float32)
    n = len(embeddings)
    if n < MIN_POINTS:
        raise AnalysisError(f"analysis.map: {n} image(s); a 2-D map needs at least {MIN_POINTS}")
    k = max(2, min(n_neighbors, n - 1))
    distances, indices = NearestNeighbors(n_neighbors=k, metric="cosine").fit(embeddings).kneighbors(embeddings)
    reducer = umap.UMAP(n_components=2, n_neighbors=k, min_dist=min_dist, n_epochs=n_epochs, metric="cosine",
                        low_memory=True, random_state=seed, init="spectral" if n > 30 else "random",
                        precomputed_knn=(indices, distances.astype(np.float32), None))
    with warnings.catch_warnings():  # a fixed random_state disables parallelism: expected, not news
        warnings.filterwarnings("ignore", message=".*(n_jobs|precomputed_knn).*", category=UserWarning)
        return reducer.fit_transform(embeddings)


class EmbeddingMap:
    """Write embedding_map.png (raw | projected) and embedding_map.json for the fitted ``method``."""

    RULES = {"max_points": at_least(MIN_POINTS), "n_neighbors": at_least(2), "min_dist": at_least(0, float),
             "n_epochs": at_least(1)}   # a 2-D map needs MIN_POINTS points

    def __init__(self, method: str = "indirect", max_points: int = 5000, n_neighbors: int = 15, min_dist: float = 0.1,
                 n_epochs: int = 200, seed: int = 0):
        self.method, self.seed = str(method), int(seed)
        self.umap_options = check_options("map", self.RULES, max_points=max_points, n_neighbors=n_neighbors,
                                          min_dist=min_dist, n_epochs=n_epochs)
        self.max_points = self.umap_options.pop("max_points")
        self.umap_options["seed"] = self.seed

    def __call__(self, objects) -> AnalysisOutput:
        if self.method not in objects.projectors:
            raise AnalysisError(f"analysis.map.method={self.method} was not run; "
                                f"choose one of: {', '.join(objects.projectors)}")
        n = len(objects.ids)
        keep = np.arange(n)
        if n > self.max_points:
            keep = np.sort(np.random.default_rng(self.seed).choice(n, size=self.max_points, replace=False))
        raw = objects.image_embeddings[keep]
        projected = np.asarray(objects.projectors[self.method].transform(raw))
        panels = {"raw backbone": umap_2d(raw, **self.umap_options),
                  f"{self.method} (k={projected.shape[1]})": umap_2d(projected, **self.umap_options)}
        labels = np.asarray(objects.labels)[keep]
        out_dir = Path(objects.output_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        title = f"{objects.cfg.dataset.name} / {objects.notion.name}: UMAP of {len(keep)} images"
        png = embedding_maps(panels, labels, title, out_dir / "embedding_map.png")
        info = {"n_points": int(len(keep)), "n_images": int(n), "method": self.method, "reducer": "umap",
                **self.umap_options, "n_labels": int(len(np.unique(labels)))}
        info_path = out_dir / "embedding_map.json"
        info_path.write_text(json.dumps(info, indent=2))
        return AnalysisOutput(files={"embedding_map": Path(png), "embedding_map_info": info_path},
                              images={"embedding_map": Path(png)}, summary={"embedding_map_points": int(len(keep))})
