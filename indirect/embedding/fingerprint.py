"""What makes two embedding runs interchangeable.

The key holds what turns the same bytes into other numbers (backbone, weights, preprocessing,
precision, decoding) but not the image list: images are identified one by one by their content
(see :class:`indirect.embedding.images.Stamp`), so an added, changed or removed image costs one
embedding, not a new cache. The batch size is not in the key: tests/test_embedding_cache.py
shows it changes no embedding beyond 1e-5 (each image's forward pass is independent of its
batch mates on the float32 path).
"""
from __future__ import annotations

import hashlib
import json

CACHE_SCHEMA_VERSION = 2
DECODERS = ("pil", "device")          # embed.decode


def fingerprint_hash(fingerprint: dict) -> str:
    return hashlib.sha256(json.dumps(fingerprint, sort_keys=True, default=str).encode()).hexdigest()


def image_fingerprint(backbone_fingerprint: dict, dataset_name: str, root, decoding: str | None = None) -> dict:
    """``decoding`` names a decoder other than PIL's full decode (reduced-scale JPEGs, JPEGs on
    the device): other pixels, so part of the key; None (the reference) keeps the key as it was."""
    fingerprint = {**backbone_fingerprint, "dataset": dataset_name, "root": str(root), "schema": CACHE_SCHEMA_VERSION}
    return {**fingerprint, "decode": decoding} if decoding else fingerprint


def slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in text).strip("-")[:60]
