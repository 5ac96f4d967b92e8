"""The HDF5 embedding cache: reuse, fingerprints, crash-safe resume, bad images, prompts."""
import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from conftest import ROOT, write_image_folder
from indirect.backbones.open_clip_backbone import OpenClipBackbone
from indirect.datasets.folder import load_folder
from indirect.embedding import embed_images, embed_texts
from indirect.embedding.extract import BadImageError
from indirect.embedding.image_cache import CacheError


@pytest.fixture(scope="module")
def tiny():
    return OpenClipBackbone("indirect-tiny-vit", None, device="cpu", seed=0)


def test_second_run_is_served_from_cache(tmp_path, tiny, monkeypatch):
    data = load_folder(write_image_folder(tmp_path / "img", per_class=3))
    first = embed_images(tiny, data, tmp_path / "cache", num_workers=0, chunk_size=4, batch_size=3)
    assert first.embeddings.shape == (9, 32) and sorted(first.ids) == sorted(data.ids)
    monkeypatch.setattr(tiny, "image_features", lambda *_: pytest.fail("recomputed a cached embedding"))
    second = embed_images(tiny, data, tmp_path / "cache", num_workers=0, chunk_size=4)
    assert second.ids == first.ids and np.array_equal(second.embeddings, first.embeddings)
    with h5py.File(first.path) as handle:  # the documented schema, readable with plain h5py
        assert list(handle["ids"].asstr()[:]) == first.ids
        assert handle["embeddings"].shape == (9, 32) and "fingerprint" in handle.attrs
        assert handle.attrs["schema_version"] == 2
        stamp = handle["stamps"][first.ids.index("red/0.png")]
        image = data.paths[data.ids.index("red/0.png")]
        assert stamp["size"] == image.stat().st_size and stamp["mtime_ns"] == image.stat().st_mtime_ns
        assert stamp["sha1"].decode() == hashlib.sha1(image.read_bytes()).hexdigest()


def test_changed_checkpoint_is_not_served_from_old_cache(tmp_path, tiny):
    data = load_folder(write_image_folder(tmp_path / "img", per_class=2))
    ckpt = tmp_path / "w.pt"
    torch.save({"state_dict": tiny.model.state_dict()}, ckpt)
    a = embed_images(OpenClipBackbone("indirect-tiny-vit", str(ckpt), device="cpu"), data, tmp_path / "c", num_workers=0)
    torch.save({"state_dict": OpenClipBackbone("indirect-tiny-vit", None, device="cpu", seed=5).model.state_dict()}, ckpt)
    b = embed_images(OpenClipBackbone("indirect-tiny-vit", str(ckpt), device="cpu"), data, tmp_path / "c", num_workers=0)
    assert a.path != b.path
    assert not np.allclose(a.embeddings, b.embeddings)


KILL_SCRIPT = """
import sys, time
sys.path.insert(0, {root!r})
from indirect.backbones.open_clip_backbone import OpenClipBackbone
from indirect.datasets.folder import load_folder
from indirect.embedding import embed_images
backbone = OpenClipBackbone("indirect-tiny-vit", None, device="cpu", seed=0)
slow = backbone.image_features
def image_features(x):
    time.sleep(0.3)
    return slow(x)
backbone.image_features = image_features
embed_images(backbone, load_folder({images!r}), {cache!r}, num_workers=0, chunk_size=4, batch_size=2)
"""


def test_sigkill_mid_run_resumes_to_the_same_cache(tmp_path, tiny):
    images = write_image_folder(tmp_path / "img", per_class=8)
    cache = tmp_path / "cache"
    script = tmp_path / "embed.py"
    script.write_text(KILL_SCRIPT.format(root=str(ROOT), images=str(images), cache=str(cache)))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and len(list(cache.glob("*.parts-*/part_*.npz"))) < 2:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    parts = list(cache.glob("*.parts-*/part_*.npz"))
    assert 2 <= len(parts) < 6, "the kill should land part-way through the 6 chunks"
    assert not list(cache.glob("*.h5"))
    data = load_folder(images)
    resumed = embed_images(tiny, data, cache, num_workers=0, chunk_size=4, batch_size=2)
    fresh = embed_images(tiny, data, tmp_path / "fresh", num_workers=0, chunk_size=4, batch_size=2)
    assert len(resumed.ids) == len(set(resumed.ids)) == 24
    assert resumed.ids == fresh.ids
    np.testing.assert_allclose(resumed.embeddings, fresh.embeddings, rtol=1e-5, atol=1e-6)


def test_corrupt_image_skipped_with_count_or_failing_clearly(tmp_path, tiny):
    root = write_image_folder(tmp_path / "img", per_class=2)
    (root / "red" / "broken.png").write_bytes(b"not a png")
    data = load_folder(root)
    with pytest.raises(BadImageError, match="broken.png.*on_bad_image=skip"):
        embed_images(tiny, data, tmp_path / "c1", num_workers=0, on_bad_image="fail")
    result = embed_images(tiny, data, tmp_path / "c2", num_workers=0, on_bad_image="skip")
    assert result.skipped_ids == ["red/broken.png"]
    assert len(result.ids) == 6 and "red/broken.png" not in result.ids


def test_shards_merge_into_the_single_process_cache_and_detect_a_missing_one(tmp_path, tiny):
    data = load_folder(write_image_folder(tmp_path / "img", per_class=4))
    single = embed_images(tiny, data, tmp_path / "one", num_workers=0, chunk_size=2)
    options = dict(num_workers=0, chunk_size=2, num_shards=3)
    assert embed_images(tiny, data, tmp_path / "sh", shard=0, **options) is None
    assert embed_images(tiny, data, tmp_path / "sh", shard=2, **options) is None
    from indirect.embedding.extract import image_cache_for

    with pytest.raises(CacheError, match=r"shard\(s\) \[1\] of 3"):
        image_cache_for(tiny, data, tmp_path / "sh", chunk_size=2).assemble(data.ids, 3)
    merged = embed_images(tiny, data, tmp_path / "sh", shard=1, **options)
    assert merged.ids == single.ids
    np.testing.assert_allclose(merged.embeddings, single.embeddings, rtol=1e-5, atol=1e-6)


def test_prompt_embeddings_cached_by_exact_string(tmp_path, tiny, monkeypatch):
    first = embed_texts(tiny, ["a red thing", "a blue thing"], tmp_path)
    calls = []
    original = tiny.text_features
    monkeypatch.setattr(tiny, "text_features", lambda texts: calls.append(list(texts)) or original(texts))
    second = embed_texts(tiny, ["a blue thing", "a red thing", "a green thing"], tmp_path)
    assert calls == [["a green thing"]]
    np.testing.assert_allclose(second[1], first[0], atol=1e-6)
    np.testing.assert_allclose(second[0], first[1], atol=1e-6)
