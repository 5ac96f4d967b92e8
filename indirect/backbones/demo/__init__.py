"""The demo world's backbone (``backbone=demo``): a CLIP-style dual encoder whose text tower is the
pretrained all-MiniLM-L6-v2 and whose small image tower was trained on the shapes world."""
from indirect.backbones.demo.backbone import SHIPPED_WEIGHTS, DemoBackbone, BackboneError

__all__ = ["SHIPPED_WEIGHTS", "DemoBackbone", "BackboneError"]
