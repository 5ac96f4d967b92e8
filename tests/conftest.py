"""Fixtures shared by the tests: tiny images, tiny CLIP checkpoints, the composed config, a train_eval runner."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
torch.set_num_threads(1)  # in-process runs share the cores like the subprocess runs (OMP_NUM_THREADS=1) do
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


@pytest.fixture
def offline_hf_home(tmp_path, monkeypatch):
    """``HF_HOME=tmp/hf HF_HUB_OFFLINE=1``; huggingface_hub reads both at import, so its constants too."""
    import huggingface_hub.constants as hf_constants

    home = tmp_path / "hf"
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(home / "hub"))
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    return home


def run_train_eval(tmp_path: Path, *overrides: str, multirun: bool = False, check: bool = True,
                   timeout: int = 300, paths: bool = True) -> subprocess.CompletedProcess:
    """Run train_eval.py in a subprocess in ``tmp_path``, with data, caches and outputs there
    (``paths=False``: the configured defaults, relative to that working directory)."""
    args = [sys.executable, str(ROOT / "train_eval.py")]
    if multirun:
        args.append("--multirun")
    if paths:
        args += [f"paths.data_dir={tmp_path}/data", f"paths.cache_dir={tmp_path}/cache",
                 f"hydra.run.dir={tmp_path}/run", f"hydra.sweep.dir={tmp_path}/multirun"]
    args += list(overrides)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "WANDB_SILENT": "true",
           "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env, cwd=tmp_path)
    if check and proc.returncode != 0:
        raise AssertionError(f"train_eval failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return proc


TINY = ["backbone=tiny", "embed.num_workers=0", "logger=none", "repetitions=2", "n_components=8"]


class RecordingTracker:
    """A tracker that keeps what a run hands it: every log_results call and the images."""

    def __init__(self):
        self.logged, self.images = [], {}

    def log_results(self, results, columns, rows):
        self.logged.append((results, columns, rows))

    def log_images(self, images):
        self.images.update(images)


def recorded_run(tmp_path: Path, *overrides: str):
    """``run(cfg, tracker)`` on the composed config with a :class:`RecordingTracker`:
    (results, run objects, the tracker)."""
    from indirect.experiment import run

    tracker = RecordingTracker()
    results, objects = run(compose_config(tmp_path, *overrides), tracker)
    return results, objects, tracker


def compose_config(tmp_path: Path, *overrides: str, output: str = "run") -> DictConfig:
    """The real config (conf/train_eval.yaml) as train_eval.py composes it, with data, caches and
    the run's folder under ``tmp_path`` and no tracker; ``run(cfg)`` takes it as it is."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("train_eval", overrides=[f"paths.data_dir={tmp_path}/data", f"paths.cache_dir={tmp_path}/cache",
                                                f"paths.output_dir={tmp_path}/{output}", "logger=none", *overrides])


@pytest.fixture
def config(tmp_path):
    """``config(*overrides, output="run")`` -> the composed config of a run under ``tmp_path``."""
    return lambda *overrides, output="run": compose_config(tmp_path, *overrides, output=output)


def run_in_process(tmp_path: Path, *overrides: str, output: str = "run") -> dict:
    """``run(cfg)`` on the composed config: the results dict (results.json is written too)."""
    from indirect.experiment import run

    return run(compose_config(tmp_path, *overrides, output=output))[0]
