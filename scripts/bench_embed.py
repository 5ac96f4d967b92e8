"""Throughput of image embedding: is the pipeline as fast as the model allows?

For each backbone, on JPEG files this script writes itself (500x375, like most DML datasets),
it prints images/s of
  (a) naive    - open, preprocess and embed one image at a time in one loop,
  (b) pipeline - ``embed_images`` into a fresh cache (workers, batches, part files, HDF5),
  (c) ceiling  - the model alone on ready-made tensors at the pipeline's batch size,
and the ratios b/c (target >= 0.85: decoding and writing hidden behind the model) and b/a.

    python scripts/bench_embed.py                          # ViT-B-32 + demo, small defaults (CPU: a few minutes)
    python scripts/bench_embed.py --images 2048 --demo-images 8192 --device cuda
    python scripts/bench_embed.py --backbones demo --workers 0,1,2

ViT-B-32 runs with random weights (``pretrained=None``): the same arithmetic as the real ones.
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import indirect  # noqa: E402,F401  (first: sets GOMP_SPINCOUNT, read once when torch loads libgomp)
import torch  # noqa: E402

from indirect.datasets.folder import load_folder  # noqa: E402
from indirect.embedding import embed_images  # noqa: E402
from indirect.embedding.extract import resolve_batch_size, resolve_workers, usable_cores  # noqa: E402
from indirect.embedding.images import device_decodable, open_rgb, split_preprocess  # noqa: E402


def _write_jpeg_range(root: Path, start: int, stop: int, width: int, height: int, classes: int,
                      varied: bool = False) -> None:
    """Images ``start..stop``; each from its own seed, so the files do not depend on how the
    range is split between processes. ``varied``: each image's sides drawn from 0.75-1.25 times
    the given ones, as in real datasets (device decoding resizes images of one size together)."""
    for i in range(start, stop):
        rng = np.random.default_rng(i)
        w, h = (int(width * rng.uniform(0.75, 1.25)), int(height * rng.uniform(0.75, 1.25))) if varied else (width, height)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        folder = root / f"class{i % classes}"
        folder.mkdir(parents=True, exist_ok=True)
        phase = rng.uniform(0, 2 * np.pi, 3)
        freq = rng.uniform(0.005, 0.05, 3)
        channels = [127 + 100 * np.sin(freq[c] * (xx + (c + 1) * yy) + phase[c]) for c in range(3)]
        pixels = np.stack(channels, axis=-1) + rng.normal(0, 12, (h, w, 3))
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(folder / f"{i:06d}.jpg", quality=90)


def write_jpegs(root: Path, count: int, width: int, height: int, classes: int = 8, processes: int = 1,
                varied: bool = False) -> Path:
    """Smooth colour fields with texture: JPEG sizes and decode times like photographs', not noise's.
    ``processes`` > 1 writes them in parallel (16k JPEGs take ~3 min on one core)."""
    for c in range(min(classes, count)):
        (root / f"class{c}").mkdir(parents=True, exist_ok=True)
    if processes <= 1 or count < 64:
        _write_jpeg_range(root, 0, count, width, height, classes, varied)
        return root
    from concurrent.futures import ProcessPoolExecutor

    bounds = np.linspace(0, count, processes + 1).astype(int)
    with ProcessPoolExecutor(processes) as pool:
        for job in [pool.submit(_write_jpeg_range, root, int(a), int(b), width, height, classes, varied)
                    for a, b in zip(bounds[:-1], bounds[1:]) if b > a]:
            job.result()
    return root


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def naive(backbone, paths) -> float:
    """The loop people write first: one image, one forward pass, one copy back."""
    def one(path):
        tensor = backbone.preprocess(open_rgb(path))[None]
        with torch.inference_mode():
            return backbone.image_features(tensor).float().cpu()

    one(paths[0])
    start = time.perf_counter()
    for path in paths:
        one(path)
    return len(paths) / (time.perf_counter() - start)


def ceiling(backbone, count: int, batch_size: int) -> float:
    """The model alone: tensors already preprocessed and (on CUDA) already on the device."""
    with Image.new("RGB", (64, 64)) as image:
        shape = backbone.preprocess(image).shape
    batch = torch.randn(batch_size, *shape)
    if backbone.device.type == "cuda":
        batch = batch.to(backbone.device)
    with torch.inference_mode():
        backbone.image_features(batch)
        synchronize(backbone.device)
        start = time.perf_counter()
        done = 0
        while done < count:
            size = min(batch_size, count - done)
            backbone.image_features(batch[:size]).float().cpu()
            done += size
        synchronize(backbone.device)
    return count / (time.perf_counter() - start)


def loader_alone(backbone, labelled, batch_size: int, workers: int) -> float:
    """(d) What the workers deliver when nothing else runs: read, hash, decode, preprocess, ship
    (and, on the uint8 path, the device-side scaling). Above (c), decoding is not the cap."""
    from torch.utils.data import DataLoader

    from indirect.embedding.extract import _batches, _pieces
    from indirect.embedding.images import ImageDataset, collate_pixels, split_preprocess

    split = split_preprocess(backbone.preprocess)
    dataset = ImageDataset(labelled.paths, split.to_uint8 if split else backbone.preprocess)
    pieces, _ = _pieces(_batches([(0, len(labelled))], batch_size))          # the pipeline's worker tasks
    loader = DataLoader(dataset, batch_sampler=pieces, num_workers=workers, collate_fn=collate_pixels,
                        pin_memory=backbone.device.type == "cuda", prefetch_factor=4 if workers else None)
    start = time.perf_counter()
    for _, images, _, _ in loader:
        images = split.normalize(images, backbone.device) if split else images.to(backbone.device, non_blocking=True)
    synchronize(backbone.device)
    return len(labelled) / (time.perf_counter() - start)


def pipeline(backbone, labelled, batch_size: int, workers: int, jpeg_draft: bool = False, decode: str = "pil") -> float:
    with tempfile.TemporaryDirectory() as cache:
        start = time.perf_counter()
        result = embed_images(backbone, labelled, cache, batch_size=batch_size, num_workers=workers,
                              jpeg_draft=jpeg_draft, decode=decode)
        seconds = time.perf_counter() - start
    assert len(result.ids) == len(labelled), "the pipeline lost images"
    return len(labelled) / seconds


@contextlib.contextmanager
def whole_preprocess(backbone):
    """The backbone with its preprocess hidden in a plain function, which does not split: the
    path every backbone took before workers shipped uint8 (the cache fingerprint differs too)."""
    original = backbone.preprocess
    backbone.preprocess = functools.partial(_call, original)
    try:
        yield backbone
    finally:
        backbone.preprocess = original


def _call(function, image):
    return function(image)


def build_backbone(name: str, device: str, precision: str, scratch: Path):
    if name == "vit-b-32":
        from indirect.backbones.open_clip_backbone import OpenClipBackbone

        return OpenClipBackbone("ViT-B-32", None, device=device, precision=precision)
    if name == "demo":
        from indirect.backbones.demo.backbone import DemoBackbone, BackboneError

        try:
            return DemoBackbone(device=device)
        except BackboneError:  # no trained weights yet: random ones cost the same time
            from indirect.backbones.demo.image_tower import CHANNELS, ImageTower

            weights = scratch / "demo_random.pt"
            torch.save({"architecture": {"embed_dim": 384, "channels": list(CHANNELS)},
                        "state_dict": ImageTower(384, CHANNELS).state_dict()}, weights)
            return DemoBackbone(weights=weights, device=device)
    raise SystemExit(f"--backbones: unknown backbone {name!r}; use vit-b-32 and/or demo")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbones", default="vit-b-32,demo", help="comma-separated: vit-b-32, demo")
    parser.add_argument("--images", type=int, default=256, help="JPEGs for ViT-B-32")
    parser.add_argument("--demo-images", type=int, default=1024, help="JPEGs for the (much faster) demo backbone")
    parser.add_argument("--naive-images", type=int, default=48, help="images for the one-at-a-time loop")
    parser.add_argument("--size", default="500x375", help="JPEG width x height")
    parser.add_argument("--varied-sizes", action="store_true", help="each JPEG's sides 0.75-1.25x --size (real datasets)")
    parser.add_argument("--batch-size", default="auto", help="as embed.batch_size")
    parser.add_argument("--workers", default="auto", help="as embed.num_workers; a comma list compares several")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--precision", default="auto", help="CUDA autocast for ViT-B-32: auto/fp16, bf16, fp32")
    parser.add_argument("--jpeg-draft", action="store_true", help="also time (b) with embed.jpeg_draft=true")
    parser.add_argument("--compare-whole", action="store_true",
                        help="also time (b) with the whole preprocess in the workers (float32 shipped, as before the uint8 split)")
    parser.add_argument("--device-decode", action="store_true",
                        help="also time (e): the pipeline with embed.decode=device (nvJPEG on CUDA)")
    parser.add_argument("--loader", action="store_true", help="also time (d) the DataLoader alone, no model")
    parser.add_argument("--write-processes", type=int, default=max(1, usable_cores()),
                        help="processes writing the JPEGs (default: every usable core)")
    parser.add_argument("--repeats", type=int, default=1, help="repeat (b) and (c), report the medians")
    args = parser.parse_args()
    width, height = map(int, args.size.lower().split("x"))

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        for name in args.backbones.split(","):
            backbone = build_backbone(name.strip(), args.device, args.precision, scratch)
            count = args.images if name.strip() == "vit-b-32" else args.demo_images
            root = scratch / f"jpegs{count}"
            if not root.exists():
                started = time.perf_counter()
                write_jpegs(root, count, width, height, processes=args.write_processes, varied=args.varied_sizes)
                print(f"wrote {count} JPEGs in {time.perf_counter() - started:.1f} s "
                      f"({args.write_processes} process(es))", flush=True)
            labelled = load_folder(root)
            batch_size = resolve_batch_size(args.batch_size, backbone.device)
            split = "uint8 workers + device normalise" if split_preprocess(backbone.preprocess) else "whole preprocess in workers"
            print(f"\n{backbone.name} on {backbone.device} ({torch.get_num_threads()} torch threads, "
                  f"{usable_cores()} usable cores): {count} JPEGs {width}x{height}{' (sides 0.75-1.25x)' if args.varied_sizes else ''}, batch {batch_size}, {split}")
            rate_a = naive(backbone, labelled.paths[:args.naive_images])
            print(f"  (a) naive, one image at a time : {rate_a:8.1f} img/s", flush=True)
            for workers in args.workers.split(","):
                n_workers = resolve_workers(workers)
                rates_c, rates_b, rates_d = [], [], []
                for _ in range(args.repeats):  # interleaved, so a busy machine slows both alike
                    rates_c.append(ceiling(backbone, count, batch_size))
                    rates_b.append(pipeline(backbone, labelled, batch_size, n_workers))
                    if args.jpeg_draft:
                        rates_d.append(pipeline(backbone, labelled, batch_size, n_workers, jpeg_draft=True))
                rate_b, rate_c = statistics.median(rates_b), statistics.median(rates_c)
                print(f"  (b) pipeline, {n_workers} worker(s)     : {rate_b:8.1f} img/s")
                if rates_d:
                    print(f"      ... with jpeg_draft=true   : {statistics.median(rates_d):8.1f} img/s")
                print(f"  (c) model alone (ceiling)      : {rate_c:8.1f} img/s")
                print(f"      b/c = {rate_b / rate_c:.2f}   b/a = {rate_b / rate_a:.1f}x", flush=True)
                if args.loader:
                    print(f"  (d) loader alone, no model     : {loader_alone(backbone, labelled, batch_size, n_workers):8.1f} img/s")
                if args.device_decode:
                    if device_decodable(backbone.preprocess):
                        rate_e = pipeline(backbone, labelled, batch_size, n_workers, decode="device")
                        print(f"  (e) pipeline, decode=device    : {rate_e:8.1f} img/s   e/c = {rate_e / rate_c:.2f}")
                    else:
                        print("  (e) decode=device              : refused (the preprocess is not a resize + centre crop)")
                if args.compare_whole and split_preprocess(backbone.preprocess):
                    with whole_preprocess(backbone):
                        rate_w = pipeline(backbone, labelled, batch_size, n_workers)
                        print(f"  (b') pipeline, float32 workers : {rate_w:8.1f} img/s   b'/c = {rate_w / rate_c:.2f}")


if __name__ == "__main__":
    main()
