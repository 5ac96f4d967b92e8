"""HDF5 cache of prompt embeddings, keyed by backbone fingerprint and exact prompt string.

One file per backbone (``text__<backbone>__<fingerprint>.h5``: /texts utf-8 strings,
/embeddings float32 (n, D)); new prompts are appended by rewriting the file under a lock
and renaming it into place, so concurrent runs never see a half-written file. A damaged file
(or one of another width) is moved aside and its prompts recomputed; a folder that cannot be written is one line.
"""
from __future__ import annotations

import io
from pathlib import Path

import h5py
import numpy as np
from filelock import FileLock

from indirect.backbones.base import Backbone
from indirect.embedding.faults import check_shape, move_aside, writing_cache
from indirect.embedding.fingerprint import fingerprint_hash, slug
from indirect.embedding.image_cache import UNREADABLE, publish
from indirect.errors import one_line

STR = h5py.string_dtype()


def text_cache_path(cache_dir, backbone: Backbone) -> Path:
    fingerprint = {key: value for key, value in backbone.fingerprint().items() if key != "preprocess"}
    return Path(cache_dir) / f"text__{slug(backbone.name)}__{fingerprint_hash(fingerprint)[:16]}.h5"


def _read(path: Path, dim: int) -> dict[str, np.ndarray]:
    """Prompt -> embedding of the file; a damaged one (rows not ``dim`` wide too) is moved aside."""
    if not path.is_file():
        return {}
    try:
        with h5py.File(path, "r") as handle:
            texts, embeddings = handle["texts"].asstr()[:], handle["embeddings"][:]
            check_shape(embeddings, len(texts), dim)
            return dict(zip(texts, embeddings))
    except UNREADABLE as error:
        move_aside(path, one_line(error))
        return {}


def embed_texts(backbone: Backbone, texts: list[str], cache_dir, batch_size: int = 256) -> np.ndarray:
    """(len(texts), D) float32 raw text features, computing only prompts not cached yet."""
    path = text_cache_path(cache_dir, backbone)
    with writing_cache(path.parent):
        path.parent.mkdir(parents=True, exist_ok=True)
    known = _read(path, backbone.embed_dim)
    missing = list(dict.fromkeys(t for t in texts if t not in known))
    if missing:
        with writing_cache(path.parent), FileLock(str(path) + ".lock"):
            known = _read(path, backbone.embed_dim)
            missing = [t for t in missing if t not in known]
            for start in range(0, len(missing), batch_size):
                batch = missing[start:start + batch_size]
                known.update(zip(batch, backbone.text_features(batch).numpy().astype(np.float32)))
            with h5py.File(io.BytesIO(), "w") as out:
                out.create_dataset("texts", data=np.array(list(known), dtype=object), dtype=STR)
                out.create_dataset("embeddings", data=np.stack(list(known.values())))
                out.attrs["backbone"] = backbone.name
                out.flush()
                publish(out.id.get_file_image(), path)
    return np.stack([known[t] for t in texts]).astype(np.float32)
