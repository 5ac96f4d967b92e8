"""Crash-safe HDF5 cache of image embeddings, one file per (dataset, backbone, fingerprint).

While embedding, each chunk of ``chunk_size`` consecutive images is written to its own part
file (write to a temporary name, then rename), so a run killed at any instant loses at most the
chunk in flight and a rerun resumes from the parts on disk. When every part exists they are
assembled into the final ``.h5`` (again via a temporary name), which readers only ever see
complete. The fingerprint is part of the file name: a changed backbone, checkpoint,
preprocessing or image list gets a new file and never reads old numbers.

HDF5 schema (read it with plain h5py):
  /ids           (N,)   utf-8 strings, image ids in dataset order
  /embeddings    (N, D) float32, the backbone's raw (unnormalised) image features
  /skipped_ids   (M,)   utf-8 strings, images that could not be read
  attrs: fingerprint (JSON), fingerprint_sha256, schema_version, dataset, backbone
"""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import uuid
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
from filelock import FileLock

from indirect.embedding.fingerprint import CACHE_SCHEMA_VERSION, fingerprint_hash, slug
from indirect.errors import CacheError

STR = h5py.string_dtype()
PART = re.compile(r"part_(\d+)_(\d+)\.npz$")


def unique_temporary(final: Path) -> Path:
    """A hidden sibling name no other writer uses, even on another host sharing the folder."""
    return final.with_name(f".{final.name}.{socket.gethostname()}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")



@dataclass
class ImageEmbeddings:
    ids: list[str]
    embeddings: np.ndarray
    skipped_ids: list[str]
    path: Path


class ImageCache:
    def __init__(self, cache_dir, fingerprint: dict, n_images: int, chunk_size: int = 2048):
        self.fingerprint = fingerprint
        self.digest = fingerprint_hash(fingerprint)
        cache_dir = Path(cache_dir)
        cache_dir.mkdir(parents=True, exist_ok=True)
        stem = f"{slug(fingerprint['dataset'])}__{slug(fingerprint['backbone'])}__{self.digest[:16]}"
        self.path = cache_dir / f"{stem}.h5"
        self.parts_dir = cache_dir / f"{stem}.parts-c{chunk_size}"
        self.lock = FileLock(str(self.path) + ".lock")
        self.n_images, self.chunk_size = n_images, chunk_size

    def chunks(self) -> list[tuple[int, int]]:
        return [(s, min(s + self.chunk_size, self.n_images)) for s in range(0, self.n_images, self.chunk_size)]

    def is_complete(self) -> bool:
        return self.path.is_file()

    def _part_path(self, start: int, end: int) -> Path:
        return self.parts_dir / f"part_{start:09d}_{end:09d}.npz"

    def done_chunks(self) -> set[tuple[int, int]]:
        if not self.parts_dir.is_dir():
            return set()
        found = {tuple(map(int, m.groups())) for p in self.parts_dir.iterdir() if (m := PART.match(p.name))}
        return found & set(self.chunks())

    def pending_chunks(self, num_shards: int = 1, shard: int | None = None) -> list[tuple[int, int]]:
        """Chunks still to embed; with sharding, chunk ``c`` belongs to shard ``c % num_shards``."""
        done = self.done_chunks()
        return [c for i, c in enumerate(self.chunks())
                if c not in done and (shard is None or i % num_shards == shard)]

    def write_part(self, start: int, end: int, ids: list[str], embeddings: np.ndarray, skipped: list[str]) -> None:
        """Atomically publish one chunk. A duplicate job writing the same chunk publishes the
        same rows under the same name, and each writer's temporary file is unique (even across
        hosts sharing the cache), so duplicates can only waste time. Once the final file exists
        the part is no longer needed and is dropped."""
        if self.is_complete():
            return
        self.parts_dir.mkdir(parents=True, exist_ok=True)
        final = self._part_path(start, end)
        tmp = unique_temporary(final)
        try:
            with open(tmp, "wb") as handle:
                np.savez(handle, ids=np.array(ids, dtype=object).astype(str), embeddings=embeddings.astype(np.float32),
                         skipped=np.array(skipped, dtype=str))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, final)
        except FileNotFoundError:
            if not self.is_complete():  # the parts folder vanished because another job assembled the cache
                raise
        finally:
            tmp.unlink(missing_ok=True)

    def missing_message(self, num_shards: int = 1) -> str | None:
        """None when every chunk has its part, else one line naming the missing shard(s) and
        the command that embeds them."""
        missing = [i for i, c in enumerate(self.chunks()) if c not in self.done_chunks()]
        if not missing:
            return None
        shards = sorted({i % num_shards for i in missing})
        if num_shards == 1:
            where = "set embed.num_shards to the value the shard jobs used to see which shard(s) are missing"
        else:
            where = (f"shard(s) {shards} of {num_shards} missing; run them with embed.num_shards={num_shards} "
                     f"embed.shard={','.join(map(str, shards))} (with --multirun for several), then merge again")
        return (f"embedding cache {self.path.name}: {len(missing)} of {len(self.chunks())} chunks missing in "
                f"{self.parts_dir} ({where})")

    def remove_parts(self) -> None:
        shutil.rmtree(self.parts_dir, ignore_errors=True)

    def assemble(self, expected_ids: list[str], num_shards: int = 1) -> None:
        """Join all parts into the final file; a missing part names the shard that owns it."""
        problem = self.missing_message(num_shards)
        if problem:
            raise CacheError(problem)
        ids, parts, skipped = [], [], []
        for start, end in self.chunks():
            try:
                part = np.load(self._part_path(start, end))
            except FileNotFoundError:
                if self.is_complete():  # a concurrent merge (a duplicated last shard) finished first
                    return
                raise
            with part:
                got = part["ids"].tolist() + part["skipped"].tolist()
                if sorted(got) != sorted(expected_ids[start:end]) or len(part["embeddings"]) != len(part["ids"]):
                    raise CacheError(f"embedding cache part {self._part_path(start, end)} holds other images than expected; delete it and rerun")
                ids += part["ids"].tolist()
                parts.append(part["embeddings"])
                skipped += part["skipped"].tolist()
        embeddings = np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)
        tmp = unique_temporary(self.path)
        with h5py.File(tmp, "w") as out:
            out.create_dataset("ids", data=np.array(ids, dtype=object), dtype=STR)
            out.create_dataset("embeddings", data=embeddings, chunks=(min(len(ids), 4096) or 1, embeddings.shape[1] or 1)
                               if embeddings.size else None)
            out.create_dataset("skipped_ids", data=np.array(skipped, dtype=object), dtype=STR)
            out.attrs.update(fingerprint=json.dumps(self.fingerprint, sort_keys=True, default=str),
                             fingerprint_sha256=self.digest, schema_version=CACHE_SCHEMA_VERSION,
                             dataset=self.fingerprint["dataset"], backbone=self.fingerprint["backbone"])
        os.replace(tmp, self.path)
        self.remove_parts()

    def read(self) -> ImageEmbeddings:
        with h5py.File(self.path, "r") as handle:
            if handle.attrs.get("fingerprint_sha256") != self.digest:
                raise CacheError(f"embedding cache {self.path} has another fingerprint than its name says; delete it and rerun")
            return ImageEmbeddings(ids=list(handle["ids"].asstr()[:]),
                                   embeddings=handle["embeddings"][:].astype(np.float32),
                                   skipped_ids=list(handle["skipped_ids"].asstr()[:]), path=self.path)
