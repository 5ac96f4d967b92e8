"""Frozen image-text backbones behind one interface (:class:`Backbone`)."""
from indirect.backbones.base import Backbone, auto_device

__all__ = ["Backbone", "auto_device"]
