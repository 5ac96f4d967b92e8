"""protocol=paper vs protocol=improved: the options each method config receives, the paper's "-"
(a method not applicable is reported, not fitted), and the acceptance run on the demo world."""
from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from conftest import compose_config
from indirect.experiment import run
from indirect.experiment.selection import select_methods

PAPER = {
    "clip": {"normalize_output": False},
    "pca": {"normalize_input": False, "normalize_output": False, "pad": False},
    "lae": {"normalize_input": False, "normalize_output": False, "max_iter": 100000},
    "ae": {"normalize_input": False, "normalize_output": False, "max_iter": 100000},
    "oracle": {"temperature": 1.0, "proxy_std": 0.1, "max_iter": 100000},
    "indirect": {"solver": "faithful", "max_iter": 100000},
}
DEMO = ["dataset=shapes", "backbone=demo", "dataset.n_images=300", "embed.num_workers=0", "notion=color"]


def resolved(node) -> dict:
    return OmegaConf.to_container(node, resolve=True)


def test_paper_protocol_sets_the_original_options_on_every_method_node_and_the_projector(tmp_path):
    cfg = compose_config(tmp_path, "protocol=paper")
    assert cfg.protocol.name == "paper"
    for name, options in PAPER.items():
        assert resolved(cfg.methods[name]).items() >= options.items(), name
    assert resolved(cfg.projector).items() >= PAPER["indirect"].items()
    assert resolved(compose_config(tmp_path, "protocol=paper", "projector=pca").projector).items() >= PAPER["pca"].items()
    # random baselines are the original already: the same node under both protocols
    improved = compose_config(tmp_path)
    for name in ("random", "random_transform"):
        assert resolved(cfg.methods[name]) == resolved(improved.methods[name])


def test_improved_protocol_is_the_default_and_differs_in_every_listed_option(tmp_path):
    cfg = compose_config(tmp_path)
    assert cfg.protocol.name == "improved"
    assert resolved(cfg.methods.pca)["pad"] is True and resolved(cfg.projector)["solver"] == "fast"
    for name, options in PAPER.items():
        ours = resolved(cfg.methods[name])
        assert all(ours[key] != value for key, value in options.items() if key != "max_iter" or name != "indirect"), name


def test_a_command_line_option_still_wins_over_the_protocol(tmp_path):
    cfg = compose_config(tmp_path, "protocol=paper", "methods.pca.pad=true")
    assert resolved(cfg.methods.pca)["pad"] is True and resolved(cfg.methods.pca)["normalize_input"] is False
    methods = {spec.key: spec for spec in select_methods(compose_config(tmp_path, "protocol=paper", "projector=pca",
                                                                        "compare_with=[pca]"))}
    assert "methods.pca" not in methods   # the same node as the projector: fitted once


def raw_cached_embeddings(cache_dir, ids):
    (path,) = list(cache_dir.glob("shapes__*.h5"))
    with h5py.File(path) as handle:
        cached_ids = list(handle["ids"].asstr()[:])
        embeddings = handle["embeddings"][:]
    index = {image_id: row for row, image_id in enumerate(cached_ids)}
    return np.stack([embeddings[index[image_id]] for image_id in ids]).astype(np.float32)


def test_acceptance_paper_protocol_raw_clip_equals_pml_and_pca_is_not_applicable(tmp_path):
    from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator

    results, objects = run(compose_config(tmp_path, *DEMO, "protocol=paper", "compare_with=[clip,pca]",
                                          "projector=clip"))
    written = json.loads((tmp_path / "run" / "results.json").read_text())
    assert written["protocol"] == "paper" and results["protocol"] == "paper"
    assert set(written["methods"]) == {"clip"}
    assert written["n_prompts"] == 44 and "44 prompts" in written["not_applicable"]["pca"]
    assert "pca" not in written["methods"]
    raw = raw_cached_embeddings(tmp_path / "cache", objects.ids)
    assert not np.allclose(np.linalg.norm(raw, axis=1), 1.0)        # really the raw features
    calculator = AccuracyCalculator(include=("precision_at_1", "mean_average_precision_at_r"), k=None)
    expected = calculator.get_accuracy(torch.from_numpy(raw), torch.from_numpy(np.unique(objects.labels, return_inverse=True)[1]))
    assert written["methods"]["clip"]["precision_at_1"]["mean"] == pytest.approx(expected["precision_at_1"], abs=1e-9)
    assert written["methods"]["clip"]["mean_average_precision_at_r"]["mean"] == pytest.approx(
        expected["mean_average_precision_at_r"], abs=1e-6)
    table = (tmp_path / "run" / "results.md").read_text()
    assert "paper" in table and "pca" in table


def test_improved_protocol_pads_pca_and_normalises_clip(tmp_path):
    results, objects = run(compose_config(tmp_path, *DEMO, "compare_with=[clip,pca]", "projector=clip"))
    assert results["protocol"] == "improved" and "not_applicable" not in results
    assert set(results["methods"]) == {"clip", "pca"}
    assert np.allclose(np.linalg.norm(objects.projectors["clip"].transform(objects.image_embeddings), axis=1), 1.0,
                       atol=1e-5)
