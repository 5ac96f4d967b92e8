"""``scripts/search.py``'s work: a notion space over a configured collection, queries answered
in both spaces, and the run directory's files (space/, neighbours.json, gallery.html, neighbours.png).

The collection stage (:func:`collection_embeddings`) is the experiment's own stages
(``indirect.experiment``: load_dataset, the notion lookup, the backbone, the embeddings stage)
without the labels a metric needs; everything after it takes plain arrays.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from indirect.datasets.base import LabelledImages
from indirect.datasets.folder import IMAGE_SUFFIXES
from indirect.embedding import embed_texts
from indirect.errors import CacheError, ConfigError, SearchError
from indirect.experiment.embeddings import image_embeddings
from indirect.experiment.inputs import build, load_dataset
from indirect.experiment.runner import check_dimensions
from indirect.experiment.selection import MethodSpec
from indirect.experiment.validation import validate
from indirect.notions import Notion, lookup_notion, prompt_notion
from indirect.prompts.builder import require_two_prompts
from indirect.search.figure import neighbour_figure
from indirect.search.gallery import write_gallery
from indirect.search.results import answer, write_neighbours_json
from indirect.search.space import NotionSpace, locate_image

log = logging.getLogger(__name__)


@dataclass
class Collection:
    """What the search needs from the pipeline: the images, the backbone, both embeddings."""

    labelled: LabelledImages
    notion: Notion
    backbone: object
    prompts: list[str]
    ids: list[str]
    image_embeddings: np.ndarray
    prompt_embeddings: np.ndarray


def check_request(cfg: DictConfig) -> tuple[list, int]:
    """``queries`` and ``top_k`` as given, refused in one line before anything is embedded."""
    top_k = cfg.get("top_k")
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise SearchError(f"top_k={top_k!r}: the number of neighbours must be an integer >= 1")
    queries = cfg.get("queries")
    if isinstance(queries, str):
        queries = [queries]
    queries = list(queries or [])
    if not queries:
        raise SearchError("queries=[]: give at least one image path or text, e.g. 'queries=[holiday/img_001.jpg,\"a red shape\"]'")
    for query in queries:
        if not str(query).strip():
            raise SearchError("an empty text query; give a description such as 'a red shape' or an image path")
    return [str(q) for q in queries], int(top_k)


def check_query_images(queries: list[str], labelled: LabelledImages) -> None:
    """Every query that names an image file must exist (relative to dataset.root or absolute)."""
    ids = set(labelled.ids)
    for query in queries:
        if Path(query.strip()).suffix.lower() in IMAGE_SUFFIXES:
            locate_image(query, labelled.root, ids)


def search_notion(cfg: DictConfig, labelled: LabelledImages) -> Notion:
    """The run's notion: ``dataset.notions.<notion.name>`` (or a label column) with ``prompts``
    over it, or, without ``notion.name`` (``notion=custom``), the prompt set alone: searching
    needs prompts, not labels."""
    name = OmegaConf.select(cfg, "notion.name", throw_on_missing=False)
    if name:
        return lookup_notion(cfg.dataset, str(name), cfg.get("prompts"), labelled)
    return prompt_notion(cfg.dataset, cfg.get("prompts"))


def collection_embeddings(cfg: DictConfig, queries: list[str] | None = None) -> Collection:
    """The experiment's inputs and embeddings stages for a search: the dataset, the notion's
    prompts, the backbone and the cached image and prompt embeddings of every readable image
    (labelled or not)."""
    if cfg.embed.get("shard") is not None:
        raise ConfigError("embed.shard is set; search embeds the whole collection: leave embed.shard=null "
                          "(merge sharded caches with scripts/merge_shards.py first)")
    labelled = load_dataset(cfg.dataset)
    if queries:
        check_query_images(queries, labelled)
    notion = search_notion(cfg, labelled)
    prompts = notion.prompts(labelled, cfg.get("max_prompts"), int(cfg.seed))
    require_two_prompts(prompts, "the search's prompt set")
    backbone = build(cfg.backbone)
    check_dimensions([MethodSpec("projector", cfg.projector)], backbone)
    embedded = image_embeddings(cfg, backbone, labelled)
    if embedded is None or not embedded.ids:
        raise CacheError(f"no image of {labelled.root} could be embedded; check the folder and embed.on_bad_image")
    text = embed_texts(backbone, prompts, cfg.paths.cache_dir)
    return Collection(labelled, notion, backbone, prompts, embedded.ids, embedded.embeddings, text)


def display_column(notion: Notion, labelled: LabelledImages) -> str | None:
    """The notion's label column when the dataset has it (labels shown, agreement outlined), else None."""
    if not notion.column:
        return None
    if notion.column not in labelled.labels.columns:
        log.info("no '%s' labels in dataset '%s': neighbours shown without labels", notion.column, labelled.name)
        return None
    return notion.column


def without_notion_name(cfg: DictConfig) -> DictConfig:
    """``cfg`` with a missing ``notion.name`` (``notion=custom`` alone) read as none: a search
    needs a prompt set, not a label column."""
    if OmegaConf.is_missing(cfg.notion, "name"):
        cfg = cfg.copy()
        cfg.notion.name = None
    return cfg


def search(cfg: DictConfig, output_dir: Path, tracker=None) -> dict:
    """Fit the space, answer ``cfg.queries``, write the run directory; returns the file paths."""
    cfg = without_notion_name(cfg)
    validate(cfg)
    queries, top_k = check_request(cfg)
    found = collection_embeddings(cfg, queries)
    backbone_config = OmegaConf.to_container(cfg.backbone, resolve=True)
    column = display_column(found.notion, found.labelled)
    space = NotionSpace.from_embeddings(
        found.prompt_embeddings, found.ids, found.image_embeddings, found.prompts, cfg.projector, cfg.n_components,
        seed=cfg.seed, backbone=found.backbone, backbone_config=backbone_config, root=found.labelled.root,
        labels=found.labelled.labels.loc[found.ids], exact_limit=int(cfg.get("exact_limit", 100_000)))
    results = answer(space, queries, top_k, column)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    meta = (f"dataset {cfg.dataset.name} ({len(space.ids)} images, {found.labelled.root}); backbone {found.backbone.name}; "
            f"{len(found.prompts)} prompts, e.g. '{found.prompts[0]}'; k = {space.projected.shape[1]}; "
            f"projector {space.projector.method_name}; cosine distances")
    files = {"space": space.save(output_dir / "space"),
             "neighbours_json": write_neighbours_json(results, output_dir / "neighbours.json", column),
             "gallery": write_gallery(results, output_dir / "gallery.html", meta=meta),
             "figure": neighbour_figure(results, output_dir / "neighbours.png")}
    if tracker is not None:
        tracker.log_images({"neighbours": files["figure"]})
    print(summary(results))
    for line in index_summary(space):
        print(line)
    print(f"wrote {output_dir}/neighbours.json, gallery.html, neighbours.png and space/")
    return files


def summary(results) -> str:
    """Each query's neighbours in both spaces, one line per space."""
    lines = []
    for result in results:
        lines.append(f"query: {result.query}" + (f"  [{result.label}]" if result.label is not None else ""))
        for name, title in (("projected", "notion"), ("raw", "raw")):
            agreement = result.agreement(name)
            share = f"  ({agreement:.0%} same label)" if agreement is not None else ""
            lines.append(f"  {title:>6}: " + ", ".join(f"{h.id} ({h.distance:.3f})" for h in getattr(result, name)) + share)
    return "\n".join(lines)


def index_summary(space) -> list[str]:
    """One line per approximate (IVF) index: the cells it probes and the recall@10 against exact
    measured when it was built, on image rows and on text-like queries (they differ: text queries
    sit away from the image clusters)."""
    lines = []
    for name, (_, info) in space.indexes.items():
        if info.kind != "ivf":
            continue
        text = ("" if info.text_recall_at_10 is None else
                f", {info.text_recall_at_10:.3f} on {info.text_recall_queries} text-like queries (the prompts and blends)")
        lines.append(f"{name} index: IVF, {info.nprobe} of {info.nlist} cells probed; recall@10 vs exact "
                     f"{info.recall_at_10:.3f} on {info.recall_queries} images{text}")
    return lines
