"""Locked-text contrastive training of the demo image tower.

The text tower stays frozen (its caption embeddings are computed once); only the CNN and a
temperature learn. Loss: symmetric InfoNCE with soft targets, where an image counts as a match
for every caption in the batch whose named factors it shares (duplicate and partial captions are
then positives, not false negatives). Everything is seeded, so a run is reproducible on one
machine.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from indirect.backbones.demo.captions import write_captions
from indirect.datasets.shapes.factors import FACTORS
from indirect.backbones.demo.image_tower import CHANNELS, IMAGE_SIZE, ImageTower, pixels_to_tensor
from indirect.datasets.shapes.render import render_shapes
from indirect.backbones.demo.text_tower import TEXT_MODEL, encode_texts

TRAIN_SEED_OFFSET = 10_000
"""Training images use seed + this offset, so they never coincide with an evaluation set drawn
with a small seed (the demo dataset defaults to seed 0)."""


@dataclass
class TrainingConfig:
    steps: int = 600
    n_train_images: int = 8_000
    seed: int = 0
    batch_size: int = 256
    lr: float = 2e-3
    weight_decay: float = 0.05
    captions_per_image: int = 2
    warmup_fraction: float = 0.05
    log_every: int = 25
    noise: float = 0.15
    """Gaussian-noise augmentation: each training image gets noise of std U(0, noise) x its range (2 in
    [-1, 1] units). Trained at SmoothGrad's own level (0.15), the tower's gradients under noise follow
    the regions a notion lives in; without it the background notion's saliency sat on the object as
    much as the colour notion's (object-mask share 0.113 vs 0.129, raw 0.110)."""


@dataclass
class TrainingResult:
    model: ImageTower
    logit_scale: float
    history: list[float] = field(default_factory=list)
    seconds: dict = field(default_factory=dict)


def soft_contrastive_loss(image_emb, text_emb, match, logit_scale):
    """Symmetric InfoNCE with soft targets: ``match[i, j]`` is 1 where caption j fits image i."""
    logits = logit_scale.exp() * F.normalize(image_emb, dim=-1) @ F.normalize(text_emb, dim=-1).T
    target = match.float()
    image_to_text = -(target / target.sum(1, keepdim=True) * logits.log_softmax(1)).sum(1).mean()
    text_to_image = -(target / target.sum(0, keepdim=True) * logits.log_softmax(0)).sum(0).mean()
    return (image_to_text + text_to_image) / 2


def caption_matches(image_codes: np.ndarray, caption_codes: np.ndarray, caption_mentions: np.ndarray) -> np.ndarray:
    """(B_img, B_cap) bool: the image agrees with the caption on every factor it names."""
    agree = image_codes[:, None, :] == caption_codes[None, :, :]
    return (agree | ~caption_mentions[None, :, :]).all(-1)


def train_image_tower(config: TrainingConfig, log=print) -> TrainingResult:
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    started = time.perf_counter()
    world = render_shapes(config.n_train_images, seed=config.seed + TRAIN_SEED_OFFSET, image_size=IMAGE_SIZE)
    codes = np.stack([world.labels[f].map({v: i for i, v in enumerate(values)}).to_numpy()
                      for f, values in FACTORS.items()], axis=1)
    texts, owners, mentions = write_captions(world.labels, config.captions_per_image, seed=config.seed)
    rendered = time.perf_counter()
    log(f"rendered {config.n_train_images} images, wrote {len(texts)} captions "
        f"({len(set(texts))} distinct) in {rendered - started:.1f} s")
    text_emb = encode_texts(texts)
    encoded = time.perf_counter()
    log(f"encoded captions with {TEXT_MODEL} in {encoded - rendered:.1f} s")

    pixels = torch.from_numpy(world.images)
    generator = torch.Generator().manual_seed(config.seed)
    model = ImageTower().to(memory_format=torch.channels_last)
    logit_scale = torch.nn.Parameter(torch.tensor(math.log(1 / 0.07)))
    optimiser = torch.optim.AdamW([{"params": model.parameters()},
                                   {"params": [logit_scale], "weight_decay": 0.0}],
                                  lr=config.lr, weight_decay=config.weight_decay)
    warmup = max(1, int(config.warmup_fraction * config.steps))
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda step: min(1.0, (step + 1) / warmup)
                                                 * 0.5 * (1 + math.cos(math.pi * min(step, config.steps) / config.steps)))
    batch = min(config.batch_size, config.n_train_images)
    history = []
    model.train()
    for step in range(config.steps):
        images = rng.choice(config.n_train_images, size=batch, replace=False)
        captions = images * config.captions_per_image + rng.integers(config.captions_per_image, size=batch)
        match = caption_matches(codes[images], codes[owners[captions]], mentions[captions])
        inputs = pixels_to_tensor(pixels[images])
        if config.noise > 0:
            std = 2.0 * config.noise * torch.rand(batch, 1, 1, 1, generator=generator)
            inputs = inputs + std * torch.randn(inputs.shape, generator=generator)
        loss = soft_contrastive_loss(model(inputs.contiguous(memory_format=torch.channels_last)), text_emb[captions],
                                     torch.from_numpy(match), logit_scale)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        schedule.step()
        with torch.no_grad():
            logit_scale.clamp_(0.0, math.log(100.0))
        history.append(loss.item())
        if (step + 1) % config.log_every == 0 or step + 1 == config.steps:
            log(f"step {step + 1}/{config.steps} loss {np.mean(history[-config.log_every:]):.3f} "
                f"temperature {1 / logit_scale.exp().item():.4f} "
                f"({time.perf_counter() - encoded:.0f} s)")
    model.eval()
    seconds = {"render": rendered - started, "encode": encoded - rendered, "train": time.perf_counter() - encoded}
    return TrainingResult(model, logit_scale.item(), history, seconds)


def checkpoint(result: TrainingResult, config: TrainingConfig) -> dict:
    """What the weights file holds: the tower's state and how it was made."""
    return {
        "state_dict": result.model.state_dict(),
        "architecture": {"channels": list(CHANNELS), "image_size": IMAGE_SIZE, "embed_dim": 384},
        "text_model": TEXT_MODEL,
        "logit_scale": result.logit_scale,
        "training": {**config.__dict__, "train_seed": config.seed + TRAIN_SEED_OFFSET},
        "history": result.history,
        "seconds": result.seconds,
    }
