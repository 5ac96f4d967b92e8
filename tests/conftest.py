"""Fixtures shared by the tests: tiny images, tiny CLIP checkpoints, a train_eval runner."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
COLOURS = {"red": (220, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 220)}


def write_image_folder(root: Path, per_class: int = 4, size: int = 24) -> Path:
    """root/<colour>/<i>.png: coloured squares on grey, a few per class."""
    rng = np.random.default_rng(0)
    for name, rgb in COLOURS.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = np.full((size, size, 3), 128, np.uint8)
            x, y = rng.integers(0, size // 2, 2)
            pixels[y:y + size // 2, x:x + size // 2] = rgb
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    return root


@pytest.fixture
def image_folder(tmp_path) -> Path:
    return write_image_folder(tmp_path / "images")


def make_tiny_openai_state_dict(path: Path, seed: int = 0) -> Path:
    """A small ``clip.model.CLIP`` saved as a plain state dict, OpenAI's checkpoint format."""
    from indirect.backbones.openai_clip_backbone import _import_clip

    clip = _import_clip()
    torch.manual_seed(seed)
    model = clip.model.CLIP(embed_dim=32, image_resolution=32, vision_layers=2, vision_width=64, vision_patch_size=16,
                            context_length=77, vocab_size=49408, transformer_width=64, transformer_heads=1,
                            transformer_layers=2)
    torch.save(model.state_dict(), path)
    return path


@pytest.fixture(scope="session")
def tiny_openai_checkpoint(tmp_path_factory) -> Path:
    return make_tiny_openai_state_dict(tmp_path_factory.mktemp("ckpt") / "tiny_openai.pt")


def run_train_eval(tmp_path: Path, *overrides: str, multirun: bool = False, check: bool = True,
                   timeout: int = 300) -> subprocess.CompletedProcess:
    """Run train_eval.py in a subprocess with data, caches and outputs under ``tmp_path``."""
    args = [sys.executable, str(ROOT / "train_eval.py")]
    if multirun:
        args.append("--multirun")
    args += [f"paths.data_dir={tmp_path}/data", f"paths.cache_dir={tmp_path}/cache",
             f"hydra.run.dir={tmp_path}/run", f"hydra.sweep.dir={tmp_path}/multirun", *overrides]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "WANDB_SILENT": "true",
           "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env, cwd=tmp_path)
    if check and proc.returncode != 0:
        raise AssertionError(f"train_eval failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return proc


TINY = ["backbone=tiny", "embed.num_workers=0", "logger=none", "repetitions=2", "n_components=8"]
