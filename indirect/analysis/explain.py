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
from hydra.utils import instantiate
from PIL import Image

from indirect.embedding.images import open_rgb
from indirect.errors import AnalysisError
from indirect.analysis.figures import denormalise, saliency_grid
from indirect.analysis.projection import differentiable_projection
from indirect.analysis.smoothgrad import black_image, mass_inside, normalise_saliency, smoothgrad, unit_embedder

log = logging.getLogger(__name__)
DEFAULT_CONF_DIR = Path(__file__).resolve().parents[2] / "conf"


def second_notion_projector(context, notion: str, method: str):
    """The ``method`` projector fitted on the prompts of another notion of the same dataset."""
    from indirect.embedding import embed_texts
    from indirect.methods import projector_config
    from indirect.notions import label_column, prompt_set

    cfg = context.cfg
    label_column(cfg.dataset, notion, context.labelled)  # a one-line error listing the valid notions
    conf_dir = Path(getattr(context, "conf_dir", None) or DEFAULT_CONF_DIR)
    prompts = prompt_set(cfg, conf_dir, notion, context.labelled)
    text = embed_texts(context.backbone, prompts, cfg.paths.cache_dir)
    base_method = method.split("+")[0]  # 'indirect+ignore' -> the plain projector for the other notion
    projector = instantiate(projector_config(base_method, conf_dir, int(cfg.n_components)), random_state=int(cfg.seed))
    if getattr(projector, "fit_on", "text") != "text":
        raise AnalysisError(f"saliency: method '{method}' is not fitted on prompts; second_notion needs a text-fitted method")
    return projector.fit(text)


def object_masks(labelled, ids: list[str], shape: tuple[int, int]) -> list[np.ndarray]:
    """The dataset's object masks (the demo world's) for ``ids`` at the saliency maps' resolution."""
    from indirect.datasets.shapes import object_mask

    masks = []
    for image_id in ids:
        mask = object_mask(labelled.root, image_id)
        if mask.shape != shape:
            mask = np.asarray(Image.fromarray(mask).resize(shape[::-1], Image.NEAREST))
        masks.append(mask.astype(bool))
    return masks


def row_titles(context, ids: list[str], second: str | None) -> list[str]:
    """Each row's label of the run's notion, and of the second notion when there is one."""
    labels = dict(zip(context.ids, context.labels))
    if not second:
        return [str(labels[i]) for i in ids]
    from indirect.notions import label_column

    other = context.labelled.labels[label_column(context.cfg.dataset, str(second), context.labelled)]
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


def run_saliency(options, context) -> dict:
    """Write saliency.png (and saliency_stats.json); return their paths and the object shares."""
    cfg, backbone = context.cfg, context.backbone
    method = str(options.get("method", "indirect"))
    if method not in context.projectors:
        raise AnalysisError(f"analysis.saliency.method={method} was not run; choose one of: {', '.join(context.projectors)}")
    n_images, n_samples = int(options.get("n_images", 6)), int(options.get("n_samples", 25))
    noise, seed = float(options.get("noise", 0.15)), int(options.get("seed", cfg.seed))
    has_masks = bool(context.labelled.notes.get("masks"))
    n_stat = max(n_images, int(options.get("n_stat_images") or 0)) if has_masks else n_images
    second = options.get("second_notion")

    notion = str(cfg.notion.name)
    embedders = {"raw backbone": unit_embedder(backbone),
                 f"{method}: {notion}": unit_embedder(backbone, differentiable_projection(context.projectors[method], method))}
    if second:
        second_projector = second_notion_projector(context, str(second), method)
        embedders[f"{method}: {second}"] = unit_embedder(backbone, differentiable_projection(second_projector, method))

    rng = np.random.default_rng(seed)  # the first n_images are drawn in the grid, all n_stat measured
    chosen = sorted(rng.choice(len(context.ids), size=min(n_stat, len(context.ids)), replace=False).tolist())
    path_of = dict(zip(context.labelled.ids, context.labelled.paths))
    ids = [context.ids[i] for i in chosen]
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
            generator = torch.Generator().manual_seed(seed + row)  # the same noise for every column
            maps[title].append(normalise_saliency(smoothgrad(embed, tensor, reference, n_samples, noise, generator)))

    out_dir = Path(context.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    grid = saliency_grid(inputs, {t: m[:n_images] for t, m in maps.items()},
                         row_titles(context, ids[:n_images], second), out_dir / "saliency.png")
    result = {"saliency": str(grid)}

    stats = {"notion": notion, "second_notion": second, "method": method, "n_samples": n_samples, "noise": noise,
             "images": ids}
    if has_masks:
        masks = object_masks(context.labelled, ids, maps["raw backbone"][0].shape)
        stats.update(object_statistics(maps, masks))
        result["saliency_object_share"] = stats["object_share"]
        log.info("saliency mass inside the object (%d images; object area %.3f): %s", len(ids), stats["object_area"],
                 ", ".join(f"{t} {v:.3f}" for t, v in stats["object_share"].items()))
        pair = f"{method}: {notion} > {method}: {second}"
        if second and pair in stats["more_on_object"]:
            log.info("more saliency on the object with %s than with %s on %d of %d images", notion, second,
                     stats["more_on_object"][pair], len(ids))
    stats_path = out_dir / "saliency_stats.json"
    stats_path.write_text(json.dumps(stats, indent=2))
    result["saliency_stats"] = str(stats_path)
    return result
