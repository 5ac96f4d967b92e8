"""Does every accelerator code path give the CPU's answers? One prepared script for a GPU session.

Each check runs the same work on ``--device`` and on the CPU and compares (the benchmarks time
these paths; this script checks that they are right):
  amp_features   ViT-B-32 (random weights) image features under autocast (fp16, bf16) vs fp32 CPU
  pipeline       embed_images on written JPEGs (workers, pinned memory, batches, HDF5) vs CPU
  metrics        indirect.metrics.evaluate on the device vs on the CPU
  projector      InDiReCT fitted on the device vs on the CPU (loss, projected images)
  saliency       SmoothGrad of the demo backbone on the device vs on the CPU
  batch_size     embed_images on the device at batch 7 vs 256 (the cache does not key the batch
                 size: under fp16 the rows may differ; the figure is printed, PASS at cosine >= 0.9999)
  device_decode  embed_images with embed.decode=device (nvJPEG, bicubic antialiased resize on the
                 device) vs PIL decoding: same ids, min cosine (PASS >= 0.999), mean pixel difference,
                 whether the device decoder itself refuses a truncated JPEG (runs never send it one)
  uint8_path     embed_images on the device with uint8 workers + device normalisation vs the whole
                 preprocess in the workers (float32 shipped)

    python scripts/device_check.py --out device_check.json        # on a GPU machine (about a minute)
    make device-check                                               # this, then the benchmarks on cuda
    python scripts/device_check.py --device cpu --images 8          # the code path itself, anywhere

Prints one line per check and exits 1 when any fails. With ``--device cpu`` both sides run on
the CPU: that exercises the script, not an accelerator.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_embed import write_jpegs  # noqa: E402


def cosine_rows(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.cosine_similarity(a.float().cpu(), b.float().cpu(), dim=1)


def check_amp_features(device: str, n_images: int) -> dict:
    from indirect.backbones.open_clip_backbone import OpenClipBackbone

    images = torch.randn(n_images, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    reference = OpenClipBackbone("ViT-B-32", None, device="cpu", precision="fp32", seed=0)
    with torch.inference_mode():
        expected = reference.image_features(images)
    result = {}
    for precision, bound in (("fp16", 0.999), ("bf16", 0.99), ("fp32", 0.99999)):
        backbone = OpenClipBackbone("ViT-B-32", None, device=device, precision=precision, seed=0)
        with torch.inference_mode():
            got = backbone.image_features(images)
        result[f"{precision}_min_cosine"] = round(float(cosine_rows(got, expected).min()), 6)
        result[f"{precision}_effective"] = backbone.effective_precision()
        result[f"{precision}_ok"] = result[f"{precision}_min_cosine"] >= bound
    result["ok"] = all(v for k, v in result.items() if k.endswith("_ok"))
    return result


def jpeg_folder(scratch: Path, n_images: int):
    """The checks' JPEGs, written once per run."""
    from indirect.datasets.folder import load_folder

    root = scratch / f"jpegs{n_images}"
    if not root.exists():
        write_jpegs(root, n_images, 500, 375, processes=4)
    return load_folder(root)


def compare_rows(first, second) -> dict:
    """Same ids, largest absolute difference and smallest row cosine of two embedding results."""
    same_ids = first.ids == second.ids
    a, b = torch.from_numpy(first.embeddings), torch.from_numpy(second.embeddings)
    if not same_ids or a.shape != b.shape:
        return {"same_ids": False, "ok": False}
    return {"same_ids": True, "identical": bool(torch.equal(a, b)),
            "max_abs_difference": float((a - b).abs().max()), "min_cosine": round(float(cosine_rows(a, b).min()), 7)}


def check_batch_size(device: str, n_images: int, scratch: Path) -> dict:
    from indirect.backbones.open_clip_backbone import OpenClipBackbone
    from indirect.embedding import embed_images

    labelled = jpeg_folder(scratch, n_images)
    backbone = OpenClipBackbone("ViT-B-32", None, device=device, seed=0)
    small, large = (embed_images(backbone, labelled, scratch / f"batch{size}", batch_size=size, num_workers="auto")
                    for size in (7, 256))
    result = {"precision": backbone.effective_precision(), **compare_rows(small, large)}
    result["ok"] = result["same_ids"] and result["min_cosine"] >= 0.9999
    return result


def check_uint8_path(device: str, n_images: int, scratch: Path) -> dict:
    from bench_embed import whole_preprocess

    from indirect.backbones.open_clip_backbone import OpenClipBackbone
    from indirect.embedding import embed_images
    from indirect.embedding.images import split_preprocess

    labelled = jpeg_folder(scratch, n_images)
    backbone = OpenClipBackbone("ViT-B-32", None, device=device, seed=0)
    split = split_preprocess(backbone.preprocess) is not None
    uint8 = embed_images(backbone, labelled, scratch / "uint8", batch_size="auto", num_workers="auto")
    with whole_preprocess(backbone):
        whole = embed_images(backbone, labelled, scratch / "whole", batch_size="auto", num_workers="auto")
    result = {"split": split, **compare_rows(uint8, whole)}
    result["ok"] = split and result["same_ids"] and result["min_cosine"] >= 0.9999
    return result


def check_device_decode(device: str, n_images: int, scratch: Path) -> dict:
    """The pipeline with embed.decode=device vs with PIL decoding, both on ``device``; and the
    pixels of a few images against PIL's, in grey levels."""
    from indirect.backbones.open_clip_backbone import OpenClipBackbone
    from indirect.embedding import embed_images
    from indirect.embedding.images import model_input_side, open_rgb, pixels_on_device, split_preprocess

    labelled = jpeg_folder(scratch, n_images)
    backbone = OpenClipBackbone("ViT-B-32", None, device=device, seed=0)
    reference = embed_images(backbone, labelled, scratch / "pil_decode", batch_size="auto", num_workers="auto")
    start = time.perf_counter()
    decoded = embed_images(backbone, labelled, scratch / "device_decode", batch_size="auto", num_workers="auto",
                           decode="device")
    seconds = time.perf_counter() - start
    split, side = split_preprocess(backbone.preprocess), model_input_side(backbone.preprocess)
    paths = labelled.paths[:4]
    pixels, errors = pixels_on_device([torch.frombuffer(bytearray(Path(p).read_bytes()), dtype=torch.uint8) for p in paths],
                                      side, torch.device(device))
    pil = torch.stack([split.to_uint8(open_rgb(p)) for p in paths])
    half = Path(paths[0]).read_bytes()
    _, truncated = pixels_on_device([torch.frombuffer(bytearray(half[: len(half) // 2]), dtype=torch.uint8)], side,
                                    torch.device(device))     # never reaches it in a run (complete_jpeg): a figure only
    same_ids = decoded.ids == reference.ids and len(decoded.ids) == n_images
    min_cos = float(cosine_rows(torch.from_numpy(decoded.embeddings), torch.from_numpy(reference.embeddings)).min())
    return {"images": n_images, "same_ids": same_ids, "min_cosine": round(min_cos, 6), "errors": len(errors),
            "device_refuses_truncated_jpeg": bool(truncated),
            "mean_pixel_difference": round(float((pixels.cpu().float() - pil.float()).abs().mean()), 3),
            "device_decode_img_per_s": round(n_images / seconds, 1), "ok": same_ids and not errors and min_cos >= 0.999}


def check_pipeline(device: str, n_images: int, scratch: Path) -> dict:
    from indirect.backbones.open_clip_backbone import OpenClipBackbone
    from indirect.embedding import embed_images

    labelled = jpeg_folder(scratch, n_images)
    runs = []
    for number, side in enumerate(("cpu", device)):  # fresh caches: both sides really embed
        backbone = OpenClipBackbone("ViT-B-32", None, device=side, seed=0)
        start = time.perf_counter()
        result = embed_images(backbone, labelled, scratch / f"cache{number}", batch_size="auto", num_workers="auto")
        runs.append((result, time.perf_counter() - start))
    (cpu, cpu_s), (dev, dev_s) = runs
    same_ids = cpu.ids == dev.ids and len(dev.ids) == n_images
    min_cos = float(cosine_rows(torch.from_numpy(dev.embeddings), torch.from_numpy(cpu.embeddings)).min())
    return {"images": n_images, "same_ids": same_ids, "min_cosine": round(min_cos, 6),
            "cpu_img_per_s": round(n_images / cpu_s, 1), "device_img_per_s": round(n_images / dev_s, 1),
            "ok": same_ids and min_cos >= 0.999}


def check_metrics(device: str, n: int) -> dict:
    from indirect.metrics import evaluate

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 50, n)
    centres = rng.normal(size=(50, 128)).astype(np.float32)
    embeddings = centres[labels] + rng.normal(scale=1.5, size=(n, 128)).astype(np.float32)
    on_cpu = evaluate(embeddings, labels, device="cpu", k=None)
    on_device = evaluate(embeddings, labels, device=device, k=None)
    difference = max(abs(on_cpu[m] - on_device[m]) for m in on_cpu)
    return {"n": n, "max_abs_difference": float(difference), "precision_at_1": round(on_device["precision_at_1"], 4),
            "ok": difference <= 1e-3}


def check_projector(device: str) -> dict:
    from indirect.projectors import InDiReCT

    rng = np.random.default_rng(0)
    texts = rng.normal(size=(300, 512)).astype(np.float32)
    images = rng.normal(size=(1000, 512)).astype(np.float32)
    on_cpu = InDiReCT(128, random_state=0, device="cpu").fit(texts)
    on_device = InDiReCT(128, random_state=0, device=device).fit(texts)
    loss_cpu, loss_device = on_cpu.loss(texts), on_device.loss(texts)
    # Eigenvectors are defined up to sign and order of equal eigenvalues: compare the spaces' Gram matrices.
    gram_cpu, gram_device = (on_cpu.transform(images) @ on_cpu.transform(images).T,
                             on_device.transform(images) @ on_device.transform(images).T)
    difference = float(np.abs(gram_cpu - gram_device).max())
    return {"loss_cpu": round(loss_cpu, 6), "loss_device": round(loss_device, 6), "max_gram_difference": difference,
            "ok": abs(loss_cpu - loss_device) <= 1e-4 and difference <= 1e-3}


def check_saliency(device: str) -> dict:
    from PIL import Image

    from indirect.analysis.smoothgrad import black_image, smoothgrad, unit_embedder
    from indirect.backbones.demo.backbone import DemoBackbone
    from indirect.datasets.shapes.render import render_shapes

    picture = Image.fromarray(render_shapes(1, seed=0).images[0])
    maps = {}
    for side in ("cpu", device):
        backbone = DemoBackbone(device=side)
        embed = unit_embedder(backbone)
        image = backbone.preprocess(picture)
        with torch.no_grad():
            reference = embed(black_image(backbone, picture.size)[None])[0]
        maps[side] = smoothgrad(embed, image, reference, 25, 0.15, torch.Generator().manual_seed(0))
    correlation = float(np.corrcoef(maps["cpu"].ravel(), maps[device].ravel())[0, 1])
    return {"finite": bool(np.isfinite(maps[device]).all()), "correlation_with_cpu": round(correlation, 6),
            "ok": bool(np.isfinite(maps[device]).all()) and correlation >= 0.99}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="the device to check against the CPU (default cuda)")
    parser.add_argument("--images", type=int, default=256, help="JPEGs for the pipeline check")
    parser.add_argument("--metric-items", type=int, default=8000, help="embeddings for the metrics check")
    parser.add_argument("--out", type=Path, default=None, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(f"error: --device {args.device}: torch {torch.__version__} sees no CUDA device; "
              "run on a GPU machine or pass --device cpu")
        return 2
    report = {"torch": torch.__version__, "device": args.device,
              "device_name": torch.cuda.get_device_name(args.device) if args.device.startswith("cuda") else "cpu"}
    print(f"torch {report['torch']}, checking {args.device} ({report['device_name']}) against the CPU")
    with tempfile.TemporaryDirectory() as scratch:
        checks = {"amp_features": lambda: check_amp_features(args.device, 16),
                  "pipeline": lambda: check_pipeline(args.device, args.images, Path(scratch)),
                  "metrics": lambda: check_metrics(args.device, args.metric_items),
                  "projector": lambda: check_projector(args.device),
                  "saliency": lambda: check_saliency(args.device),
                  "batch_size": lambda: check_batch_size(args.device, args.images, Path(scratch)),
                  "device_decode": lambda: check_device_decode(args.device, args.images, Path(scratch)),
                  "uint8_path": lambda: check_uint8_path(args.device, args.images, Path(scratch))}
        for name, check in checks.items():
            start = time.perf_counter()
            try:
                result = check()
            except Exception as error:  # one broken path must not hide the others' results
                result = {"ok": False, "error": f"{type(error).__name__}: {error}"}
            result["seconds"] = round(time.perf_counter() - start, 2)
            report[name] = result
            details = ", ".join(f"{k} {v}" for k, v in result.items() if k != "ok")
            print(f"{'PASS' if result['ok'] else 'FAIL'} {name}: {details}", flush=True)
    if args.out:
        args.out.write_text(json.dumps(report, indent=1))
    failed = [name for name, result in report.items() if isinstance(result, dict) and not result["ok"]]
    print("all checks passed" if not failed else f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
