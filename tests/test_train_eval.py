"""train_eval.py end to end on a folder fixture with a tiny backbone; configs; clear errors."""
import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from conftest import ROOT, TINY, run_train_eval

FOLDER = ["dataset=folder", "notion=label", "prompts.vocabulary=[red,green,blue,yellow,purple]",
          "prompts.templates=['a photo of a {} square','a {} object']"]
METRICS = {"precision_at_1", "mean_average_precision_at_r", "r_precision", "mean_average_precision",
           "mean_reciprocal_rank", "NMI", "AMI"}


def check_contract(results: dict, n_images: int):
    assert {"dataset", "notion", "backbone", "n_images", "n_prompts", "methods"} <= set(results)
    assert isinstance(results["dataset"], str) and isinstance(results["backbone"], str)
    assert results["n_images"] == n_images
    for method, metrics in results["methods"].items():
        assert set(metrics) == METRICS, method
        for stats in metrics.values():
            assert set(stats) >= {"mean", "std", "runs"}
            assert all(0.0 <= value <= 1.0 for value in stats["runs"]) or stats is metrics.get("AMI")


def test_single_run_writes_results_contract(tmp_path, image_folder):
    run_train_eval(tmp_path, *FOLDER, f"dataset.root={image_folder}", *TINY, "compare_with=[clip,random,random_transform,pca,lae,ae]")
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    check_contract(results, n_images=12)
    assert results["n_prompts"] == 10 and results["notion"] == "label"
    assert {"indirect", "clip", "random", "random_transform", "pca", "lae", "ae"} <= set(results["methods"])
    assert len(results["methods"]["random"]["precision_at_1"]["runs"]) == 2  # repetitions=2, seeded method
    markdown = (tmp_path / "run" / "results.md").read_text()
    assert "indirect" in markdown and "clip" in markdown
    assert (tmp_path / "run" / "results.csv").is_file()
    assert list((tmp_path / "cache").glob("folder__open_clip-indirect-tiny-vit__*.h5"))


def test_every_projector_config_runs_through_train_eval(tmp_path, image_folder):
    names = sorted(p.stem for p in (ROOT / "conf" / "projector").glob("*.yaml"))
    assert {"indirect", "indirect_faithful", "clip", "random", "random_transform", "pca", "lae", "ae", "oracle"} <= set(names)
    run_train_eval(tmp_path, *FOLDER, f"dataset.root={image_folder}", *TINY, "compare_with=[]", "repetitions=1",
                   f"projector={','.join(names)}", multirun=True)
    for job in range(len(names)):
        results = json.loads((tmp_path / "multirun" / str(job) / "results.json").read_text())
        check_contract(results, n_images=12)
        assert "clip" in results["methods"]
    oracle = json.loads((tmp_path / "multirun" / str(names.index("oracle")) / "results.json").read_text())
    assert oracle["upper_bound_methods"] == ["oracle"]
    assert "upper bound" in (tmp_path / "multirun" / str(names.index("oracle")) / "results.md").read_text()


def test_ignore_notion_reports_both_notions(tmp_path):
    import numpy as np
    from PIL import Image

    root = tmp_path / "imgs"
    root.mkdir()
    rows = ["path,colour,shape"]
    for i in range(16):
        colour, shape = ["red", "blue"][i % 2], ["square", "bar"][(i // 2) % 2]
        pixels = np.full((24, 24, 3), 128 + i, np.uint8)
        pixels[6:18 if shape == "square" else 10, 6:18] = (220, 30, 30) if colour == "red" else (30, 30, 220)
        Image.fromarray(pixels).save(root / f"{i}.png")
        rows.append(f"{i}.png,{colour},{shape}")
    (root / "labels.csv").write_text("\n".join(rows))
    run_train_eval(tmp_path, "dataset=folder", f"dataset.root={root}", "dataset.csv=labels.csv",
                   "notion=custom", "notion.name=shape", "prompts=custom", "prompts.vocabulary=[square,bar,circle]",
                   "ignore=colour", "ignore_prompts={templates:['a {} object'],vocabulary:[red,blue,green,pink]}",
                   *TINY, "compare_with=[]")
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["notion"] == "shape" and results["ignored"]["notion"] == "colour"
    assert results["ignored"]["n_prompts"] == 4
    assert {"indirect+ignore", "indirect", "clip"} <= set(results["methods"]) == set(results["ignored"]["methods"])


def test_multirun_over_two_jobs(tmp_path, image_folder):
    run_train_eval(tmp_path, *FOLDER, f"dataset.root={image_folder}", *TINY, "compare_with=[]",
                   "n_components=4,8", multirun=True)
    ks = [json.loads((tmp_path / "multirun" / str(j) / "results.json").read_text())["n_components"] for j in (0, 1)]
    assert ks == [4, 8]
    assert len(list((tmp_path / "cache").glob("*.h5"))) == 2  # one image cache, one prompt cache, shared by both jobs


@pytest.mark.parametrize("overrides, message", [
    (["dataset.root=/nonexistent/photos"], "/nonexistent/photos does not exist"),
    (["prompts.vocabulary=[]"], "prompt list is empty"),
    (["n_components=64"], "n_components=64 exceeds the 32-d embeddings"),
])
def test_bad_input_is_one_clear_line_and_nonzero_exit(tmp_path, image_folder, overrides, message):
    proc = run_train_eval(tmp_path, *FOLDER, f"dataset.root={image_folder}", *TINY, *overrides, check=False)
    assert_one_line_error(proc, message)


def test_unknown_notion_lists_the_valid_ones(tmp_path, image_folder):
    proc = run_train_eval(tmp_path, "dataset=folder", f"dataset.root={image_folder}", "notion=color", *TINY, check=False)
    assert_one_line_error(proc, "notion 'color' is not defined for dataset 'folder'; valid notions: label")


def assert_one_line_error(proc, message):
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error:")


def test_cfg_job_prints_the_composed_config(tmp_path):
    proc = run_train_eval(tmp_path, "--cfg", "job")
    assert "n_components: 128" in proc.stdout and "_target_: indirect.backbones.demo.DemoBackbone" in proc.stdout


def _group_options():
    conf = ROOT / "conf"
    for group in ("dataset", "notion", "backbone", "projector", "logger", "evaluation", "embed", "analysis", "experiment"):
        for path in sorted((conf / group).glob("*.yaml")):
            yield group, path.stem


@pytest.mark.parametrize("group, option", list(_group_options()))
def test_every_config_composes(group, option):
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("train_eval", overrides=[f"{group}={option}"], return_hydra_config=False)
    assert cfg.n_components > 0 and "_target_" in cfg.projector


def test_every_prompt_set_composes_with_its_dataset():
    from indirect.prompts.builder import build_prompts, load_vocabulary

    prompts_dir = ROOT / "conf" / "prompts"
    checked = 0
    for path in prompts_dir.glob("*/*.yaml"):
        dataset, notion = path.parent.name, path.stem
        with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
            cfg = compose("train_eval", overrides=[f"dataset={dataset}", f"notion={notion}"])
        assert notion in cfg.dataset.notions, f"{path}: notion not declared in conf/dataset/{dataset}.yaml"
        if OmegaConf.is_missing(cfg.prompts, "vocabulary"):  # given on the command line (folder)
            continue
        vocabulary = cfg.prompts.vocabulary
        if isinstance(vocabulary, str) and vocabulary.startswith("dataset:"):
            continue
        assert len(build_prompts(list(cfg.prompts.templates), load_vocabulary(vocabulary))) >= 2
        checked += 1
    assert checked >= 15
