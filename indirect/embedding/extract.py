"""Embedding a dataset's images with a backbone, through the crash-safe cache.

Decoding and resizing run in DataLoader workers while the model runs; batches are built so
that none crosses a chunk boundary, and each finished chunk is written by a background thread,
off the model's critical path.
"""
from __future__ import annotations

import logging
import multiprocessing
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from indirect.backbones.base import Backbone
from indirect.datasets.base import LabelledImages
from indirect.embedding.fingerprint import image_fingerprint
from indirect.embedding.faults import writing_cache
from indirect.embedding.image_cache import ImageCache, ImageEmbeddings, PartsMissing
from indirect.embedding.images import (ImageDataset, Stamp, collate_bytes, collate_pixels, device_decodable,
                                      model_input_side, pixels_on_device, split_preprocess)
from indirect.embedding.options import check_options
from indirect.errors import BadImageError, CacheError, ConfigError
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


def check_decoder(decode: str, backbone: Backbone) -> None:
    """``embed.decode=device`` reproduces only a bicubic resize + square centre crop preprocess."""
    if decode == "device" and not device_decodable(backbone.preprocess):
        raise ConfigError(f"embed.decode=device: the preprocess of {type(backbone).__name__} is not a bicubic resize "
                          "of the shorter side + square centre crop + normalise, which is all the device decoder "
                          "reproduces; set embed.decode=pil")


def _decoding(backbone: Backbone, jpeg_draft: bool, decode: str) -> str | None:
    """What the cache key says of decoding: None for PIL's full decode (the reference)."""
    if decode == "device":
        return f"device-jpeg-{backbone.device.type}"      # nvJPEG on CUDA, libjpeg + torch resize on CPU
    return "jpeg-draft" if jpeg_draft else None


def _image_cache(backbone: Backbone, labelled: LabelledImages, cache_dir, chunk_size: int, jpeg_draft: bool,
                 decode: str) -> ImageCache:
    """The cache of this backbone, dataset and decoder (not yet planned)."""
    return ImageCache(cache_dir, image_fingerprint(backbone.fingerprint(), labelled.name, labelled.root.resolve(),
                                                   _decoding(backbone, jpeg_draft, decode)), chunk_size,
                       backbone.embed_dim)


def image_cache_for(backbone: Backbone, labelled: LabelledImages, cache_dir, chunk_size: int = 2048,
                    jpeg_draft: bool = False, decode: str = "pil") -> ImageCache:
    """The cache of this backbone and dataset, planned against the images as they are now."""
    cache = _image_cache(backbone, labelled, cache_dir, chunk_size, jpeg_draft, decode)
    cache.plan(labelled.ids, labelled.paths)
    return cache


def embed_images(backbone: Backbone, labelled: LabelledImages, cache_dir, batch_size="auto",
                 num_workers="auto", on_bad_image: str = "skip", chunk_size: int = 2048,
                 num_shards: int = 1, shard: int | None = None, merge_only: bool = False,
                 jpeg_draft: bool = False, decode: str = "pil") -> ImageEmbeddings | None:
    """Embeddings of every readable image: unchanged images from the cache, the others embedded.

    With ``shard`` set, only that shard's chunks are embedded; the embeddings are returned by the
    one job that completes the cache (it merges the shards' parts), None by the others, so a sweep
    runs its experiment once. Over a cache complete before the job started, shard 0 is that job
    (a sweep's own shard 0 embeds chunk 0, so it never finds the cache completed by its sweep).
    ``merge_only`` (without ``shard``) embeds nothing: it assembles the shards' parts, or raises
    :class:`CacheError` naming the missing shard(s). ``jpeg_draft`` decodes JPEGs at reduced scale
    (see :class:`ImageDataset`). ``decode="device"`` decodes RGB/grey JPEGs on the model's device
    (nvJPEG on CUDA; see :func:`pixels_on_device`), other files in the workers as usual; its own cache key.
    ``on_bad_image=fail`` also refuses an image found unreadable by an earlier run and unchanged since.
    """
    check_options(batch_size, num_workers, on_bad_image, chunk_size, num_shards, shard, decode, jpeg_draft, merge_only)
    check_decoder(decode, backbone)
    cache_dir = Path(cache_dir)
    with writing_cache(cache_dir):
        cache_dir.mkdir(parents=True, exist_ok=True)
        cache = _image_cache(backbone, labelled, cache_dir, chunk_size, jpeg_draft, decode)
        options = dict(batch_size=resolve_batch_size(batch_size, backbone.device),
                       num_workers=resolve_workers(num_workers), on_bad_image=on_bad_image,
                       draft_size=model_input_side(backbone.preprocess) if jpeg_draft else None,
                       on_device=decode == "device")
        if shard is None:
            with cache.lock:  # a second process of a multirun waits here, then reads the finished file
                _plan(cache, labelled, on_bad_image)
                if cache.todo and not merge_only:
                    _embed_and_assemble(backbone, labelled, cache, options)
                _complete(cache, num_shards)
        elif not _embed_shard(backbone, labelled, cache, options, num_shards, shard, on_bad_image):
            return None
    result = cache.read()
    if result.skipped_ids:
        log.warning("%d unreadable image(s) skipped, e.g. %s (%s)", len(result.skipped_ids), result.skipped_ids[0],
                    result.skipped_errors[0])
    if not result.ids:
        raise BadImageError(f"none of the {len(labelled)} image(s) of {labelled.name} at {labelled.root} could be read "
                            f"(e.g. {result.skipped_ids[0] if result.skipped_ids else '-'}: "
                            f"{result.skipped_errors[0] if result.skipped_errors else 'no image'}); "
                            "check the files or set dataset.root")
    return result


def _complete(cache: ImageCache, num_shards: int) -> None:
    """Under the cache's lock: assemble the parts the plan needs (or name the missing shards), rewrite
    a file whose entries changed, and drop parts folders left behind (by a kill between publishing the
    file and removing its parts, or a duplicated shard job that outlived the merge)."""
    if cache.todo:
        cache.assemble(num_shards=num_shards)
    cache.update()
    cache.remove_parts()


def _embed_shard(backbone, labelled: LabelledImages, cache: ImageCache, options: dict, num_shards: int, shard: int,
                 on_bad_image: str) -> bool:
    """Embed this shard's chunks; True when this job is the one that completed the cache (see
    :func:`embed_images`)."""
    _plan(cache, labelled, on_bad_image)
    if not cache.todo:  # complete before this job started
        if shard != 0:
            log.info("cache %s is complete: shard %s of %s has nothing to embed; the job that completed it (shard 0 "
                     "when it was complete before) runs the experiment", cache.path.name, shard, num_shards)
            return False
        with cache.lock:
            _complete(cache, num_shards)
        return True
    # shards write disjoint part files and need no lock until the merge
    _embed_chunks(backbone, labelled.subset(cache.todo), cache, cache.pending_chunks(num_shards, shard), **options)
    with cache.lock:
        _plan(cache, labelled, on_bad_image)
        if cache.pending_chunks() or not cache.todo:
            log.info("shard %s of %s done; %s", shard, num_shards, "the cache is assembled once every shard is"
                     if cache.todo else "another shard job completed the cache meanwhile")
            return False
        _complete(cache, num_shards)
    return True


def _plan(cache: ImageCache, labelled: LabelledImages, on_bad_image: str) -> None:
    cache.plan(labelled.ids, labelled.paths)
    reused, todo = len(cache.entries), len(cache.todo)
    if todo and reused:
        log.info("image cache %s: %d image(s) unchanged, %d new or changed to embed", cache.path.name, reused, todo)
    elif not todo:
        log.info("image embeddings from cache %s", cache.path)
    known_bad = cache.known_bad()
    if known_bad and on_bad_image == "fail":
        image_id, error = known_bad[0]
        path = labelled.paths[labelled.ids.index(image_id)]
        raise BadImageError(f"unreadable image {path}: {error} ({len(known_bad)} unreadable image(s) unchanged since "
                            "an earlier run); fix or remove it, or set embed.on_bad_image=skip")


def _embed_and_assemble(backbone, labelled: LabelledImages, cache: ImageCache, options: dict) -> None:
    """Embed the plan's missing chunks and write the final file; a part deleted or damaged
    meanwhile is embedded once more."""
    todo = labelled.subset(cache.todo)
    for attempt in (1, 2):
        _embed_chunks(backbone, todo, cache, cache.pending_chunks(), **options)
        try:
            cache.assemble()
            return
        except PartsMissing as error:
            if attempt == 2:
                raise CacheError(f"embedding cache parts in {cache.parts_dir} vanished or broke again while this run "
                                 f"wrote them ({error}); check what deletes or damages files in {cache.cache_dir}, "
                                 "then rerun") from error


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


# Images per worker task. A worker hands over nothing until its whole task is decoded, so tasks
# of a full GPU batch (256) kept the model idle for ~2.5 s at the start and left most workers idle
# at the end (16 batches on 15 workers: two rounds for one batch); 32-image pieces, gathered
# back into the same model batches in the main loop, cut both to an eighth.
PIECE = 32


def quiet_when_main_goes(worker_id: int) -> None:
    """In a DataLoader worker: the resource sharer that hands this worker's tensors to the main process
    reports a main process gone mid-handshake (Ctrl-C, a kill) through ``sys.excepthook``, as a 40-line
    ConnectionResetError after the run's one-line 'interrupted'. Connection errors are that echo, not a
    fault of the worker, and are not printed; anything else is (a worker's own errors reach the main
    process through the DataLoader, not this hook)."""
    report = sys.excepthook

    def hook(kind, value, traceback):
        if not issubclass(kind, (ConnectionError, EOFError)):
            report(kind, value, traceback)
    sys.excepthook = hook


def _batches(chunks: list[tuple[int, int]], batch_size: int) -> list[list[int]]:
    return [list(range(s, min(s + batch_size, end))) for start, end in chunks for s in range(start, end, batch_size)]


def _pieces(batches: list[list[int]], piece: int = PIECE) -> tuple[list[list[int]], list[bool]]:
    """Each batch cut into worker tasks of at most ``piece`` images, and for each task whether it
    completes its batch."""
    pieces, closes = [], []
    for batch in batches:
        for s in range(0, len(batch), piece):
            pieces.append(batch[s:s + piece])
            closes.append(s + piece >= len(batch))
    return pieces, closes


def _embed_chunks(backbone, labelled, cache, chunks, batch_size, num_workers, on_bad_image, draft_size,
                  on_device=False) -> None:
    """The model runs in this thread on batch k while workers decode batches k+1.. and the
    writer thread saves finished chunks; batch k's features are copied back to the host only
    after batch k+1 has been queued, so a GPU never waits for that copy. When the backbone's
    preprocess splits (:func:`split_preprocess`), workers ship uint8 pixels and the scaling and
    normalisation run here, on the model's device; ``on_device`` ships JPEGs' bytes instead,
    decoded here too (:func:`pixels_on_device`). Workers decode pieces of :data:`PIECE`
    images, which this loop gathers back into the model batches (so the batches, and the
    numbers, are the ones whole-batch tasks gave)."""
    if not chunks:
        return
    split = split_preprocess(backbone.preprocess)
    dataset = ImageDataset(labelled.paths, split.to_uint8 if split else backbone.preprocess, draft_size,
                           jpeg_bytes=on_device)
    side = model_input_side(backbone.preprocess) if on_device else None
    pieces, closes = _pieces(_batches(chunks, batch_size))
    num_workers, context = worker_context(num_workers)
    loader = DataLoader(dataset, batch_sampler=pieces, num_workers=num_workers, multiprocessing_context=context,
                        pin_memory=backbone.device.type == "cuda", prefetch_factor=4 if num_workers else None,
                        collate_fn=collate_bytes if on_device else collate_pixels,
                        worker_init_fn=quiet_when_main_goes if num_workers else None)
    chunk_of = {i: c for c in chunks for i in range(*c)}
    buffers: dict[tuple[int, int], dict] = {c: {"rows": {}, "skipped": {}, "stamps": {}} for c in chunks}
    total = sum(e - s for s, e in chunks)

    def skip(index: int, error: str) -> None:
        if on_bad_image == "fail":
            raise BadImageError(f"unreadable image {labelled.paths[index]}: {error}; fix or remove it, "
                                "or set embed.on_bad_image=skip")
        buffers[chunk_of[index]]["skipped"][index] = error

    def model_input(indices: list[int], good: list[int], parts: list):
        """The batch's input on the device, and its good positions less those the device could not decode."""
        if not parts:
            return None, good
        if not on_device:
            return (parts[0] if len(parts) == 1 else torch.cat(parts)), good
        items = [item for part in parts for item in part]
        pixels, errors = pixels_on_device(items, side, backbone.device, split.to_uint8)
        for k, error in errors.items():
            skip(indices[good[k]], error)
        if errors:
            keep = [k for k in range(len(items)) if k not in errors]
            pixels, good = pixels[keep], [good[k] for k in keep]
        return (split.normalize(pixels, backbone.device) if good else None), good

    with torch.inference_mode(), ThreadPoolExecutor(max_workers=1) as writer, \
            tqdm(total=total, unit="img", desc=f"embed {labelled.name}", dynamic_ncols=True) as bar:
        writes = []

        def collect(indices: list[int], good: list[int], features) -> bool:
            """Buffer one batch's rows; True once another job has completed the whole cache. A part that
            could not be written (a full disk) stops the run here, a batch after its write failed."""
            for write in [w for w in writes if w.done()]:
                writes.remove(write)
                write.result()
            if features is not None:
                for row, k in zip(features.float().cpu().numpy(), good):
                    buffers[chunk_of[indices[k]]]["rows"][indices[k]] = row
            bar.update(len(indices))
            chunk = chunk_of[indices[-1]]
            if indices[-1] != chunk[1] - 1:
                return False
            writes.append(writer.submit(_flush, cache, chunk, buffers.pop(chunk), labelled.ids, backbone.embed_dim))
            return cache.absorbed()

        in_flight = None
        indices, good, parts = [], [], []  # the model batch being gathered from pieces
        for (piece, images, errors, stamps), closing in zip(loader, closes):
            piece_good = [k for k, e in enumerate(errors) if not e]
            for k, stamp in enumerate(stamps):
                buffers[chunk_of[piece[k]]]["stamps"][piece[k]] = Stamp(*stamp)
            for k, error in enumerate(errors):
                if error:
                    skip(piece[k], error)
            if piece_good and on_device:
                items = images.items()
                parts.append([items[k] for k in piece_good])
            elif piece_good:
                part = images if len(piece_good) == len(piece) else images[piece_good]  # indexing would drop pinned memory
                parts.append(split.normalize(part, backbone.device) if split is not None
                             else part.to(backbone.device, non_blocking=True))
            good += [len(indices) + k for k in piece_good]
            indices += piece
            if not closing:
                continue
            batch, good = model_input(indices, good, parts)
            features = backbone.image_features(batch) if batch is not None else None
            if in_flight is not None and collect(*in_flight):
                log.info("cache %s was completed by another job; stopping", cache.path.name)
                in_flight = None
                break
            in_flight = (indices, good, features)
            indices, good, parts = [], [], []
        if in_flight is not None:
            collect(*in_flight)
        for write in writes:
            write.result()


def _flush(cache: ImageCache, chunk, buffer, all_ids, dim) -> None:
    order = sorted(buffer["rows"])
    bad = sorted(buffer["skipped"])
    embeddings = np.stack([buffer["rows"][i] for i in order]) if order else np.zeros((0, dim), np.float32)
    cache.write_part(chunk[0], chunk[1], [all_ids[i] for i in order], embeddings, [all_ids[i] for i in bad],
                     stamps=[buffer["stamps"][i] for i in order], skipped_stamps=[buffer["stamps"][i] for i in bad],
                     skipped_errors=[buffer["skipped"][i] for i in bad])
