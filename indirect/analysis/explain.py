"""The saliency analysis of one run: which pixels the raw and the projected embeddings depend on.

Columns of the figure: the input, the raw backbone embedding, the run's projector fitted on the
run's notion and, when ``second_notion`` is given, the same kind of projector fitted on that
notion's prompts, so two notions of the same images can be compared side by side (the paper:
colour -> the object, background colour -> the background). On datasets that ship object masks
(the demo world) the share of saliency mass inside the object is measured for every column.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from indirect.analysis import AnalysisOutput, at_least, check_options
from indirect.analysis.figures import denormalise, saliency_grid
from indirect.analysis.projection import differentiable_projection
from indirect.analysis.smoothgrad import (black_image, check_channels, mass_inside, normalise_saliency, smoothgrad,
                                          unit_embedder)
from indirect.embedding.images import open_rgb
from indirect.errors import AnalysisError

log = logging.getLogger(__name__)


def second_notion_projector(objects, notion: str, method: str, seed: int):
    """A fresh projector of the kind and parameters of the run's ``method`` (its base, for an
    'ignore' method), fitted on the prompts of another notion of the same dataset."""
    from indirect.embedding import embed_texts
    from indirect.notions import lookup_notion
    from indirect.projectors import Ignore

    other = lookup_notion(objects.cfg.dataset, notion, labelled=objects.labelled)
    text = embed_texts(objects.backbone, other.prompts(objects.labelled), objects.cfg.paths.cache_dir)
    fitted = objects.projectors[method]
    kind = fitted.base if isinstance(fitted, Ignore) else fitted
    if kind.fit_on != "text":
        raise AnalysisError(f"saliency: method '{method}' is not fitted on prompts; second_notion needs a text-fitted method")
    params = kind.get_params()
    if "random_state" in params:
        params["random_state"] = seed
    return type(kind)(**params).fit(text)


def object_masks(labelled, ids: list[str], shape: tuple[int, int]) -> list[np.ndarray]:
    """The dataset's object masks for ``ids`` at the saliency maps' resolution."""
    masks = []
    for image_id in ids:
        mask = labelled.object_mask(image_id)
        if mask.shape != shape:
            mask = np.asarray(Image.fromarray(mask).resize(shape[::-1], Image.NEAREST))
        masks.append(mask.astype(bool))
    return masks


def row_titles(objects, ids: list[str], second: str | None) -> list[str]:
    """Each row's label of the run's notion, and of the second notion when there is one."""
    from indirect.notions import lookup_notion

    labels = dict(zip(objects.ids, objects.labels))
    if not second:
        return [str(labels[i]) for i in ids]
    other = lookup_notion(objects.cfg.dataset, second, labelled=objects.labelled).labels(objects.labelled)
    return [f"{labels[i]} / {other.get(i, '?')}" for i in ids]


def object_statistics(maps: dict[str, list[np.ndarray]], masks: list[np.ndarray]) -> dict:
    """How much of each column's saliency falls on the object, over the measured images.

    ``object_share``: mean share of saliency mass inside the mask; ``object_density``: that share
    divided by the object's area (1 = no preference, > 1 = on the object, < 1 = on the background);
    ``per_image``: the shares image by image; ``more_on_object``: for every pair of columns (a, b),
    on how many images a puts a larger share on the object than b (a paired comparison: the same
    images and the same SmoothGrad noise in every column).
    """
    areas = np.array([m.mean() for m in masks])
    per_image = {t: np.array([mass_inside(s, m) for s, m in zip(m_list, masks)]) for t, m_list in maps.items()}
    titles = list(per_image)
    return {
        "n_images": len(masks),
        "object_area": float(areas.mean()),
        "object_share": {t: float(v.mean()) for t, v in per_image.items()},
        "object_density": {t: float(np.mean(v / areas)) for t, v in per_image.items()},
        "more_on_object": {f"{a} > {b}": int((per_image[a] > per_image[b]).sum())
                           for a in titles for b in titles if a != b},
        "per_image": {t: [round(float(x), 5) for x in v] for t, v in per_image.items()},
    }


class Saliency:
    """Write saliency.png (and saliency_stats.json) for the fitted ``method``; the object shares
    (on datasets with object masks) are its summary values."""

    RULES = {"n_images": at_least(1), "n_stat_images": at_least(0, allow_none=True), "n_samples": at_least(1),
             "noise": at_least(0, float), "channels": lambda key, value: check_channels(str(value))}

    def __init__(self, method: str = "indirect", n_images: int = 6, n_stat_images: int | None = None,
                 n_samples: int = 25, noise: float = 0.15, second_notion: str | None = None, seed: int = 0,
                 channels: str = "abs_mean"):
        self.n_images, n_stat_images, self.n_samples, self.noise, self.channels = check_options(
            "saliency", self.RULES, n_images=n_images, n_stat_images=n_stat_images, n_samples=n_samples, noise=noise,
            channels=channels).values()
        self.method, self.n_stat_images, self.seed = str(method), n_stat_images or 0, int(seed)
        self.second_notion = str(second_notion) if second_notion else None

    def __call__(self, objects) -> AnalysisOutput:
        method, second, backbone = self.method, self.second_notion, objects.backbone
        if method not in objects.projectors:
            raise AnalysisError(f"analysis.saliency.method={method} was not run; choose one of: {', '.join(objects.projectors)}")
        has_masks = objects.labelled.object_mask is not None
        n_images = self.n_images
        n_stat = max(n_images, self.n_stat_images) if has_masks else n_images
        notion = objects.notion.name
        embedders = {"raw backbone": unit_embedder(backbone),
                     f"{method}: {notion}": unit_embedder(backbone, differentiable_projection(objects.projectors[method], method))}
        if second:
            second_projector = second_notion_projector(objects, second, method, self.seed)
            embedders[f"{method}: {second}"] = unit_embedder(backbone, differentiable_projection(second_projector, method))

        rng = np.random.default_rng(self.seed)  # the first n_images are drawn in the grid, all n_stat measured
        chosen = sorted(rng.choice(len(objects.ids), size=min(n_stat, len(objects.ids)), replace=False).tolist())
        path_of = dict(zip(objects.labelled.ids, objects.labelled.paths))
        ids = [objects.ids[i] for i in chosen]
        maps: dict[str, list[np.ndarray]] = {title: [] for title in embedders}
        inputs = []
        for row, image_id in enumerate(ids):
            picture = open_rgb(path_of[image_id])
            tensor = backbone.preprocess(picture)
            black = black_image(backbone, picture.size)
            if row < n_images:
                inputs.append(denormalise(tensor, backbone.preprocess))
            for title, embed in embedders.items():
                with torch.no_grad():
                    reference = embed(black.unsqueeze(0))[0]
                generator = torch.Generator().manual_seed(self.seed + row)  # the same noise for every column
                maps[title].append(normalise_saliency(smoothgrad(embed, tensor, reference, self.n_samples, self.noise,
                                                                 generator, channels=self.channels)))

        out_dir = Path(objects.output_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        grid = Path(saliency_grid(inputs, {t: m[:n_images] for t, m in maps.items()},
                                  row_titles(objects, ids[:n_images], second), out_dir / "saliency.png"))
        output = AnalysisOutput(files={"saliency": grid}, images={"saliency": grid})
        stats = {"notion": notion, "second_notion": second, "method": method, "n_samples": self.n_samples,
                 "noise": self.noise, "channels": self.channels, "images": ids}
        if has_masks:
            masks = object_masks(objects.labelled, ids, maps["raw backbone"][0].shape)
            stats.update(object_statistics(maps, masks))
            output.summary["saliency_object_share"] = stats["object_share"]
            log.info("saliency mass inside the object (%d images; object area %.3f): %s", len(ids), stats["object_area"],
                     ", ".join(f"{t} {v:.3f}" for t, v in stats["object_share"].items()))
            pair = f"{method}: {notion} > {method}: {second}"
            if second and pair in stats["more_on_object"]:
                log.info("more saliency on the object with %s than with %s on %d of %d images", notion, second,
                         stats["more_on_object"][pair], len(ids))
        stats_path = out_dir / "saliency_stats.json"
        stats_path.write_text(json.dumps(stats, indent=2))
        output.files["saliency_stats"] = stats_path
        return output
