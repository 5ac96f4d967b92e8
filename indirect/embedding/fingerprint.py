"""What makes two embedding runs interchangeable."""
from __future__ import annotations

import hashlib
import json

CACHE_SCHEMA_VERSION = 1


def fingerprint_hash(fingerprint: dict) -> str:
    return hashlib.sha256(json.dumps(fingerprint, sort_keys=True, default=str).encode()).hexdigest()


def image_fingerprint(backbone_fingerprint: dict, dataset_name: str, root, image_list_hash: str,
                      jpeg_draft: bool = False) -> dict:
    """Reduced-scale JPEG decoding changes the pixels, so it is part of the key (only when on,
    which keeps the keys of full-decode caches as they were)."""
    fingerprint = {**backbone_fingerprint, "dataset": dataset_name, "root": str(root),
                   "images": image_list_hash, "schema": CACHE_SCHEMA_VERSION}
    return {**fingerprint, "decode": "jpeg-draft"} if jpeg_draft else fingerprint


def slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in text).strip("-")[:60]
