"""Embedding a dataset's images with a backbone, through the crash-safe cache.

Decoding and resizing run in DataLoader workers while the model runs; batches are built so
that none crosses a chunk boundary, and each finished chunk is written by a background thread,
off the model's critical path.
"""
from __future__ import annotations

import logging
import multiprocessing
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from indirect.backbones.base import Backbone
from indirect.datasets.base import LabelledImages
from indirect.embedding.fingerprint import image_fingerprint
from indirect.embedding.image_cache import ImageCache, ImageEmbeddings
from indirect.embedding.images import ImageDataset, model_input_side
from indirect.errors import BadImageError
from indirect.threads import job_cores

log = logging.getLogger(__name__)



def usable_cores() -> int:
    """Cores this job may use: a SLURM job's cpus_per_task, not the node's total, or its share
    of a parallel launcher's cores (see :func:`indirect.threads.job_cores`)."""
    return job_cores()


def resolve_workers(num_workers) -> int:
    """``auto``: one decoding worker per usable core but one (the main process feeds the model),
    at most 32. A GPU eats 224 px images faster than a few cores decode JPEGs, so every core
    helps there; on a CPU-only run the workers share the cores with the model, and a worker
    blocked on a full prefetch queue costs nothing, so the same number does no harm."""
    if num_workers in (None, "auto"):
        return min(32, max(usable_cores() - 1, 1))
    return int(num_workers)


def resolve_batch_size(batch_size, device: torch.device) -> int:
    """``auto``: 256 on CUDA (enough to saturate the GPU under autocast), 64 on CPU (larger
    batches only add latency and memory there)."""
    if batch_size in (None, "auto"):
        return 256 if device.type == "cuda" else 64
    return int(batch_size)


def image_cache_for(backbone: Backbone, labelled: LabelledImages, cache_dir, chunk_size: int = 2048,
                    jpeg_draft: bool = False) -> ImageCache:
    fingerprint = image_fingerprint(backbone.fingerprint(), labelled.name, labelled.root.resolve(),
                                    labelled.image_list_hash(), jpeg_draft)
    return ImageCache(cache_dir, fingerprint, len(labelled), chunk_size)


def embed_images(backbone: Backbone, labelled: LabelledImages, cache_dir, batch_size="auto",
                 num_workers="auto", on_bad_image: str = "skip", chunk_size: int = 2048,
                 num_shards: int = 1, shard: int | None = None, merge_only: bool = False,
                 jpeg_draft: bool = False) -> ImageEmbeddings | None:
    """Embeddings of every readable image, from the cache when complete.

    With ``shard`` set, only that shard's chunks are embedded; the cache is assembled (and
    returned) once all shards' parts exist, else None is returned. ``merge_only`` embeds
    nothing: it assembles the shards' parts, or raises :class:`CacheError` naming the
    missing shard(s). ``jpeg_draft`` decodes JPEGs at reduced scale (see :class:`ImageDataset`).
    """
    if on_bad_image not in ("skip", "fail"):
        raise ValueError(f"embed.on_bad_image={on_bad_image!r}: use 'skip' or 'fail'")
    num_shards = int(num_shards)
    if num_shards < 1:
        raise ValueError(f"embed.num_shards={num_shards}: use 1 (no sharding) or more")
    if shard is not None and not 0 <= int(shard) < num_shards:
        raise ValueError(f"embed.shard={shard} is outside 0..{num_shards - 1} (embed.num_shards={num_shards})")
    cache = image_cache_for(backbone, labelled, cache_dir, chunk_size, jpeg_draft)
    if not cache.is_complete():
        options = dict(batch_size=resolve_batch_size(batch_size, backbone.device),
                       num_workers=resolve_workers(num_workers), on_bad_image=on_bad_image,
                       draft_size=model_input_side(backbone.preprocess) if jpeg_draft else None)
        if merge_only:
            with cache.lock:
                if not cache.is_complete():
                    cache.assemble(labelled.ids, num_shards)
        elif shard is None:
            with cache.lock:  # a second process of a multirun waits here, then reads the finished file
                if not cache.is_complete():
                    _embed_chunks(backbone, labelled, cache, cache.pending_chunks(), **options)
                    cache.assemble(labelled.ids)
        else:  # shards write disjoint part files and need no lock until the merge
            _embed_chunks(backbone, labelled, cache, cache.pending_chunks(num_shards, int(shard)), **options)
            with cache.lock:
                if not cache.is_complete():
                    if cache.pending_chunks():
                        log.info("shard %s of %s done; the cache is assembled once every shard is", shard, num_shards)
                        return None
                    cache.assemble(labelled.ids, num_shards)
    else:
        log.info("image embeddings from cache %s", cache.path)
        if cache.parts_dir.exists():  # left by a duplicated shard job that outlived the merge
            cache.remove_parts()
    result = cache.read()
    if result.skipped_ids:
        log.warning("%d unreadable image(s) skipped, e.g. %s", len(result.skipped_ids), result.skipped_ids[0])
    return result


def worker_context(num_workers: int):
    """(num_workers, multiprocessing context) for the DataLoader in this process.

    Inside a joblib/loky worker (``hydra/launcher=parallel``) the default start method is loky's,
    whose process objects the DataLoader cannot start ("'Process' object has no attribute
    'env'"); the standard ``fork`` context works there. Where fork does not exist (Windows), the
    images are decoded in the job's own process instead (0 workers), with a log line.
    """
    if num_workers == 0 or multiprocessing.get_start_method(allow_none=True) in (None, "fork", "spawn", "forkserver"):
        return num_workers, None
    if "fork" in multiprocessing.get_all_start_methods():
        return num_workers, multiprocessing.get_context("fork")
    log.info("embed.num_workers=%d -> 0: DataLoader workers cannot start inside this %r worker process",
             num_workers, multiprocessing.get_start_method())
    return 0, None


def _batches(chunks: list[tuple[int, int]], batch_size: int) -> list[list[int]]:
    return [list(range(s, min(s + batch_size, end))) for start, end in chunks for s in range(start, end, batch_size)]


def _embed_chunks(backbone, labelled, cache, chunks, batch_size, num_workers, on_bad_image, draft_size) -> None:
    """The model runs in this thread on batch k while workers decode batches k+1.. and the
    writer thread saves finished chunks; batch k's features are copied back to the host only
    after batch k+1 has been queued, so a GPU never waits for that copy."""
    if not chunks:
        return
    dataset = ImageDataset(labelled.paths, backbone.preprocess, draft_size)
    num_workers, context = worker_context(num_workers)
    loader = DataLoader(dataset, batch_sampler=_batches(chunks, batch_size), num_workers=num_workers,
                        multiprocessing_context=context,
                        pin_memory=backbone.device.type == "cuda", prefetch_factor=4 if num_workers else None)
    chunk_of = {i: c for c in chunks for i in range(*c)}
    buffers: dict[tuple[int, int], dict] = {c: {"rows": {}, "skipped": []} for c in chunks}
    total = sum(e - s for s, e in chunks)
    with torch.inference_mode(), ThreadPoolExecutor(max_workers=1) as writer, \
            tqdm(total=total, unit="img", desc=f"embed {labelled.name}", dynamic_ncols=True) as bar:
        writes = []

        def collect(indices: list[int], good: list[int], features) -> bool:
            """Buffer one batch's rows; True once another job has completed the whole cache."""
            if features is not None:
                for row, k in zip(features.float().cpu().numpy(), good):
                    buffers[chunk_of[indices[k]]]["rows"][indices[k]] = row
            bar.update(len(indices))
            chunk = chunk_of[indices[-1]]
            if indices[-1] != chunk[1] - 1:
                return False
            writes.append(writer.submit(_flush, cache, chunk, buffers.pop(chunk), labelled.ids, backbone.embed_dim))
            return cache.is_complete()

        in_flight = None
        for indices, images, errors in loader:
            indices = indices.tolist()
            good = [k for k, e in enumerate(errors) if not e]
            for k, error in enumerate(errors):
                if error:
                    path = labelled.paths[indices[k]]
                    if on_bad_image == "fail":
                        raise BadImageError(f"unreadable image {path}: {error}; fix or remove it, or set embed.on_bad_image=skip")
                    buffers[chunk_of[indices[k]]]["skipped"].append(labelled.ids[indices[k]])
            batch = images if len(good) == len(indices) else images[good]  # indexing would drop pinned memory
            features = backbone.image_features(batch) if good else None
            if in_flight is not None and collect(*in_flight):
                log.info("cache %s was completed by another job; stopping", cache.path.name)
                in_flight = None
                break
            in_flight = (indices, good, features)
        if in_flight is not None:
            collect(*in_flight)
        for write in writes:
            write.result()


def _flush(cache: ImageCache, chunk, buffer, all_ids, dim) -> None:
    order = sorted(buffer["rows"])
    embeddings = np.stack([buffer["rows"][i] for i in order]) if order else np.zeros((0, dim), np.float32)
    cache.write_part(chunk[0], chunk[1], [all_ids[i] for i in order], embeddings, buffer["skipped"])
