"""Notion spaces on one's own images: search by image, text or vector, in the projected and the
raw backbone space, and show the neighbours (HTML gallery, matplotlib figure)."""
from indirect.search.space import NotionSpace

__all__ = ["NotionSpace"]
