"""Checkpoint identity: what goes into the embedding cache's fingerprint."""
from __future__ import annotations

import hashlib
from pathlib import Path


def file_sha256(path: str | Path, block: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(block), b""):
            digest.update(chunk)
    return digest.hexdigest()


def weights_identity(pretrained: str | None) -> str:
    """A local checkpoint is identified by its content (sha256), a pretrained tag by its name,
    so replacing a file under the same name never serves old embeddings."""
    if pretrained and Path(str(pretrained)).expanduser().is_file():
        return "sha256:" + file_sha256(Path(str(pretrained)).expanduser())
    return f"tag:{pretrained}"
