"""The demo backbone: a CLIP stand-in that runs offline on a CPU in seconds.

Text tower: the real pretrained all-MiniLM-L6-v2 (frozen). Image tower: a small CNN trained by
scripts/train_demo_backbone.py to place demo images next to the text embeddings of captions
describing them, so text directions carry image meaning as in CLIP, which is all InDiReCT needs.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from indirect.backbones.base import Backbone, auto_device
from indirect.backbones.demo.image_tower import PREPROCESS_DESCRIPTION, ImageTower, preprocess
from indirect.backbones.demo.text_tower import TEXT_DIM, TEXT_MODEL, encode_texts
from indirect.errors import BackboneError

SHIPPED_WEIGHTS = Path(__file__).resolve().parent / "weights" / "image_tower.pt"



class DemoBackbone(Backbone):
    name = "demo"
    embed_dim = TEXT_DIM

    def __init__(self, weights: str | Path | None = None, device: str = "auto"):
        self.weights_path = Path(weights).expanduser() if weights else SHIPPED_WEIGHTS
        if not self.weights_path.is_file():
            raise BackboneError(f"demo backbone weights {self.weights_path} not found; make them with "
                                    f"python scripts/train_demo_backbone.py --out {self.weights_path}")
        try:
            state = torch.load(self.weights_path, map_location="cpu", weights_only=True)
            architecture = state["architecture"]
            self.model = ImageTower(architecture["embed_dim"], tuple(architecture["channels"]))
            self.model.load_state_dict(state["state_dict"])
        except (KeyError, RuntimeError) as error:
            raise BackboneError(f"{self.weights_path} is not a demo image-tower checkpoint ({error}); "
                                    "remake it with scripts/train_demo_backbone.py") from error
        self.device = auto_device(device)
        self.model.eval().requires_grad_(False).to(self.device)
        if self.device.type == "cpu":
            self.model.to(memory_format=torch.channels_last)
        self.preprocess = preprocess
        self._sha256 = hashlib.sha256(self.weights_path.read_bytes()).hexdigest()

    def image_features(self, images: torch.Tensor) -> torch.Tensor:
        images = images.to(self.device, torch.float32)
        if self.device.type == "cpu":
            images = images.contiguous(memory_format=torch.channels_last)
        return self.model(images).float()

    def text_features(self, texts: list[str]) -> torch.Tensor:
        return encode_texts(list(texts), device=str(self.device) if self.device.type == "cuda" else "cpu")

    def fingerprint(self) -> dict:
        return {"backbone": self.name, "weights": self._sha256, "preprocess": PREPROCESS_DESCRIPTION,
                "text": TEXT_MODEL}
