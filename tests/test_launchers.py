"""Sharded extraction as a --multirun through the launcher configs, and the explicit merge step."""
import importlib.util

import h5py
import numpy as np
import pytest
from hydra import compose, initialize_config_dir

from conftest import ROOT, TINY, compose_config, run_train_eval, write_image_folder
from indirect.backbones.open_clip_backbone import OpenClipBackbone
from indirect.datasets.folder import load_folder
from indirect.embedding import embed_images
from indirect.errors import CacheError
from indirect.experiment import run

CHUNK = 4  # 12 images -> 3 chunks, one per shard


def folder_run(images, default_workers: bool = False) -> list[str]:
    """Overrides of a tiny folder run; ``default_workers`` keeps embed.num_workers=auto."""
    tiny = [o for o in TINY if not (default_workers and o.startswith("embed.num_workers="))]
    return [*tiny, "dataset=folder", f"dataset.root={images}", "notion=label", f"embed.chunk_size={CHUNK}",
            "repetitions=1", "compare_with=[]",
            "prompts.vocabulary=[red,green,blue]"]


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def image_caches(folder):
    return sorted(p for p in folder.glob("*.h5") if not p.name.startswith("text__"))


@pytest.fixture(scope="module")
def tiny():
    return OpenClipBackbone("indirect-tiny-vit", None, device="cpu", seed=0)


def test_three_shards_through_the_parallel_launcher_equal_one_process(tmp_path, tiny):
    """With the default embed.num_workers=auto: DataLoader workers start inside loky's workers."""
    images = write_image_folder(tmp_path / "images")
    # shard 1 is launched twice, as a requeued or re-submitted array task would be
    proc = run_train_eval(tmp_path, *folder_run(images, default_workers=True), "hydra/launcher=parallel", "hydra.launcher.n_jobs=2",
                          "embed.num_shards=3", "embed.shard=0,1,2,1", multirun=True)
    assert proc.returncode == 0
    assert not list((tmp_path / "multirun").glob("*/error.txt"))
    assert list((tmp_path / "multirun").glob("*/results.json")), "the job completing the cache runs the experiment"
    [sharded] = image_caches(tmp_path / "cache")
    assert not list((tmp_path / "cache").glob("*.parts-*")) and not list((tmp_path / "cache").glob(".*.tmp"))

    single = embed_images(tiny, load_folder(images), tmp_path / "single", num_workers=0, chunk_size=CHUNK).path
    assert single.name == sharded.name
    with h5py.File(sharded) as got, h5py.File(single) as want:
        assert list(got["ids"].asstr()[:]) == list(want["ids"].asstr()[:])
        assert list(got["skipped_ids"].asstr()[:]) == list(want["skipped_ids"].asstr()[:])
        np.testing.assert_allclose(got["embeddings"][:], want["embeddings"][:], rtol=1e-5, atol=1e-6)
        assert dict(got.attrs) == dict(want.attrs)


def test_merge_step_names_a_missing_shard_and_merges_when_complete(tmp_path, tiny, capsys):
    images = write_image_folder(tmp_path / "images")
    data = load_folder(images)
    for shard in (0, 2):
        assert embed_images(tiny, data, tmp_path / "cache", num_workers=0, chunk_size=CHUNK, num_shards=3, shard=shard) is None

    with pytest.raises(CacheError, match=r"shard\(s\) \[1\] of 3 missing; run them with embed.num_shards=3 embed.shard=1"):
        run(compose_config(tmp_path, *folder_run(images), "embed.merge_only=true", "embed.num_shards=3"))
    assert not image_caches(tmp_path / "cache")

    merge_shards = load_script("merge_shards")
    overrides = [*folder_run(images), f"paths.cache_dir={tmp_path}/cache", "embed.num_shards=3"]
    assert merge_shards.main(overrides) == 2
    assert "shard(s) [1] of 3 missing" in capsys.readouterr().err

    assert embed_images(tiny, data, tmp_path / "cache", num_workers=0, chunk_size=CHUNK, num_shards=3, shard=1) is not None
    assert merge_shards.main(overrides) == 0
    [cache] = image_caches(tmp_path / "cache")
    assert f"{cache}: 12 image embeddings" in capsys.readouterr().out


@pytest.mark.parametrize("launcher, target, values", [
    ("parallel", "JoblibLauncher", {"prefer": "processes", "n_jobs": -1, "pre_dispatch": "2*n_jobs"}),
    ("slurm", "SlurmLauncher", {"gpus_per_node": 1, "cpus_per_task": 8, "mem_gb": 32, "partition": None,
                                "max_num_timeout": 3, "signal_delay_s": 120}),
    ("slurm_local", "LocalLauncher", {"gpus_per_node": 0, "timeout_min": 60, "tasks_per_node": 1}),
])
def test_launcher_configs_extend_the_plugins(launcher, target, values):
    """Our values on top of the plugin's own config (its other keys and defaults still there)."""
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name="train_eval", overrides=[f"hydra/launcher={launcher}", "hydra.launcher.verbose=1"
                      if launcher == "parallel" else "hydra.launcher.nodes=2"], return_hydra_config=True)
    assert cfg.hydra.launcher._target_.endswith(target)
    assert {key: cfg.hydra.launcher[key] for key in values} == values
    assert cfg.hydra.launcher.get("verbose" if launcher == "parallel" else "nodes") in (1, 2)
