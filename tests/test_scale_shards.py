"""Sharded extraction in one process: explicit merge, duplicated shards, automatic sizes."""
import os
import time

import h5py
import numpy as np
import pytest
import torch

from conftest import write_image_folder
from indirect.backbones.open_clip_backbone import OpenClipBackbone
from indirect.datasets.folder import load_folder
from indirect.embedding import embed_images
from indirect.embedding import extract, image_cache
from indirect.embedding.extract import image_cache_for, resolve_batch_size, resolve_workers
from indirect.embedding.image_cache import CacheError, ImageCache

SHARDED = dict(num_workers=0, chunk_size=2, num_shards=3)


@pytest.fixture(scope="module")
def tiny():
    return OpenClipBackbone("indirect-tiny-vit", None, device="cpu", seed=0)


@pytest.fixture
def data(tmp_path):
    return load_folder(write_image_folder(tmp_path / "img", per_class=2))  # 6 images -> 3 chunks of 2


def test_merge_only_names_the_missing_shard_then_merges(tmp_path, tiny, data):
    assert embed_images(tiny, data, tmp_path, shard=0, **SHARDED) is None
    assert embed_images(tiny, data, tmp_path, shard=1, **SHARDED) is None
    with pytest.raises(CacheError, match=r"shard\(s\) \[2\] of 3 missing; run them with embed.num_shards=3 embed.shard=2"):
        embed_images(tiny, data, tmp_path, merge_only=True, **SHARDED)
    with pytest.raises(CacheError, match="1 of 3 chunks missing.*set embed.num_shards"):
        embed_images(tiny, data, tmp_path, merge_only=True, num_workers=0, chunk_size=2)
    cache = image_cache_for(tiny, data, tmp_path, chunk_size=2)
    assert not cache.is_complete()
    embed_images(tiny, data, tmp_path, shard=2, **SHARDED)  # the last shard merges by itself
    merged = embed_images(tiny, data, tmp_path, merge_only=True, **SHARDED)
    assert merged.embeddings.shape == (6, 32) and merged.ids == data.ids


def test_merge_only_embeds_nothing(tmp_path, tiny, data, monkeypatch):
    embed_images(tiny, data, tmp_path, shard=0, **SHARDED)
    monkeypatch.setattr(tiny, "image_features", lambda *_: pytest.fail("merge_only embedded images"))
    with pytest.raises(CacheError, match=r"shard\(s\) \[1, 2\] of 3"):
        embed_images(tiny, data, tmp_path, merge_only=True, **SHARDED)


def test_a_duplicated_shard_changes_nothing(tmp_path, tiny, data, monkeypatch):
    for shard in (0, 1, 1, 2):  # shard 1 runs twice before the merge
        embed_images(tiny, data, tmp_path, shard=shard, **SHARDED)
    cache = image_cache_for(tiny, data, tmp_path, chunk_size=2)
    with h5py.File(cache.path) as handle:
        before = handle["embeddings"][:], list(handle["ids"].asstr()[:])
    stamp = cache.path.stat().st_mtime_ns
    assert sorted(before[1]) == sorted(data.ids) and len(set(before[1])) == 6

    # a duplicate still running when the merge happened: its late part must not reappear
    cache.write_part(0, 2, data.ids[:2], np.zeros((2, 32), np.float32), [])
    assert not cache.parts_dir.exists()
    monkeypatch.setattr(tiny, "image_features", lambda *_: pytest.fail("re-embedded a merged shard"))
    # a duplicate started after the merge: nothing to embed, and the experiment is the merging job's
    assert embed_images(tiny, data, tmp_path, shard=1, **SHARDED) is None
    assert cache.path.stat().st_mtime_ns == stamp and not cache.parts_dir.exists()
    np.testing.assert_array_equal(embed_images(tiny, data, tmp_path, **SHARDED).embeddings, before[0])
    assert not list(tmp_path.glob(".*.tmp")) and not list(tmp_path.glob("*.parts-*/.*.tmp"))


def test_leftover_parts_are_removed_by_the_next_run(tmp_path, tiny, data, monkeypatch):
    """A kill between publishing the final file and removing its parts leaves the folder named after
    the plan that embedded them; later runs plan nothing to embed (another folder name) and kept it."""
    pre_merge = image_cache_for(tiny, data, tmp_path, chunk_size=2).parts_dir
    for shard in (0, 1):
        embed_images(tiny, data, tmp_path, shard=shard, **SHARDED)
    with monkeypatch.context() as killed:
        killed.setattr(ImageCache, "remove_parts", lambda self: None)
        assert embed_images(tiny, data, tmp_path, shard=2, **SHARDED) is not None
    assert len(list(pre_merge.glob("part_*.npz"))) == 3
    assert image_cache_for(tiny, data, tmp_path, chunk_size=2).parts_dir != pre_merge
    # another plan's folder written to recently may be a shard job of another image set filling it: kept
    embed_images(tiny, data, tmp_path, **SHARDED)
    assert pre_merge.is_dir()
    old = time.time() - image_cache.STALE_PARTS_S - 60
    for path in [pre_merge, *pre_merge.iterdir()]:
        os.utime(path, (old, old))
    embed_images(tiny, data, tmp_path, **SHARDED)
    assert not list(tmp_path.glob("*.parts-*"))


def test_one_job_of_a_sharded_sweep_returns_the_embeddings(tmp_path, tiny, data):
    """Over-sharded (5 shards, 3 chunks) and sequential: shard 2 completes the cache; shards 3 and 4
    find it complete and used to return it too (the experiment ran three times). Over a cache
    complete before the sweep, shard 0 runs the experiment."""
    first = [embed_images(tiny, data, tmp_path, **{**SHARDED, "num_shards": 5}, shard=s) is not None for s in range(5)]
    assert first == [False, False, True, False, False]
    again = [embed_images(tiny, data, tmp_path, **{**SHARDED, "num_shards": 5}, shard=s) is not None for s in range(5)]
    assert again == [True, False, False, False, False]


def test_a_part_of_other_images_is_refused(tmp_path, tiny, data):
    cache = image_cache_for(tiny, data, tmp_path, chunk_size=2)
    for start, end in cache.chunks():
        cache.write_part(start, end, data.ids[start:end], np.ones((end - start, 32), np.float32), [])
    cache.write_part(2, 4, ["elsewhere/a.png", "elsewhere/b.png"], np.ones((2, 32), np.float32), [])
    with pytest.raises(CacheError, match="part_000000002_000000004.npz holds other images"):
        cache.assemble(data.ids, 3)
    assert not cache.is_complete()


def test_shard_outside_range_is_refused(tmp_path, tiny, data):
    with pytest.raises(ValueError, match=r"embed.shard=3 is out of range for embed.num_shards=3; set embed.shard to 0..2"):
        embed_images(tiny, data, tmp_path, shard=3, **SHARDED)


def test_automatic_batch_size_and_workers(monkeypatch):
    monkeypatch.setattr(extract, "usable_cores", lambda: 16)
    assert resolve_workers("auto") == 15
    monkeypatch.setattr(extract, "usable_cores", lambda: 128)
    assert resolve_workers("auto") == 32
    monkeypatch.setattr(extract, "usable_cores", lambda: 1)
    assert resolve_workers("auto") == 1
    assert resolve_workers(3) == 3
    assert resolve_batch_size("auto", torch.device("cuda")) == 256
    assert resolve_batch_size("auto", torch.device("cpu")) == 64
    assert resolve_batch_size(7, torch.device("cpu")) == 7


def test_batches_never_cross_a_chunk():
    batches = extract._batches([(0, 5), (10, 13)], 2)
    assert batches == [[0, 1], [2, 3], [4], [10, 11], [12]]


def test_jpeg_draft_decodes_at_reduced_scale_into_its_own_cache(tmp_path, tiny):
    from PIL import Image

    from indirect.embedding.images import ImageDataset, model_input_side

    root = tmp_path / "photos"
    (root / "a").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray(rng.integers(0, 255, (600, 800, 3), dtype=np.uint8)).save(root / "a" / f"{i}.jpg")
    Image.fromarray(rng.integers(0, 255, (600, 800, 3), dtype=np.uint8)).save(root / "a" / "2.png")
    decoded_size = ImageDataset(sorted(root.glob("a/*")), lambda image: torch.tensor(image.size), draft_size=100)
    assert decoded_size[0][1].tolist() == [200, 150]  # 1/4 scale: 1/8 (100x75) would be below 100
    assert decoded_size[2][1].tolist() == [800, 600]  # PNGs are decoded in full
    assert model_input_side(tiny.preprocess) == 32

    data = load_folder(root)
    full = embed_images(tiny, data, tmp_path / "cache", num_workers=0)
    draft = embed_images(tiny, data, tmp_path / "cache", num_workers=0, jpeg_draft=True)
    assert draft.path != full.path and draft.ids == full.ids
    np.testing.assert_array_equal(draft.embeddings[2], full.embeddings[2])
    assert not np.array_equal(draft.embeddings[0], full.embeddings[0])


def _loader_total() -> tuple[int, int, int]:
    """In a loky worker: the workers granted, the job's cores, and the sum a 2-worker DataLoader yields."""
    from torch.utils.data import DataLoader

    from indirect.threads import job_cores
    workers, context = extract.worker_context(2)
    loader = DataLoader(list(range(10)), batch_size=2, num_workers=workers, multiprocessing_context=context)
    return workers, job_cores(), sum(int(batch.sum()) for batch in loader)


def test_dataloader_workers_start_inside_joblib_loky_workers():
    """hydra/launcher=parallel runs jobs in loky workers, where the default context cannot start
    DataLoader workers; each job's cores are its share (joblib's cores // n_jobs)."""
    from joblib import Parallel, cpu_count, delayed

    results = Parallel(n_jobs=2, backend="loky")(delayed(_loader_total)() for _ in range(2))
    assert results == [(2, max(1, cpu_count() // 2), 45)] * 2


def test_the_shard_that_merged_runs_the_experiment_again_after_a_requeue(tmp_path, tiny, data):
    """A merging shard job stopped before its results (SLURM requeue) finds the cache complete on its
    next attempt: it must still be the one job that runs the experiment, not a shard job like the others."""
    from omegaconf import OmegaConf

    from indirect.experiment.embeddings import MERGED_FILE, embed_shard, experiment_done

    def job(shard):
        embed = {**SHARDED, "shard": shard}
        return OmegaConf.create({"paths": {"cache_dir": str(tmp_path / "cache")}, "embed": embed})

    runs = {s: tmp_path / f"run{s}" for s in range(3)}
    assert [embed_shard(job(s), tiny, data, runs[s]) is not None for s in range(3)] == [False, False, True]
    assert (runs[2] / MERGED_FILE).is_file() and not (runs[1] / MERGED_FILE).exists()
    requeued = embed_shard(job(2), tiny, data, runs[2])          # killed during the experiment, started again
    assert requeued is not None and len(requeued.ids) == len(data)
    assert embed_shard(job(1), tiny, data, runs[1]) is None       # the others stay shard jobs
    experiment_done(runs[2])
    assert embed_shard(job(2), tiny, data, runs[2]) is None


def test_a_sharded_sweep_that_varies_another_key_is_refused_before_embedding(tmp_path, tiny, data):
    """notion=color,shape with 'embed.shard=range(2)': the job completing the cache ran color's
    experiment, shape's never ran, and the report said every job finished (exit 0)."""
    import yaml
    from omegaconf import OmegaConf

    from indirect.errors import ConfigError
    from indirect.experiment.embeddings import embed_shard

    def sweep(folder, task):
        folder.mkdir()
        (folder / "multirun.yaml").write_text(yaml.safe_dump({"hydra": {
            "sweeper": {"_target_": "hydra._internal.core_plugins.basic_sweeper.BasicSweeper", "params": None},
            "overrides": {"task": task}}}))
        return folder / "0"

    cfg = OmegaConf.create({"paths": {"cache_dir": str(tmp_path / "cache")}, "embed": {**SHARDED, "shard": 0}})
    mixed = sweep(tmp_path / "mixed", ["notion=color,shape", "embed.num_shards=3", "embed.shard=range(3)"])
    with pytest.raises(ConfigError, match=r"^this sharded sweep also varies notion: .* then sweep notion=\.\.\. without"):
        embed_shard(cfg, tiny, data, mixed)
    assert not (tmp_path / "cache").exists()                                   # refused before embedding
    alone = sweep(tmp_path / "alone", ["notion=color", "embed.num_shards=3", "embed.shard=range(3)"])
    assert embed_shard(cfg, tiny, data, alone) is None                           # shard 0 of 3: not complete yet
