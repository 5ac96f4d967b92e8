"""Fault injection: stale images, odd pixels, degenerate input, damaged or unwritable caches, bad
options. Each case here gave a wrong number, a traceback or a segfault before; now it heals or
is one line (see docs/faults.md)."""
import errno
import json
import logging
import math
import os
import time
import traceback
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from PIL import Image

from conftest import COLOURS, TINY, compose_config, run_train_eval, write_image_folder
from indirect.backbones.open_clip_backbone import OpenClipBackbone
from indirect.datasets.folder import load_folder
from indirect.embedding import embed_images, embed_texts, extract
from indirect.embedding.images import ImageDataset, open_rgb, to_rgb
from indirect.embedding.text_cache import text_cache_path
from indirect.errors import BadImageError, CacheError, ConfigError, MetricsError, UserError
from indirect.jsonsafe import to_json
from indirect.metrics.evaluate import evaluate, require_measurable

QUICK = dict(num_workers=0, chunk_size=4)


@pytest.fixture(scope="module")
def tiny():
    return OpenClipBackbone("indirect-tiny-vit", None, device="cpu", seed=0)


@pytest.fixture
def counted(tiny, monkeypatch):
    """The tiny backbone, counting the images it embeds."""
    seen = []
    original = type(tiny).image_features
    monkeypatch.setattr(tiny, "image_features", lambda batch: seen.append(len(batch)) or original(tiny, batch))
    return tiny, seen


def square(path, rgb, offset=0, size=24):
    pixels = np.full((size, size, 3), 128, np.uint8)
    pixels[offset:offset + size // 2, offset:offset + size // 2] = rgb
    Image.fromarray(pixels).save(path)


def row(result, image_id):
    return result.embeddings[result.ids.index(image_id)]


# -- 1. the cache is keyed by content ---------------------------------------------------------

def test_an_image_overwritten_under_the_same_name_is_re_embedded_alone(tmp_path, counted):
    tiny, seen = counted
    root = write_image_folder(tmp_path / "img", per_class=3)
    first = embed_images(tiny, load_folder(root), tmp_path / "cache", **QUICK)
    seen.clear()
    square(root / "red" / "0.png", (10, 10, 250), offset=6)  # another picture, same name
    again = embed_images(tiny, load_folder(root), tmp_path / "cache", **QUICK)
    assert sum(seen) == 1  # only the changed image
    fresh = embed_images(tiny, load_folder(root), tmp_path / "fresh", **QUICK)
    assert not np.allclose(row(again, "red/0.png"), row(first, "red/0.png"), atol=1e-3)
    np.testing.assert_allclose(again.embeddings, fresh.embeddings, rtol=1e-5, atol=1e-5)
    assert again.ids == fresh.ids


def test_added_and_removed_images_update_the_cache_incrementally(tmp_path, counted):
    tiny, seen = counted
    root = write_image_folder(tmp_path / "img", per_class=3)
    embed_images(tiny, load_folder(root), tmp_path / "cache", **QUICK)
    seen.clear()
    (root / "green" / "1.png").unlink()
    square(root / "blue" / "new.png", (0, 0, 255), offset=3)
    square(root / "red" / "new.png", (255, 0, 0), offset=5)
    again = embed_images(tiny, load_folder(root), tmp_path / "cache", **QUICK)
    assert sum(seen) == 2
    assert "green/1.png" not in again.ids and {"blue/new.png", "red/new.png"} <= set(again.ids)
    with h5py.File(again.path) as handle:  # the removed image is dropped from the file too
        assert sorted(handle["ids"].asstr()[:]) == sorted(again.ids) and len(again.ids) == 10
    fresh = embed_images(tiny, load_folder(root), tmp_path / "fresh", **QUICK)
    np.testing.assert_allclose(again.embeddings, fresh.embeddings, rtol=1e-5, atol=1e-5)


def test_a_touched_but_unchanged_image_is_not_re_embedded(tmp_path, counted):
    tiny, seen = counted
    root = write_image_folder(tmp_path / "img", per_class=2)
    embed_images(tiny, load_folder(root), tmp_path / "cache", **QUICK)
    seen.clear()
    later = time.time_ns() + 10**9
    for path in root.glob("*/*.png"):
        os.utime(path, ns=(later, later))
    embed_images(tiny, load_folder(root), tmp_path / "cache", **QUICK)
    assert seen == []


def test_a_change_that_keeps_size_and_mtime_is_seen_when_the_mtime_was_recent(tmp_path, counted):
    """A file written within the file system's time granularity of being embedded could change
    again without a new mtime: such a stamp is racy and verified by hash on the next run."""
    tiny, seen = counted
    root = write_image_folder(tmp_path / "img", per_class=2)
    target = root / "blue" / "raw.bmp"  # uncompressed: same dimensions, same size
    square(target, (0, 0, 250))
    future = time.time_ns() + 60 * 10**9  # 'just written' for the whole test
    os.utime(target, ns=(future, future))
    first = embed_images(tiny, load_folder(root), tmp_path / "cache", **QUICK)
    size = target.stat().st_size
    square(target, (250, 250, 10))
    assert target.stat().st_size == size
    os.utime(target, ns=(future, future))
    seen.clear()
    again = embed_images(tiny, load_folder(root), tmp_path / "cache", **QUICK)
    assert sum(seen) == 1
    assert not np.allclose(row(again, "blue/raw.bmp"), row(first, "blue/raw.bmp"), atol=1e-3)


def test_images_swapped_or_replaced_with_their_old_size_and_mtime_are_re_embedded(tmp_path, counted, monkeypatch):
    """An archive's files share one old, whole-second mtime; same-sized images swapped by mv, or
    one edited and given its mtime back (cp -p, rsync -a), keep size and mtime: their new ctime
    makes the cache hash them, and the changed ones are embedded again. (No stamp is racy here:
    the files were just written, so their ctimes would make them racy and hashed anyway.)"""
    from indirect.embedding import images as images_module

    monkeypatch.setattr(images_module, "RACY_NS", 0)
    tiny, seen = counted
    root = write_image_folder(tmp_path / "img", per_class=2)
    a, b, c = root / "blue" / "a.bmp", root / "blue" / "b.bmp", root / "red" / "c.bmp"
    for path, rgb in ((a, (0, 0, 250)), (b, (250, 250, 10)), (c, (250, 0, 0))):
        square(path, rgb)
    archived = 1_600_000_000 * 10**9
    for path in root.glob("*/*"):
        os.utime(path, ns=(archived, archived))
    first = embed_images(tiny, load_folder(root), tmp_path / "cache", **QUICK)
    a.rename(root / "tmp.bmp"), b.rename(a), (root / "tmp.bmp").rename(b)
    square(c, (10, 250, 250))
    os.utime(c, ns=(archived, archived))
    assert a.stat().st_mtime_ns == b.stat().st_mtime_ns == c.stat().st_mtime_ns == archived
    seen.clear()
    again = embed_images(tiny, load_folder(root), tmp_path / "cache", **QUICK)
    assert sum(seen) == 3                      # the three changed images, the others only hashed
    np.testing.assert_allclose(row(again, "blue/a.bmp"), row(first, "blue/b.bmp"), atol=1e-5)
    np.testing.assert_allclose(row(again, "blue/b.bmp"), row(first, "blue/a.bmp"), atol=1e-5)
    fresh = embed_images(tiny, load_folder(root), tmp_path / "fresh", **QUICK)
    np.testing.assert_allclose(again.embeddings, fresh.embeddings, rtol=1e-5, atol=1e-5)
    seen.clear()
    embed_images(tiny, load_folder(root), tmp_path / "cache", **QUICK)
    assert seen == []                           # new times stored: the next run trusts them


def test_a_recently_touched_image_stays_racy_after_its_stamp_is_refreshed(tmp_path, counted):
    """A touched, unchanged image gets its new times stored; times under 2 s old stay racy (hashed
    on every run) so an edit within the file system's time granularity is still seen."""
    tiny, seen = counted
    root = write_image_folder(tmp_path / "img", per_class=2)
    target = root / "blue" / "raw.bmp"
    square(target, (0, 0, 250))
    old = 1_600_000_000 * 10**9
    os.utime(target, ns=(old, old))
    embed_images(tiny, load_folder(root), tmp_path / "cache", **QUICK)
    recent = time.time_ns() + 60 * 10**9          # 'just written' for the whole test
    os.utime(target, ns=(recent, recent))
    seen.clear()
    refreshed = embed_images(tiny, load_folder(root), tmp_path / "cache", **QUICK)
    assert seen == []                             # refreshed, not re-embedded
    with h5py.File(refreshed.path) as handle:
        stamp = handle["stamps"][refreshed.ids.index("blue/raw.bmp")]
    assert stamp["mtime_ns"] == recent and stamp["racy"] == 1   # stays racy: hashed on every run
    square(target, (250, 250, 10))                # a same-size edit that keeps both times
    os.utime(target, ns=(recent, recent))
    again = embed_images(tiny, load_folder(root), tmp_path / "cache", **QUICK)
    assert sum(seen) == 1
    fresh = embed_images(tiny, load_folder(root), tmp_path / "fresh", **QUICK)
    np.testing.assert_allclose(row(again, "blue/raw.bmp"), row(fresh, "blue/raw.bmp"), atol=1e-5)


def test_an_image_that_cannot_be_opened_stays_skipped_run_after_run_until_it_can(tmp_path, counted):
    """A broken symbolic link: every run re-planned it with the same plan, so from the third run
    on the cache took its own earlier file for another job's and failed ('parts vanished or broke
    again'). Now its stat stamp is kept: skipped, not retried, until the link is mended."""
    tiny, seen = counted
    root = write_image_folder(tmp_path / "img", per_class=2)
    target = tmp_path / "elsewhere.png"
    (root / "red" / "link.png").symlink_to(target)
    for _ in range(4):
        result = embed_images(tiny, load_folder(root), tmp_path / "cache", **QUICK)
        assert result.skipped_ids == ["red/link.png"] and len(result.ids) == 6
    seen.clear()
    square(target, (250, 0, 0))
    mended = embed_images(tiny, load_folder(root), tmp_path / "cache", **QUICK)
    assert mended.skipped_ids == [] and "red/link.png" in mended.ids and sum(seen) == 1


def test_a_cache_written_before_ctimes_were_kept_is_reused_after_one_hash(tmp_path, counted):
    """Stamps without ctime_ns (the earlier schema) read as unknown: the files are hashed once,
    nothing is embedded again, and the rewritten file keeps their ctimes."""
    tiny, seen = counted
    root = write_image_folder(tmp_path / "img", per_class=2)
    first = embed_images(tiny, load_folder(root), tmp_path / "cache", **QUICK)
    old_schema = np.dtype([("size", "<i8"), ("mtime_ns", "<i8"), ("sha1", "S40"), ("racy", "u1")])
    with h5py.File(first.path, "r+") as handle:
        stamps = handle["stamps"][:]
        del handle["stamps"]
        handle.create_dataset("stamps", data=np.array([tuple(s)[:4] for s in stamps.tolist()], dtype=old_schema))
    seen.clear()
    again = embed_images(tiny, load_folder(root), tmp_path / "cache", **QUICK)
    assert seen == [] and again.ids == first.ids and np.array_equal(again.embeddings, first.embeddings)
    with h5py.File(again.path) as handle:
        assert "ctime_ns" in handle["stamps"].dtype.names and (handle["stamps"]["ctime_ns"] > 0).all()


def test_a_fixed_image_is_retried_and_the_fail_policy_applies_to_cached_skips(tmp_path, tiny):
    root = write_image_folder(tmp_path / "img", per_class=2)
    (root / "red" / "broken.png").write_bytes(b"not a png")
    cache = tmp_path / "cache"
    first = embed_images(tiny, load_folder(root), cache, on_bad_image="skip", **QUICK)
    assert first.skipped_ids == ["red/broken.png"]
    with pytest.raises(BadImageError, match=r"broken.png: UnidentifiedImageError: cannot identify image file 'broken.png'.*on_bad_image=skip"):
        embed_images(tiny, load_folder(root), cache, on_bad_image="fail", **QUICK)
    square(root / "red" / "broken.png", (200, 0, 0))
    fixed = embed_images(tiny, load_folder(root), cache, on_bad_image="fail", **QUICK)
    assert fixed.skipped_ids == [] and "red/broken.png" in fixed.ids


def test_batch_size_changes_no_embedding_beyond_1e_5(tmp_path, tiny):
    data = load_folder(write_image_folder(tmp_path / "img", per_class=4))
    results = [embed_images(tiny, data, tmp_path / f"b{size}", batch_size=size, num_workers=0).embeddings
               for size in (1, 5, 64)]
    for other in results[1:]:
        assert np.abs(other - results[0]).max() <= 1e-5


# -- 2. images decoded as what they show ------------------------------------------------------

def grey_pair(tmp_path):
    ramp = np.tile(np.linspace(0, 65535, 32), (32, 1)).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "g16.png")
    Image.fromarray((ramp // 257).astype(np.uint8)).save(tmp_path / "g8.png")
    return tmp_path / "g16.png", tmp_path / "g8.png"


def test_sixteen_bit_grey_is_scaled_not_clipped(tmp_path, tiny):
    deep, shallow = grey_pair(tmp_path)
    assert Image.open(deep).mode in ("I;16", "I")
    a, b = np.asarray(open_rgb(deep), np.int16), np.asarray(open_rgb(shallow), np.int16)
    assert np.abs(a - b).max() <= 1
    items = ImageDataset([deep, shallow], tiny.preprocess)
    with torch.inference_mode():
        x = tiny.image_features(torch.stack([items[0][1], items[1][1]])).numpy()
    cosine = x[0] @ x[1] / np.linalg.norm(x[0]) / np.linalg.norm(x[1])
    assert cosine > 0.999


@pytest.mark.parametrize("mode, values, expected", [
    ("I", [0, 32768, 65535], [0, 128, 255]),
    ("F", [0.0, 0.5, 1.0], [0, 128, 255]),
    ("F", [-2.0, 0.0, 2.0], [0, 128, 255]),
    ("I", [0, 100000, 200000], [0, 128, 255]),
])
def test_other_high_bit_depth_modes_are_scaled(mode, values, expected):
    image = Image.fromarray(np.array([values], dtype=np.float32 if mode == "F" else np.int32), mode)
    assert np.asarray(to_rgb(image))[0, :, 0].tolist() == expected


def test_exif_orientation_is_applied(tmp_path):
    pixels = np.zeros((20, 40, 3), np.uint8)
    pixels[:, :20] = (255, 0, 0)  # red left half of a landscape picture
    stored = Image.fromarray(pixels)
    exif = stored.getexif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    stored.save(tmp_path / "rotated.jpg", exif=exif, quality=95)
    shown = np.asarray(open_rgb(tmp_path / "rotated.jpg"))
    assert shown.shape == (40, 20, 3)  # displayed as a portrait
    assert shown[5, 10, 0] > 200 and shown[35, 10, 0] < 60  # red on top after the turn


def test_palette_and_transparency_decode_as_before(tmp_path):
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 1] = 200
    rgba[:4, :, 3] = 255
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    Image.fromarray(rgba[..., :3]).convert("P").save(tmp_path / "p.png", transparency=0)
    for name in ("a.png", "p.png"):
        with Image.open(tmp_path / name) as image:
            assert np.array_equal(np.asarray(open_rgb(tmp_path / name)), np.asarray(image.convert("RGB")))


# -- 3. refuse what cannot be measured --------------------------------------------------------

def test_no_readable_image_is_refused(tmp_path, tiny):
    root = tmp_path / "img"
    for name in COLOURS:
        (root / name).mkdir(parents=True)
        (root / name / "0.png").write_bytes(b"garbage")
    with pytest.raises(BadImageError, match=r"none of the 3 image\(s\).*could be read"):
        embed_images(tiny, load_folder(root), tmp_path / "cache", **QUICK)


def test_one_class_or_only_singletons_are_refused():
    x = np.random.default_rng(0).normal(size=(10, 4))
    with pytest.raises(MetricsError, match=r"1 class\(es\) over 10 image\(s\), 1 with at least two"):
        evaluate(x, ["red"] * 10)
    with pytest.raises(MetricsError, match=r"notion 'color'.*3 class\(es\) over 4 image\(s\), 1 with at least two"):
        require_measurable(["red", "red", "blue", "green"], "notion 'color'")
    require_measurable(["red", "red", "blue", "blue", "green"])  # two measurable classes: fine


def test_results_json_never_holds_nan():
    text = to_json({"a": float("nan"), "b": [np.float32("inf"), 1.5], "c": {"d": np.float64(2.0)}}, indent=2)
    assert json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in JSON")) == \
        {"a": None, "b": [None, 1.5], "c": {"d": 2.0}}


def one_line_exit_2(proc, *fragments):
    assert proc.returncode == 2, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and all(f in errors[0] for f in fragments), proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr


FOLDER = ["dataset=folder", "notion=label", "prompts.vocabulary=[red,green,blue]",
          "prompts.templates=['a photo of a {} square']"]


def refusal(tmp_path, *overrides) -> str:
    """The experiment train_eval.py runs, in this process (no 20 s of imports): the one-line
    message of the UserError it raises (train_eval.py prints it and exits 2, see the subprocess test)."""
    from indirect.experiment import run

    with pytest.raises(UserError) as caught:
        run(compose_config(tmp_path, *overrides))
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "run" / "results.json").exists()
    return str(caught.value)


def test_one_class_run_exits_2_with_one_line(tmp_path):
    root = tmp_path / "one"
    (root / "red").mkdir(parents=True)
    for i in range(4):
        square(root / "red" / f"{i}.png", (250, 0, 0), offset=i)
    proc = run_train_eval(tmp_path, *FOLDER, f"dataset.root={root}", *TINY, check=False)
    one_line_exit_2(proc, "1 class(es) over 4 image(s)")
    assert not (tmp_path / "run" / "results.json").exists()


def test_a_run_with_singleton_classes_is_refused_naming_notion_and_column(tmp_path):
    root = write_image_folder(tmp_path / "img", per_class=1)
    message = refusal(tmp_path, *FOLDER, f"dataset.root={root}", *TINY)
    assert message.startswith("notion 'label' (label column 'label') of dataset 'folder': 3 class(es) over 3 image(s), "
                              "0 with at least two"), message


def test_all_unreadable_run_stops_with_one_line(tmp_path):
    root = tmp_path / "bad"
    for name in COLOURS:
        (root / name).mkdir(parents=True)
        (root / name / "0.png").write_bytes(b"")
    message = refusal(tmp_path, *FOLDER, f"dataset.root={root}", *TINY)
    assert "none of the 3 image(s)" in message and str(root) in message


# -- 5. faults heal or are named --------------------------------------------------------------

def other_width(path: Path, width: int = 10) -> None:
    """Rewrite the embeddings of an HDF5 cache file with rows of ``width``: a consistent file of another
    backbone (it was read as is and failed later: 'InDiReCT was fitted on 32-dim embeddings but got 10-dim')."""
    with h5py.File(path, "r+") as handle:
        rows = len(handle["embeddings"])
        del handle["embeddings"]
        handle.create_dataset("embeddings", data=np.ones((rows, width), np.float32))


@pytest.mark.parametrize("damage", [b"", b"garbage, not HDF5", "truncate", "width"])
def test_a_damaged_image_cache_is_moved_aside_and_recomputed(tmp_path, tiny, damage, caplog):
    data = load_folder(write_image_folder(tmp_path / "img", per_class=2))
    good = embed_images(tiny, data, tmp_path / "cache", **QUICK)
    content = good.path.read_bytes()
    if damage == "width":
        other_width(good.path)
    else:
        good.path.write_bytes(content[: len(content) // 2] if damage == "truncate" else damage)
    with caplog.at_level(logging.WARNING):
        healed = embed_images(tiny, data, tmp_path / "cache", **QUICK)
    aside = list((tmp_path / "cache").glob(f"{good.path.name}.corrupt-*"))
    assert len(aside) == 1 and good.path.name in caplog.text and "moved aside" in caplog.text
    np.testing.assert_array_equal(healed.embeddings, good.embeddings)
    assert h5py.File(healed.path)["embeddings"].shape == good.embeddings.shape


@pytest.mark.parametrize("damage", ["truncate", "width"])
def test_a_damaged_text_cache_is_moved_aside_and_recomputed(tmp_path, tiny, damage, caplog):
    prompts = ["a red thing", "a blue thing"]
    good = embed_texts(tiny, prompts, tmp_path)
    path = text_cache_path(tmp_path, tiny)
    if damage == "width":
        other_width(path)
    else:
        path.write_bytes(path.read_bytes()[:100])
    with caplog.at_level(logging.WARNING):
        healed = embed_texts(tiny, prompts, tmp_path)
    assert list(tmp_path.glob(f"{path.name}.corrupt-*")) and path.name in caplog.text
    np.testing.assert_allclose(healed, good, atol=1e-6)


def test_a_damaged_part_file_is_moved_aside_and_re_embedded(tmp_path, tiny, caplog):
    data = load_folder(write_image_folder(tmp_path / "img", per_class=3))  # 9 images, 3 chunks of 4
    cache = extract.image_cache_for(tiny, data, tmp_path / "cache", chunk_size=4)
    cache.parts_dir.mkdir(parents=True)
    cache._part_path(0, 4).write_bytes(b"PK\x03\x04 half a zip")  # BadZipFile before
    with caplog.at_level(logging.WARNING):
        result = embed_images(tiny, data, tmp_path / "cache", **QUICK)
    assert "part_000000000_000000004.npz is unreadable" in caplog.text and "moved aside" in caplog.text
    fresh = embed_images(tiny, data, tmp_path / "fresh", **QUICK)
    assert result.ids == fresh.ids
    np.testing.assert_allclose(result.embeddings, fresh.embeddings, rtol=1e-5, atol=1e-6)
    assert not cache.parts_dir.exists()


def test_a_part_deleted_during_the_run_is_embedded_again(tmp_path, tiny, monkeypatch):
    data = load_folder(write_image_folder(tmp_path / "img", per_class=3))
    flush = extract._flush

    def flush_then_delete_the_first(cache, chunk, *args):
        flush(cache, chunk, *args)
        if chunk == (8, 9):
            cache._part_path(0, 4).unlink(missing_ok=True)

    monkeypatch.setattr(extract, "_flush", flush_then_delete_the_first)
    result = embed_images(tiny, data, tmp_path / "cache", **QUICK)
    assert sorted(result.ids) == sorted(data.ids)


def test_unwritable_cache_folder_is_one_line(tmp_path, tiny, monkeypatch):
    data = load_folder(write_image_folder(tmp_path / "img", per_class=2))
    from filelock import FileLock

    def refuse(self, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", self.lock_file)

    monkeypatch.setattr(FileLock, "acquire", refuse)
    with pytest.raises(CacheError, match=r"cannot write the embedding cache in .*cache \(permission denied.*paths.cache_dir"):
        embed_images(tiny, data, tmp_path / "cache", **QUICK)
    with pytest.raises(CacheError, match="permission denied"):
        embed_texts(tiny, ["a red thing"], tmp_path / "cache")


@pytest.mark.parametrize("stage", ["part", "final"])
def test_a_full_disk_is_one_line_and_leaves_no_temporary_file(tmp_path, tiny, monkeypatch, stage):
    data = load_folder(write_image_folder(tmp_path / "img", per_class=2))
    real_fsync = os.fsync

    def full(fd):
        name = os.readlink(f"/proc/self/fd/{fd}") if os.path.exists(f"/proc/self/fd/{fd}") else ""
        if (".npz." in name) == (stage == "part"):
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(CacheError, match=r"no space left on device.*free some space"):
        embed_images(tiny, data, tmp_path / "cache", **QUICK)
    assert not [p for p in (tmp_path / "cache").rglob("*") if p.name.endswith(".tmp")]
    assert not list((tmp_path / "cache").glob("*.h5"))


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
def test_a_full_disk_stops_the_run_a_batch_later_in_one_line_and_keeps_the_parts_written(tmp_path, counted,
                                                                                         monkeypatch):
    """From the third part on every write lands on /dev/full, which fails the write and each close
    after it as a full disk does: the run used to embed every image first, then raise three
    chained ENOSPC errors behind its message."""
    from indirect.embedding import image_cache

    tiny, seen = counted
    data = load_folder(write_image_folder(tmp_path / "img", per_class=8))  # 24 images, 12 parts of 2
    real_temporary, parts = image_cache.unique_temporary, []

    def full_from_the_third_part(final):
        if final.suffix != ".npz":
            return real_temporary(final)
        parts.append(final)
        if len(parts) < 3:
            return real_temporary(final)
        link = real_temporary(final)
        link.symlink_to("/dev/full")
        return link

    monkeypatch.setattr(image_cache, "unique_temporary", full_from_the_third_part)
    slow = tiny.image_features
    monkeypatch.setattr(tiny, "image_features", lambda batch: time.sleep(0.01) or slow(batch))  # the writer's turn
    with pytest.raises(CacheError) as caught:
        embed_images(tiny, data, tmp_path / "cache", num_workers=0, chunk_size=2, batch_size=1)
    message = str(caught.value)
    assert "\n" not in message and "no space left on device on " in message and "free some space" in message
    assert message.split(" on ")[-1].startswith(str(tmp_path / "cache")) and ".npz" in message
    printed = "".join(traceback.format_exception(caught.value))  # what an uncaught error shows
    assert printed.count(f"[Errno {errno.ENOSPC}]") == 1 and printed.count("Traceback") == 2
    assert sum(seen) <= 10, f"{sum(seen)} of 24 images embedded before the full disk stopped the run"
    kept = sorted(p.name for p in (tmp_path / "cache").glob("*.parts-*/part_*.npz"))
    assert kept == ["part_000000000_000000002.npz", "part_000000002_000000004.npz"]
    assert not [p for p in (tmp_path / "cache").rglob("*") if p.name.endswith(".tmp")]

    monkeypatch.setattr(image_cache, "unique_temporary", real_temporary)
    seen.clear()
    result = embed_images(tiny, data, tmp_path / "cache", num_workers=0, chunk_size=2, batch_size=1)
    assert sum(seen) == 20 and sorted(result.ids) == sorted(data.ids)  # the 4 images kept in parts are not redone


# -- 6. messages ------------------------------------------------------------------------------

@pytest.mark.parametrize("option, value, fragment", [
    ("batch_size", 0, "embed.batch_size=0 is not a positive number"),
    ("batch_size", -5, "embed.batch_size=-5 is not a positive number"),
    ("chunk_size", 0, "embed.chunk_size=0 is not a positive number"),
    ("num_workers", -1, "embed.num_workers=-1"),
])
def test_bad_embed_options_name_the_value_and_the_fix(tmp_path, tiny, option, value, fragment):
    data = load_folder(write_image_folder(tmp_path / "img", per_class=1))
    with pytest.raises(ConfigError, match=fragment.replace(".", r"\.")):
        embed_images(tiny, data, tmp_path, **{**QUICK, option: value})


@pytest.mark.parametrize("option, value", [("num_shards", 0), ("num_workers", -2), ("on_bad_image", "ignore"),
                                           ("batch_size", "big"), ("decode", "gpu")])
def test_the_command_line_and_a_library_call_refuse_an_embed_value_in_the_same_words(tmp_path, tiny, option, value):
    """One check for both doors: the validation stage (before anything loads) and embed_images."""
    from indirect.experiment.validation import validate

    data = load_folder(write_image_folder(tmp_path / "img", per_class=1))
    with pytest.raises(ConfigError) as library:
        embed_images(tiny, data, tmp_path / "cache", **{**QUICK, option: value})
    with pytest.raises(ConfigError) as command_line:
        validate(compose_config(tmp_path, f"embed.{option}={value}"))
    assert str(library.value) == str(command_line.value) and str(library.value).startswith(f"embed.{option}=")
    assert not (tmp_path / "cache").exists()


@pytest.mark.parametrize("override", ["embed.chunk_size=0", "embed.batch_size=-5", "seed=abc", "evaluation.k=0"])
def test_item_6_values_are_refused_before_anything_loads(tmp_path, override):
    from indirect.experiment.validation import validate

    with pytest.raises(ConfigError) as caught:
        validate(compose_config(tmp_path, override))
    name, value = override.split("=")
    assert str(caught.value).startswith(f"{name}={value if value != 'abc' else repr(value)} ") and "\n" not in str(caught.value)


def test_negative_batch_size_run_stops_without_the_shard_hint(tmp_path, image_folder):
    message = refusal(tmp_path, *FOLDER, f"dataset.root={image_folder}", *TINY, "embed.batch_size=-5")
    assert "embed.batch_size=-5" in message and "num_shards" not in message


@pytest.mark.parametrize("hook, key, leaf", [("on_run_start", "run", "run"), ("on_multirun_start", "sweep", "m")])
def test_an_uncreatable_hydra_dir_is_one_line_and_exit_2(tmp_path, capsys, monkeypatch, hook, key, leaf):
    from omegaconf import OmegaConf

    from indirect.sweep_callbacks import SweepDirectory

    def start(parent):
        config = OmegaConf.create({"hydra": {"run": {"dir": str(parent / "run")}, "sweep": {"dir": str(parent / "m")}}})
        with pytest.raises(SystemExit) as stopped:
            getattr(SweepDirectory(), hook)(config)
        assert stopped.value.code == 2
        return capsys.readouterr().err

    (tmp_path / "file").write_text("")
    assert start(tmp_path / "file") == (f"error: hydra.{key}.dir={tmp_path / 'file' / leaf} cannot be created "
                                        f"({tmp_path / 'file'} is a file, not a folder); set hydra.{key}.dir "
                                        "(or paths.log_dir) to a writable folder\n")
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != tmp_path)
    assert f"({tmp_path} is not writable)" in start(tmp_path / "new")
    assert not (tmp_path / "new").exists()


def test_merge_only_with_a_shard_is_refused_by_the_command_line_and_a_library_call_alike(tmp_path, counted):
    """It used to embed the shard: merge_only was read only without embed.shard."""
    from indirect.experiment.validation import validate

    tiny, seen = counted
    data = load_folder(write_image_folder(tmp_path / "img", per_class=2))
    with pytest.raises(ConfigError) as library:
        embed_images(tiny, data, tmp_path / "cache", merge_only=True, num_shards=3, shard=0, **QUICK)
    with pytest.raises(ConfigError) as command_line:
        validate(compose_config(tmp_path, "embed.merge_only=true", "embed.num_shards=3", "embed.shard=0"))
    assert str(library.value) == str(command_line.value)
    message = str(library.value)
    assert message.startswith("embed.merge_only=true with embed.shard=0: ") and "set embed.shard=null" in message
    assert not seen and not (tmp_path / "cache").exists()


def test_merge_only_on_an_unsharded_cache_does_not_blame_shards_alone(tmp_path, tiny):
    data = load_folder(write_image_folder(tmp_path / "img", per_class=2))
    with pytest.raises(CacheError, match="run without embed.merge_only to embed them"):
        embed_images(tiny, data, tmp_path, merge_only=True, **QUICK)
    assert not math.isnan(embed_images(tiny, data, tmp_path, **QUICK).embeddings.sum())


def test_a_damaged_part_in_a_sharded_merge_names_the_shard_to_rerun(tmp_path, tiny):
    data = load_folder(write_image_folder(tmp_path / "img", per_class=2))  # 6 images, 3 chunks of 2
    sharded = dict(num_workers=0, chunk_size=2, num_shards=3)
    for shard in (0, 1):
        assert embed_images(tiny, data, tmp_path, shard=shard, **sharded) is None
    cache = extract.image_cache_for(tiny, data, tmp_path, chunk_size=2)
    cache._part_path(2, 4).write_bytes(b"")
    with pytest.raises(CacheError, match=r"part_000000002_000000004.npz was unreadable and moved aside; .*"
                                         r"shard\(s\) \[1\] of 3 missing; run them with embed.num_shards=3 embed.shard=1"):
        embed_images(tiny, data, tmp_path, shard=2, **sharded)
    assert embed_images(tiny, data, tmp_path, shard=1, **sharded).embeddings.shape == (6, 32)


# -- 7. interruption --------------------------------------------------------------------------

def test_ctrl_c_while_embedding_is_one_line_exit_130_and_keeps_the_parts(tmp_path):
    """SIGINT once the first part file is written (a DataLoader worker running): one line, exit
    status 130, the parts kept. It printed Python's KeyboardInterrupt traceback before."""
    import signal
    import subprocess
    import sys

    from conftest import ROOT

    images = write_image_folder(tmp_path / "img", per_class=200, size=24)
    args = [sys.executable, str(ROOT / "train_eval.py"), f"paths.data_dir={tmp_path}/data",
            f"paths.cache_dir={tmp_path}/cache", f"hydra.run.dir={tmp_path}/run", "dataset=folder",
            f"dataset.root={images}", "notion=label", "prompts.vocabulary=[red,green,blue,yellow,purple]",
            "backbone=tiny", "logger=none", "analysis=none", "embed.num_workers=1", "embed.chunk_size=4",
            "embed.batch_size=4", "n_components=8"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.monotonic() + 60
    while not list((tmp_path / "cache").glob("*.parts-*/part_*.npz")) and proc.poll() is None:
        assert time.monotonic() < deadline, "no part file written in 60 s"
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it was interrupted"
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr[-2000:]
    assert stderr.strip().splitlines()[-1] == ("interrupted: finished parts of the embedding cache are kept; "
                                               "run the same command again to resume")
    assert proc.returncode == 130
    assert list((tmp_path / "cache").glob("*.parts-*/part_*.npz")) and not list((tmp_path / "cache").glob("[!t]*.h5"))
