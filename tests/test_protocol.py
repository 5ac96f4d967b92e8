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


def protocols_table():
    """scripts/protocols_table.py as a module (scripts/ is not a package)."""
    import importlib.util

    from conftest import ROOT

    spec = importlib.util.spec_from_file_location("protocols_table", ROOT / "scripts" / "protocols_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fake_results(notion: str, protocol: str, pca: float | None) -> dict:
    def metrics(p1, mapr, runs=2):
        return {"precision_at_1": {"mean": p1, "std": 0.0, "runs": [p1] * runs},
                "mean_average_precision_at_r": {"mean": mapr, "std": 0.0, "runs": [mapr] * runs}}
    results = {"dataset": "shapes", "notion": notion, "backbone": "demo", "n_images": 10, "n_prompts": 44,
               "n_components": 128, "repetitions": 2, "protocol": protocol,
               "methods": {"indirect": metrics(0.9, 0.7), "clip": metrics(0.8, 0.1, runs=1)}}
    if pca is None:
        results["not_applicable"] = {"pca": "PCA finds at most 44 components"}
    else:
        results["methods"]["pca"] = metrics(pca, 0.5)
    return results


def write_sweep(folder, jobs):
    for number, results in enumerate(jobs):
        job = folder / str(number)
        (job / ".hydra").mkdir(parents=True)
        (job / ".hydra" / "overrides.yaml").write_text(f"- protocol={results['protocol']}\n- notion={results['notion']}\n")
        (job / "results.json").write_text(json.dumps(results))


def test_protocols_table_puts_both_protocols_side_by_side_with_not_applicable_as_dash(tmp_path, capsys):
    main = protocols_table().main

    write_sweep(tmp_path / "sweep", [fake_results("color", "improved", 0.95), fake_results("color", "paper", None)])
    assert main([str(tmp_path / "sweep")]) == 0
    table = (tmp_path / "sweep" / "protocols.md").read_text()
    assert "| notion | method | P@1 improved | MAP@R improved | P@1 paper | MAP@R paper |" in table
    assert "| color | pca | 95.0 ± 0.0 | 50.0 ± 0.0 | - | - |" in table
    assert "| color | clip | 80.0 | 10.0 | 80.0 | 10.0 |" in table     # fitted once: no "± 0.0" spread
    assert "color, pca under protocol=paper: not applicable (PCA finds at most 44 components)" in table


def test_protocols_table_refuses_a_sweep_without_both_protocols(tmp_path, capsys):
    main = protocols_table().main

    write_sweep(tmp_path / "sweep", [fake_results("color", "improved", 0.95)])
    assert main([str(tmp_path / "sweep")]) == 2
    assert "notion color has no protocol=paper job" in capsys.readouterr().err
    assert not (tmp_path / "sweep" / "protocols.md").exists()



def test_protocols_table_refuses_two_jobs_in_one_cell(tmp_path, capsys):
    """protocol=improved,paper n_components=8,16: the k=8 jobs were dropped without a word."""
    main = protocols_table().main

    write_sweep(tmp_path / "sweep", [fake_results("color", "improved", 0.95), fake_results("color", "paper", None),
                                     fake_results("color", "improved", 0.90), fake_results("color", "paper", None)])
    assert main([str(tmp_path / "sweep")]) == 2
    assert "notion color has more than one protocol=improved job (job 2" in capsys.readouterr().err
    assert not (tmp_path / "sweep" / "protocols.md").exists()


@pytest.mark.parametrize("backbone", ["vit_b32_openai", "open_clip", "openai_clip"])
def test_the_paper_protocol_embeds_in_fp32(tmp_path, backbone):
    """protocol.md: the original embeds in fp32; precision=auto would autocast to fp16 on a GPU."""
    from conftest import compose_config

    assert compose_config(tmp_path, f"backbone={backbone}", "protocol=paper").backbone.precision == "fp32"
    assert compose_config(tmp_path, f"backbone={backbone}").backbone.precision == "auto"
    assert compose_config(tmp_path, "experiment=paper_cub200").backbone.precision == "fp32"
