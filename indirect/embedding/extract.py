"""Embedding a dataset's images with a backbone, through the crash-safe cache.

Decoding and resizing run in DataLoader workers while the model runs; batches are built so
that none crosses a chunk boundary, and each finished chunk is written by a background thread,
off the model's critical path.
"""
from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from indirect.backbones.base import Backbone
from indirect.datasets.base import LabelledImages
from indirect.embedding.fingerprint import image_fingerprint
from indirect.embedding.image_cache import ImageCache, ImageEmbeddings
from indirect.embedding.images import ImageDataset

log = logging.getLogger(__name__)


class BadImageError(RuntimeError):
    """An image could not be read and embed.on_bad_image=fail."""


def resolve_workers(num_workers) -> int:
    if num_workers in (None, "auto"):
        return min(8, os.cpu_count() or 1)
    return int(num_workers)


def image_cache_for(backbone: Backbone, labelled: LabelledImages, cache_dir, chunk_size: int = 2048) -> ImageCache:
    fingerprint = image_fingerprint(backbone.fingerprint(), labelled.name, labelled.root.resolve(), labelled.image_list_hash())
    return ImageCache(cache_dir, fingerprint, len(labelled), chunk_size)


def embed_images(backbone: Backbone, labelled: LabelledImages, cache_dir, batch_size: int = 256,
                 num_workers="auto", on_bad_image: str = "skip", chunk_size: int = 2048,
                 num_shards: int = 1, shard: int | None = None) -> ImageEmbeddings | None:
    """Embeddings of every readable image, from the cache when complete.

    With ``shard`` set, only that shard's chunks are embedded; the cache is assembled (and
    returned) once all shards' parts exist, else None is returned.
    """
    if on_bad_image not in ("skip", "fail"):
        raise ValueError(f"embed.on_bad_image={on_bad_image!r}: use 'skip' or 'fail'")
    if shard is not None and not 0 <= int(shard) < int(num_shards):
        raise ValueError(f"embed.shard={shard} is outside 0..{int(num_shards) - 1} (embed.num_shards={num_shards})")
    cache = image_cache_for(backbone, labelled, cache_dir, chunk_size)
    if not cache.is_complete():
        workers = resolve_workers(num_workers)
        if shard is None:
            with cache.lock:  # a second process of a multirun waits here, then reads the finished file
                if not cache.is_complete():
                    _embed_chunks(backbone, labelled, cache, cache.pending_chunks(), batch_size, workers, on_bad_image)
                    cache.assemble(labelled.ids)
        else:  # shards write disjoint part files and need no lock until the merge
            _embed_chunks(backbone, labelled, cache, cache.pending_chunks(num_shards, shard), batch_size, workers, on_bad_image)
            with cache.lock:
                if not cache.is_complete():
                    if cache.pending_chunks():
                        log.info("shard %s of %s done; the cache is assembled once every shard is", shard, num_shards)
                        return None
                    cache.assemble(labelled.ids, num_shards)
    else:
        log.info("image embeddings from cache %s", cache.path)
    result = cache.read()
    if result.skipped_ids:
        log.warning("%d unreadable image(s) skipped, e.g. %s", len(result.skipped_ids), result.skipped_ids[0])
    return result


def _batches(chunks: list[tuple[int, int]], batch_size: int) -> list[list[int]]:
    return [list(range(s, min(s + batch_size, end))) for start, end in chunks for s in range(start, end, batch_size)]


def _embed_chunks(backbone, labelled, cache, chunks, batch_size, num_workers, on_bad_image) -> None:
    dataset = ImageDataset(labelled.paths, backbone.preprocess)
    loader = DataLoader(dataset, batch_sampler=_batches(chunks, batch_size), num_workers=num_workers,
                        pin_memory=backbone.device.type == "cuda", persistent_workers=False,
                        prefetch_factor=4 if num_workers else None)
    chunk_of = {i: c for c in chunks for i in range(*c)}
    buffers: dict[tuple[int, int], dict] = {c: {"rows": {}, "skipped": []} for c in chunks}
    total = sum(e - s for s, e in chunks)
    with ThreadPoolExecutor(max_workers=1) as writer, \
            tqdm(total=total, unit="img", desc=f"embed {labelled.name}", dynamic_ncols=True) as bar:
        writes = []
        for indices, images, errors in loader:
            good = [k for k, e in enumerate(errors) if not e]
            for k, error in enumerate(errors):
                if error:
                    path = labelled.paths[int(indices[k])]
                    if on_bad_image == "fail":
                        raise BadImageError(f"unreadable image {path}: {error}; fix or remove it, or set embed.on_bad_image=skip")
                    buffers[chunk_of[int(indices[k])]]["skipped"].append(labelled.ids[int(indices[k])])
            if good:
                with torch.inference_mode():
                    features = backbone.image_features(images[good]).float().cpu().numpy()
                for row, k in zip(features, good):
                    buffers[chunk_of[int(indices[k])]]["rows"][int(indices[k])] = row
            chunk = chunk_of[int(indices[-1])]
            bar.update(len(indices))
            if int(indices[-1]) == chunk[1] - 1:
                writes.append(writer.submit(_flush, cache, chunk, buffers.pop(chunk), labelled.ids, backbone.embed_dim))
        for write in writes:
            write.result()


def _flush(cache: ImageCache, chunk, buffer, all_ids, dim) -> None:
    order = sorted(buffer["rows"])
    embeddings = np.stack([buffer["rows"][i] for i in order]) if order else np.zeros((0, dim), np.float32)
    cache.write_part(chunk[0], chunk[1], [all_ids[i] for i in order], embeddings, buffer["skipped"])
