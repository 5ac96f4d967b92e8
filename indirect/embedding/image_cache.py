"""Crash-safe HDF5 cache of image embeddings, keyed by content, one file per (dataset, backbone, fingerprint).

Each image's entry carries the stamp of the bytes it was computed from (size, mtime_ns, ctime_ns,
sha1). A run first plans: an image whose size, mtime and ctime match its entry is reused; one
whose stat changed but whose sha1 still matches (a ``touch``, a copy) is reused too; everything else
(new, changed, previously unreadable and changed since) is embedded; entries of images no
longer listed are dropped. Stamps taken within :data:`RACY_NS` of the file's mtime or ctime are marked
racy and always verified by hash, so a change within the file system's time granularity is seen.

While embedding, each chunk of ``chunk_size`` images still to embed is written to its own part
file (write to a temporary name, then rename) in a parts folder named for that plan, so a run
killed at any instant loses at most the chunk in flight and a rerun (same files, same plan)
resumes from the parts on disk. The final ``.h5`` is rewritten via a temporary name, so readers
only ever see a complete file. A file or part that cannot be read is moved aside and recomputed.

HDF5 schema (read it with plain h5py):
  /ids             (N,)   utf-8 strings, image ids in dataset order
  /embeddings      (N, D) float32, the backbone's raw (unnormalised) image features
  /stamps          (N,)   compound (size i8, mtime_ns i8, sha1 S40, racy u1, ctime_ns i8) of each
                          image's bytes (files written before ctime was kept lack ctime_ns)
  /skipped_ids     (M,)   utf-8 strings, images that could not be read
  /skipped_stamps  (M,)   their stamps (an unreadable image is retried once its bytes change)
  /skipped_errors  (M,)   utf-8 strings, why each could not be read
  attrs: fingerprint (JSON), fingerprint_sha256, schema_version, dataset, backbone, plan
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import socket
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
from filelock import FileLock

from indirect.embedding.faults import check_shape, move_aside
from indirect.embedding.fingerprint import CACHE_SCHEMA_VERSION, fingerprint_hash, slug
from indirect.embedding.images import UNKNOWN, Stamp, file_sha1, is_racy, stat_stamp
from indirect.errors import CacheError, one_line

STR = h5py.string_dtype()
PART = re.compile(r"part_(\d+)_(\d+)\.npz$")
STAMP = np.dtype([("size", "<i8"), ("mtime_ns", "<i8"), ("sha1", "S40"), ("racy", "u1"), ("ctime_ns", "<i8")])
UNREADABLE = (OSError, KeyError, ValueError, EOFError, TypeError)  # h5py/zip/npz errors of a damaged file
STALE_PARTS_S = 3600   # another plan's parts folder untouched this long is left over, not being filled


class PartsMissing(CacheError):
    """Part files the plan needs are absent (or were unreadable and moved aside)."""


def unique_temporary(final: Path) -> Path:
    """A hidden sibling name no other writer uses, even on another host sharing the folder."""
    return final.with_name(f".{final.name}.{socket.gethostname()}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")


@contextmanager
def written(final: Path):
    """A file handle whose bytes become ``final`` atomically when the block ends: a unique temporary
    file, fsync, rename; the temporary file is removed whatever happens. A full disk fails the write
    and again each close after it: that is one OSError naming ``final``, not three chained."""
    tmp = unique_temporary(final)
    try:
        try:
            with open(tmp, "wb") as handle:
                yield handle
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as error:
            if error.errno is None:
                raise
            raise OSError(error.errno, error.strerror, str(final)) from None
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


def publish(data: bytes, final: Path) -> None:
    """Write ``data`` to ``final`` atomically (see :func:`written`). HDF5 files are built in memory
    first and written here with plain file I/O, because the HDF5 library does not survive a failed
    write (a full disk ended in a segmentation fault); here a full disk is an OSError."""
    with written(final) as handle:
        handle.write(data)


def _file_identity(path: Path) -> tuple[int, int, int] | None:
    """(inode, size, mtime_ns) of a file, None when absent: tells a file rewritten (renamed into
    place) since it was last looked at."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


def stamp_array(stamps) -> np.ndarray:
    return np.array([(s.size, s.mtime_ns, s.sha1.encode(), s.racy, s.ctime_ns) for s in stamps], dtype=STAMP)


def stamps_of(array) -> list[Stamp]:
    """Stamps from their stored array; one written before ctimes were kept reads ctime -1 (unknown:
    the next plan hashes those files once and stores their ctime)."""
    array = np.asarray(array)
    ctimes = array["ctime_ns"].tolist() if "ctime_ns" in (array.dtype.names or ()) else [-1] * len(array)
    return [Stamp(int(s), int(m), bytes(h).decode(), bool(r), int(c))
            for s, m, h, r, c in zip(array["size"].tolist(), array["mtime_ns"].tolist(), array["sha1"].tolist(),
                                     array["racy"].tolist(), ctimes)]


@dataclass
class ImageEmbeddings:
    ids: list[str]
    embeddings: np.ndarray
    skipped_ids: list[str]
    path: Path
    skipped_errors: list[str] = field(default_factory=list)


@dataclass
class Entry:
    """One image as the cache knows it: an embedding row, or the reason it could not be read."""

    stamp: Stamp
    row: np.ndarray | None
    error: str = ""


class ImageCache:
    def __init__(self, cache_dir, fingerprint: dict, chunk_size: int = 2048, dim: int | None = None):
        self.fingerprint, self.dim = fingerprint, dim   # dim: the backbone's embed_dim, which rows read must have
        self.digest = fingerprint_hash(fingerprint)
        self.cache_dir = Path(cache_dir)
        self.stem = f"{slug(fingerprint['dataset'])}__{slug(fingerprint['backbone'])}__{self.digest[:16]}"
        self.path = self.cache_dir / f"{self.stem}.h5"
        self.lock = FileLock(str(self.path) + ".lock")
        self.chunk_size = chunk_size
        self.ids: list[str] = []
        self.todo: list[int] = []
        self.todo_ids: list[str] = []
        self.entries: dict[str, Entry] = {}
        self.dirty = False
        self._final_at_plan: tuple[int, int, int] | None = None
        self.plan_digest = ""
        self.parts_dir = self.cache_dir / f"{self.stem}.parts-none"

    # -- planning -------------------------------------------------------------------------
    def plan(self, ids: list[str], paths: list) -> None:
        """Decide per image: reuse its entry (bytes unchanged) or embed it; see the module doc."""
        stored = self._load()
        self.ids = list(ids)
        current = [stat_stamp(p) for p in paths]
        verify = [i for i, (image_id, (size, mtime, ctime)) in enumerate(zip(ids, current))
                  if (e := stored.get(image_id)) is not None and size >= 0 and e.stamp.sha1 and e.stamp.size == size
                  and (e.stamp.racy or e.stamp.mtime_ns != mtime or e.stamp.ctime_ns != ctime)]
        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
            hashes = dict(zip(verify, pool.map(file_sha1, [paths[i] for i in verify])))
        self.entries, self.todo, refreshed = {}, [], False
        for i, (image_id, (size, mtime, ctime)) in enumerate(zip(ids, current)):
            entry = stored.get(image_id)
            if entry is not None and not entry.stamp.sha1:   # skipped unread (missing, a broken link, no permission)
                if (entry.stamp.size, entry.stamp.mtime_ns, entry.stamp.ctime_ns) == (size, mtime, ctime):
                    self.entries[image_id] = entry           # as it was: still unreadable, not retried
                else:
                    self.todo.append(i)
            elif entry is None or size < 0 or entry.stamp.size != size:
                self.todo.append(i)
            elif i not in hashes:  # size and trusted times match
                self.entries[image_id] = entry
            elif hashes[i] == entry.stamp.sha1:
                fresh = Stamp(size, mtime, entry.stamp.sha1, is_racy(mtime, ctime), ctime)
                if fresh != entry.stamp:  # touched, not changed: keep the new times so the next run needs no hash
                    entry = Entry(fresh, entry.row, entry.error)   # (racy again if they are recent: hashed again)
                    refreshed = True
                self.entries[image_id] = entry
            else:
                self.todo.append(i)
        self.todo_ids = [ids[i] for i in self.todo]
        self._final_at_plan = _file_identity(self.path)
        self.dirty = refreshed or set(stored) != set(self.entries)
        plan = hashlib.sha256(json.dumps([self.chunk_size, [(ids[i], str(paths[i]), *current[i]) for i in self.todo]])
                              .encode()).hexdigest()
        self.plan_digest = plan
        self.parts_dir = self.cache_dir / f"{self.stem}.parts-{plan[:12]}-c{self.chunk_size}"

    def _load(self) -> dict[str, Entry]:
        """Entries of the final file; a damaged file (another schema, rows not ``dim`` wide) is moved aside."""
        if not self.path.is_file():
            return {}
        try:
            with h5py.File(self.path, "r") as handle:
                if handle.attrs.get("fingerprint_sha256") != self.digest:
                    raise ValueError("its fingerprint differs from the one its name says")
                ids = list(handle["ids"].asstr()[:])
                embeddings = handle["embeddings"][:].astype(np.float32)
                stamps = stamps_of(handle["stamps"][:])
                skipped = list(handle["skipped_ids"].asstr()[:])
                skipped_stamps = stamps_of(handle["skipped_stamps"][:])
                errors = list(handle["skipped_errors"].asstr()[:])
                check_shape(embeddings, len(ids), self.dim)
        except UNREADABLE as error:
            move_aside(self.path, one_line(error))
            return {}
        entries = {i: Entry(s, row) for i, s, row in zip(ids, stamps, embeddings)}
        entries.update({i: Entry(s, None, e) for i, s, e in zip(skipped, skipped_stamps, errors)})
        return entries

    def is_complete(self) -> bool:
        """The final file holds every planned image, unchanged: nothing to embed or rewrite."""
        return not self.todo and not self.dirty and self.path.is_file()

    def absorbed(self) -> bool:
        """True once a final file holds this plan's embeddings (another job finished it): one
        written since this job planned, so an earlier run's file that happens to carry the same
        plan is never taken for it."""
        if not self.todo:
            return True
        if _file_identity(self.path) == self._final_at_plan:
            return False
        try:
            with h5py.File(self.path, "r") as handle:
                return handle.attrs.get("plan") == self.plan_digest
        except (OSError, KeyError):
            return False

    def known_bad(self) -> list[tuple[str, str]]:
        """(id, error) of listed images found unreadable before and unchanged since."""
        return [(i, self.entries[i].error) for i in self.ids if i in self.entries and self.entries[i].row is None]

    # -- parts ----------------------------------------------------------------------------
    def chunks(self) -> list[tuple[int, int]]:
        """Chunks of positions in the list of images to embed (``todo``)."""
        n = len(self.todo)
        return [(s, min(s + self.chunk_size, n)) for s in range(0, n, self.chunk_size)]

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

    def write_part(self, start: int, end: int, ids: list[str], embeddings: np.ndarray, skipped: list[str],
                   stamps=None, skipped_stamps=None, skipped_errors=None) -> None:
        """Atomically publish one chunk. A duplicate job writing the same chunk publishes the
        same rows under the same name, and each writer's temporary file is unique (even across
        hosts sharing the cache), so duplicates can only waste time. Once a final file holds
        this plan the part is no longer needed and is dropped. Missing stamps are unknown ones
        (such rows are re-embedded by the next run)."""
        if (start, end) not in self.chunks() or self.absorbed():
            return
        self.parts_dir.mkdir(parents=True, exist_ok=True)
        try:
            with written(self._part_path(start, end)) as handle:
                np.savez(handle, ids=np.array(ids, dtype=str), embeddings=embeddings.astype(np.float32),
                         stamps=stamp_array(stamps or [UNKNOWN] * len(ids)),
                         skipped=np.array(skipped, dtype=str),
                         skipped_stamps=stamp_array(skipped_stamps or [UNKNOWN] * len(skipped)),
                         skipped_errors=np.array(skipped_errors or [""] * len(skipped), dtype=str))
        except FileNotFoundError:
            if not self.absorbed():  # the parts folder vanished because another job assembled the cache
                raise

    def missing_message(self, num_shards: int = 1) -> str | None:
        """None when every chunk has its part, else one line naming the missing shard(s) and
        the command that embeds them."""
        done = self.done_chunks()
        missing = [i for i, c in enumerate(self.chunks()) if c not in done]
        if not missing:
            return None
        shards = sorted({i % num_shards for i in missing})
        if num_shards == 1:
            where = ("set embed.num_shards to the value the shard jobs used to see which shard(s) are missing, "
                     "or run without embed.merge_only to embed them here")
        else:
            where = (f"shard(s) {shards} of {num_shards} missing; run them with embed.num_shards={num_shards} "
                     f"embed.shard={','.join(map(str, shards))} (with --multirun for several), then merge again")
        return (f"embedding cache {self.path.name}: {len(missing)} of {len(self.chunks())} chunks missing in "
                f"{self.parts_dir} ({where})")

    def remove_parts(self) -> None:
        """Drop this plan's parts folder, and those of other plans (made stale by changed files, or left by
        a kill between publishing the file and this cleanup) once nothing was written to them for
        ``STALE_PARTS_S``: a shard job of another image set of this cache may still be filling one."""
        now = time.time()
        for folder in self.cache_dir.glob(f"{self.stem}.parts-*"):
            if folder == self.parts_dir or now - _last_write(folder) >= STALE_PARTS_S:
                shutil.rmtree(folder, ignore_errors=True)

    def _read_part(self, start: int, end: int) -> dict[str, Entry]:
        path = self._part_path(start, end)
        try:
            with np.load(path) as part:
                ids, skipped = part["ids"].tolist(), part["skipped"].tolist()
                rows = part["embeddings"]
                stamps, skipped_stamps = stamps_of(part["stamps"]), stamps_of(part["skipped_stamps"])
                errors = part["skipped_errors"].tolist()
        except FileNotFoundError:
            raise
        except Exception as error:  # zipfile.BadZipFile, EOFError, ValueError...: a damaged part
            move_aside(path, one_line(error))
            raise PartsMissing(f"embedding cache part {path} was unreadable and moved aside") from error
        if sorted(ids + skipped) != sorted(self.todo_ids[start:end]) or len(rows) != len(ids):
            raise CacheError(f"embedding cache part {path} holds other images than expected; delete it and rerun")
        entries = {i: Entry(s, row) for i, s, row in zip(ids, stamps, rows)}
        entries.update({i: Entry(s, None, e) for i, s, e in zip(skipped, skipped_stamps, errors)})
        return entries

    def assemble(self, ids: list[str] | None = None, num_shards: int = 1) -> None:
        """Write the final file: reused entries plus every part, in the order of ``ids`` (the
        planned dataset order by default); a missing part names the shard that owns it."""
        problem = self.missing_message(num_shards)
        if problem:
            raise PartsMissing(problem)
        entries = dict(self.entries)
        for start, end in self.chunks():
            try:
                entries.update(self._read_part(start, end))
            except PartsMissing as error:  # moved aside: say which shard (or run) embeds it again
                raise PartsMissing(f"{error}; {self.missing_message(num_shards)}") from error
            except FileNotFoundError:
                if self.absorbed():  # a concurrent merge (a duplicated last shard) finished first
                    return
                raise PartsMissing(f"embedding cache part {self._part_path(start, end)} vanished while merging; run again")
        order = [i for i in (self.ids if ids is None else ids) if i in entries]
        self._write(order, entries)
        self.entries, self.todo, self.todo_ids, self.dirty = {i: entries[i] for i in order}, [], [], False
        self.remove_parts()

    def _write(self, order: list[str], entries: dict[str, Entry]) -> None:
        good = [i for i in order if entries[i].row is not None]
        bad = [i for i in order if entries[i].row is None]
        rows = [entries[i].row for i in good]
        embeddings = np.stack(rows).astype(np.float32) if rows else np.zeros((0, 0), np.float32)
        with h5py.File(io.BytesIO(), "w") as out:
            out.create_dataset("ids", data=np.array(good, dtype=object), dtype=STR)
            out.create_dataset("embeddings", data=embeddings, chunks=(min(len(good), 4096) or 1, embeddings.shape[1] or 1)
                               if embeddings.size else None)
            out.create_dataset("stamps", data=stamp_array([entries[i].stamp for i in good]))
            out.create_dataset("skipped_ids", data=np.array(bad, dtype=object), dtype=STR)
            out.create_dataset("skipped_stamps", data=stamp_array([entries[i].stamp for i in bad]))
            out.create_dataset("skipped_errors", data=np.array([entries[i].error for i in bad], dtype=object), dtype=STR)
            out.attrs.update(fingerprint=json.dumps(self.fingerprint, sort_keys=True, default=str),
                             fingerprint_sha256=self.digest, schema_version=CACHE_SCHEMA_VERSION,
                             dataset=self.fingerprint["dataset"], backbone=self.fingerprint["backbone"],
                             plan=self.plan_digest)
            out.flush()
            publish(out.id.get_file_image(), self.path)

    def update(self) -> None:
        """Rewrite the final file when nothing is to embed but entries were dropped or re-stamped."""
        if self.dirty:
            self._write([i for i in self.ids if i in self.entries], self.entries)
            self.dirty = False

    def read(self) -> ImageEmbeddings:
        """The planned images' embeddings, in dataset order."""
        kept = [i for i in self.ids if i in self.entries]
        good = [i for i in kept if self.entries[i].row is not None]
        bad = [i for i in kept if self.entries[i].row is None]
        rows = [self.entries[i].row for i in good]
        embeddings = np.stack(rows).astype(np.float32) if rows else np.zeros((0, 0), np.float32)
        return ImageEmbeddings(ids=good, embeddings=embeddings, skipped_ids=bad, path=self.path,
                               skipped_errors=[self.entries[i].error for i in bad])


def _last_write(folder: Path) -> float:
    """The newest modification time of ``folder`` and its files (0 when it vanished meanwhile)."""
    try:
        return max([folder.stat().st_mtime] + [p.stat().st_mtime for p in folder.iterdir()])
    except OSError:
        return 0.0
