"""The sweep experiments run as tiny multiruns and end with their metric-vs-value plot."""
import csv
import json
import subprocess
import sys

import pytest
from PIL import Image

from conftest import ROOT, TINY, run_train_eval

FOLDER = ["dataset=folder", "notion=label", "prompts.vocabulary=[red,green,blue,yellow,purple]",
          "prompts.templates=['a photo of a {} square','a {} object']"]
FAST = [o for o in TINY if not o.startswith("repetitions=")] + ["repetitions=1"]
FAST_NO_K = [o for o in FAST if not o.startswith("n_components=")]


def plotted(proc, sweep_dir, param: str, n: int):
    png = sweep_dir / f"sweep_{param}.png"
    assert f"{png}: {n} value(s) of {param}" in proc.stdout
    with Image.open(png) as figure:
        assert figure.size[0] > 300
    table = list(csv.DictReader(open(png.with_suffix(".csv"))))  # the plotted numbers, one row per metric and value
    column = "n_prompts" if param == "max_prompts" else param     # a prompt sweep is drawn at the prompts used
    assert len({row[column] for row in table}) == n and {row["metric"] for row in table} == {"P@1", "MAP@R", "R-Prec"}
    return png


def test_sweep_dims_runs_and_plots_one_point_per_k(tmp_path, image_folder):
    proc = run_train_eval(tmp_path, *FOLDER, f"dataset.root={image_folder}", *FAST_NO_K, "experiment=sweep_dims",
                          "n_components=2,4", multirun=True)
    png = plotted(proc, tmp_path / "multirun", "n_components", 2)
    redraw = subprocess.run([sys.executable, str(ROOT / "scripts" / "plot_sweep.py"), str(tmp_path / "multirun"),
                             "n_components", "--out", str(tmp_path / "again.png")], capture_output=True, text=True)
    assert redraw.returncode == 0, redraw.stderr
    assert "2 value(s) of n_components" in redraw.stdout and (tmp_path / "again.png").is_file() and png.is_file()


def test_sweep_prompts_runs_one_job_per_size_and_seed(tmp_path, image_folder):
    proc = run_train_eval(tmp_path, *FOLDER, f"dataset.root={image_folder}", *FAST, "experiment=sweep_prompts",
                          "max_prompts=2,4", "seed=0", multirun=True)
    prompts = sorted(json.loads(p.read_text())["n_prompts"] for p in (tmp_path / "multirun").glob("*/results.json"))
    assert prompts == [2, 4]  # max_prompts counts prompts (template x word), not vocabulary entries
    plotted(proc, tmp_path / "multirun", "max_prompts", 2)


def test_sweep_configs_compose_with_their_sweep_and_plot_callback():
    from hydra import compose, initialize_config_dir

    expected = {"sweep_dims": ("n_components", "2,4,8,16,32,64,128,256,512"),
                "sweep_prompts": ("max_prompts", "10,20,30,40,50,60,70,80,90,100,110,120,130,140,150"),
                "sweep_clip_size": ("backbone", "vit_b32_openai,vit_b16_openai,vit_l14_openai")}
    for name, (param, values) in expected.items():
        with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
            cfg = compose("train_eval", overrides=[f"experiment={name}"], return_hydra_config=True)
        assert cfg.hydra.sweeper.params[param] == values
        assert cfg.hydra.callbacks.sweep_plot.param == param
        if name != "sweep_prompts":   # the k and CLIP-size sweeps run every method, as the paper plots them
            assert list(cfg.compare_with) == ["clip", "random", "random_transform", "pca", "lae", "ae", "oracle"]


@pytest.mark.parametrize("backbones", ["tiny,open_clip"])
def test_sweep_clip_size_plots_categorical_backbones(tmp_path, image_folder, backbones):
    proc = run_train_eval(tmp_path, *FOLDER, f"dataset.root={image_folder}", *FAST, "experiment=sweep_clip_size",
                          f"backbone={backbones}", "backbone.model_name=indirect-tiny-vit", "backbone.pretrained=null",
                          multirun=True)
    plotted(proc, tmp_path / "multirun", "backbone", 2)
