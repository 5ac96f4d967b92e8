"""train_eval end to end on a folder fixture with a tiny backbone: in process through ``run(cfg)``,
plus the real command line (defaults from the working directory, a multirun, exit status 2)."""
import csv
import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from conftest import CONF, ROOT, TINY, compose_config, run_in_process, run_train_eval
from indirect.errors import UserError
from indirect.experiment import run

FOLDER = ["dataset=folder", "notion=label", "prompts.vocabulary=[red,green,blue,yellow,purple]",
          "prompts.templates=['a photo of a {} square','a {} object']"]
METRICS = {"precision_at_1", "mean_average_precision_at_r", "r_precision", "mean_average_precision",
           "mean_reciprocal_rank", "NMI", "AMI"}
PROJECTORS = sorted(p.stem for p in (CONF / "projector").glob("*.yaml"))


def check_contract(results: dict, n_images: int):
    assert {"dataset", "notion", "backbone", "n_images", "n_prompts", "methods"} <= set(results)
    assert isinstance(results["dataset"], str) and isinstance(results["backbone"], str)
    assert results["n_images"] == n_images
    for method, metrics in results["methods"].items():
        assert set(metrics) == METRICS, method
        for stats in metrics.values():
            assert set(stats) >= {"mean", "std", "runs"}
            assert all(0.0 <= value <= 1.0 for value in stats["runs"]) or stats is metrics.get("AMI")


def test_single_run_writes_results_contract_and_returns_the_fitted_objects(tmp_path, image_folder):
    results, objects = run(compose_config(tmp_path, *FOLDER, f"dataset.root={image_folder}", *TINY,
                                          "compare_with=[clip,random,random_transform,pca,lae,ae]"))
    assert json.loads((tmp_path / "run" / "results.json").read_text())["methods"] == results["methods"]
    check_contract(results, n_images=12)
    assert results["n_prompts"] == 10 and results["notion"] == "label"
    assert {"indirect", "clip", "random", "random_transform", "pca", "lae", "ae"} == set(results["methods"])
    assert len(results["methods"]["random"]["precision_at_1"]["runs"]) == 2  # repetitions=2, seeded method
    assert len(results["methods"]["clip"]["precision_at_1"]["runs"]) == 1    # not seeded: fitted once
    assert set(objects.projectors) == set(results["methods"]) and objects.image_embeddings.shape == (12, 32)
    markdown = (tmp_path / "run" / "results.md").read_text()
    assert "indirect" in markdown and "clip" in markdown
    assert (tmp_path / "run" / "results.csv").is_file()
    assert list((tmp_path / "cache").glob("folder__open_clip-indirect-tiny-vit__*.h5"))


def test_a_compared_methods_parameter_is_overridable_and_changes_its_numbers(tmp_path, image_folder):
    base = [*FOLDER, f"dataset.root={image_folder}", *TINY, "compare_with=[pca]"]
    default = run_in_process(tmp_path, *base, output="a")
    cfg = compose_config(tmp_path, *base, "methods.pca.n_components=2", output="b")
    assert cfg.methods.pca._target_ == "indirect.projectors.PCAProjector" and cfg.methods.pca.n_components == 2
    changed, objects = run(cfg)
    assert objects.projectors["pca"].n_components == 2
    assert changed["methods"]["pca"] != default["methods"]["pca"]
    assert changed["methods"]["indirect"] == default["methods"]["indirect"]


@pytest.mark.parametrize("projector", PROJECTORS)
def test_every_projector_config_runs(tmp_path, image_folder, projector):
    results = run_in_process(tmp_path, *FOLDER, f"dataset.root={image_folder}", *TINY, "compare_with=[]",
                             "repetitions=1", f"projector={projector}")
    check_contract(results, n_images=12)
    assert "clip" in results["methods"]
    if projector == "oracle":
        assert results["upper_bound_methods"] == ["oracle"]
        assert "upper bound" in (tmp_path / "run" / "results.md").read_text()


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
    results, objects = run(compose_config(
        tmp_path, "dataset=folder", f"dataset.root={root}", "dataset.csv=labels.csv",
        "notion=custom", "notion.name=shape", "prompts=custom", "prompts.vocabulary=[square,bar,circle]",
        "ignore=colour", "ignore_prompts={templates:['a {} object'],vocabulary:[red,blue,green,pink]}",
        *TINY, "compare_with=[]"))
    assert results["notion"] == "shape" and results["ignored"]["notion"] == "colour"
    assert results["ignored"]["n_prompts"] == 4
    assert {"indirect+ignore", "indirect", "clip"} == set(results["methods"]) == set(results["ignored"]["methods"])
    ignoring = objects.projectors["indirect+ignore"]
    assert ignoring.directions_.shape[0] >= 1 and ignoring.ignore_embeddings.shape[0] == 4
    run_dir = tmp_path / "run"       # the drop on the ignored notion is in every file, not only results.json
    markdown = (run_dir / "results.md").read_text()
    assert "shape" in markdown and "colour (ignored notion)" in markdown and markdown.count("| indirect+ignore |") == 2
    rows = list(csv.DictReader(open(run_dir / "results.csv")))
    ignored = {r["method"]: r for r in rows if r["notion"] == "colour (ignored notion)"}
    assert set(ignored) == {"indirect+ignore", "indirect", "clip"} and len(rows) == 6
    expected = 100 * results["ignored"]["methods"]["indirect+ignore"]["precision_at_1"]["mean"]
    assert float(ignored["indirect+ignore"]["P@1 mean"]) == pytest.approx(expected, abs=1e-4)


def test_multirun_over_two_jobs(tmp_path, image_folder):
    run_train_eval(tmp_path, *FOLDER, f"dataset.root={image_folder}", *TINY, "compare_with=[]",
                   "n_components=4,8", multirun=True)
    ks = [json.loads((tmp_path / "multirun" / str(j) / "results.json").read_text())["n_components"] for j in (0, 1)]
    assert ks == [4, 8]
    assert len(list((tmp_path / "cache").glob("*.h5"))) == 2  # one image cache, one prompt cache, shared by both jobs


def test_defaults_live_in_the_working_directory_and_the_saved_config_reproduces_the_run(tmp_path):
    """The user's command with the user's defaults (the demo world, the demo backbone, paths
    relative to the working directory), small; then its saved config composed again reproduces it."""
    proc = run_train_eval(tmp_path, "dataset.n_images=60", "repetitions=2", "logger=none", "embed.num_workers=0",
                          "compare_with=[clip,pca]", "n_components=16", "methods.pca.n_components=4", paths=False)
    assert "| pca |" in proc.stdout
    [run_dir] = (tmp_path / "outputs" / "runs").iterdir()
    assert (tmp_path / "data" / "shapes" / "labels.csv").is_file() and list((tmp_path / "cache").glob("*.h5"))
    first = json.loads((run_dir / "results.json").read_text())
    saved = OmegaConf.load(run_dir / ".hydra" / "config.yaml")
    assert saved.methods.pca.n_components == 4 and saved.paths.data_dir == "data"
    with initialize_config_dir(config_dir=str(run_dir / ".hydra"), version_base="1.3"):
        cfg = compose("config", overrides=[f"paths.data_dir={tmp_path}/data", f"paths.cache_dir={tmp_path}/cache",
                                           f"paths.output_dir={tmp_path}/again"])
    again, _ = run(cfg)
    assert again["methods"] == first["methods"] and again["n_prompts"] == first["n_prompts"] == 44


@pytest.mark.parametrize("overrides, message", [
    (["dataset.root=/nonexistent/photos"], "/nonexistent/photos does not exist"),
    (["prompts.vocabulary=[]"], "prompt list is empty"),
    (["n_components=64"], "projector.n_components=64 exceeds the 32-d embeddings"),
    (["compare_with=[pca]", "methods.pca.n_components=64"], "methods.pca.n_components=64 exceeds the 32-d embeddings"),
    (["projector.solver=nope"], "projector: solver='nope' is not one of 'fast', 'faithful'"),
    (["+projector.nope=1"], "projector: InDiReCT.__init__() got an unexpected keyword argument 'nope'"),
    (["notion=color"], "notion 'color' is not defined for dataset 'folder'; valid notions: label"),
    (["prompts.templates=['no slot']"], "prompt template 'no slot' has no '{}'"),
    (["prompts.templates=['a {} {} shape']"], "prompt template 'a {} {} shape' must hold exactly one '{}'"),
    (["prompts.templates=['a photo of a {} in {style}']"], "template 'a photo of a {} in {style}' must hold exactly one"),
    ([f"prompts.templates=['a photo of a {{}} {'in bright light ' * 25}']"], "tokens long, over the text encoder's"),
    (["ignore=nope"], "notion 'nope' is not defined for dataset 'folder'"),
    (["analysis=saliency", "analysis.saliency.method=lae"], "analysis.saliency.method=lae was not run"),
    (["embed.decode=gpu"], "embed.decode=gpu is unknown; choose one of: pil (decode in the workers), device"),
    (["embed.decode=device", "embed.jpeg_draft=true"], "embed.decode=device with embed.jpeg_draft=true"),
])
def test_bad_input_is_one_clear_line(tmp_path, image_folder, overrides, message):
    with pytest.raises(UserError) as caught:
        run(compose_config(tmp_path, *FOLDER, f"dataset.root={image_folder}", *TINY, "repetitions=1", *overrides))
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_command_line_error_is_one_line_and_exit_2(tmp_path):
    proc = run_train_eval(tmp_path, "logger=none", "repetitions=0", check=False)
    assert_one_line_error(proc, "repetitions=0 must be >= 1")
    proc = run_train_eval(tmp_path, "logger=none", "notion=custom", check=False)  # OmegaConf's ??? as a ConfigError
    assert_one_line_error(proc, "notion.name has no value (???); set notion.name=<value>")


def test_an_unknown_group_option_is_one_line_and_exit_2_in_runs_and_sweeps(tmp_path):
    proc = run_train_eval(tmp_path, "logger=none", "notion=nope", check=False)
    assert_one_line_error(proc, "notion=nope is not an option of the notion group; choose one of: background, ")
    assert len(proc.stderr.strip().splitlines()) == 1
    proc = run_train_eval(tmp_path, "logger=none", "dataset=shapes,cars", multirun=True, check=False)
    assert_one_line_error(proc, "dataset=cars is not an option of the dataset group; choose one of: cars196, ")
    proc = run_train_eval(tmp_path, "logger=none", "analysis=[map,nope]", check=False)
    assert_one_line_error(proc, "analysis=nope is not an option of the analysis group")
    assert not (tmp_path / "run").exists() and not (tmp_path / "multirun").exists()


def test_valid_overrides_pass_the_command_line_check():
    from indirect.experiment.overrides import check_overrides

    check_overrides(["notion=color,shape", "analysis=[map,saliency]", "hydra/launcher=parallel", "embed.shard=range(3)",
                     "+projector.x=1", "~ignore", "-m", "backbone=tiny", "methods.pca.n_components=4",
                     "dataset.notions.color.vocabulary=[red]", "hydra.run.dir=x", "embed.decode=device",
                     "experiment=demo_paper", "analysis.saliency.method=clip", "protocol=paper", "seed=3"], CONF)
    check_overrides(["dataset=cub200", "dataset.root=/data/CUB_200_2011"], CONF)
    check_overrides(["dataset=folder", "dataset.root=/photos", "notion=custom", "notion.name=label"], CONF)  # ??? values
    check_overrides(["--config-path", "/elsewhere", "notion=anything", "nokey.foo=1"], CONF)   # a rerun's own conf


def test_an_unknown_key_is_one_line_naming_the_fix(tmp_path):
    from indirect.experiment.overrides import check_overrides

    with pytest.raises(UserError, match=r"^projector.foo is not a key of projector; it has: .*; to add one, "
                                        r"write \+projector.foo=<value>$"):
        check_overrides(["projector.foo=1"], CONF)
    with pytest.raises(UserError, match="n_component is not a key of the config; did you mean n_components?") as caught:
        check_overrides(["n_component=3,4", "-m"], CONF)
    assert all(key in str(caught.value) for key in ("repetitions", "seed", "projector", "protocol", "paths"))  # all of them
    proc = run_train_eval(tmp_path, "logger=none", "embed.workers=2", check=False)
    assert_one_line_error(proc, "embed.workers is not a key of embed; did you mean num_workers? it has: batch_size, ")
    proc = run_train_eval(tmp_path, "notion=custom", "logger=none", check=False, paths=False)  # the default run folder
    assert_one_line_error(proc, "notion.name has no value (???); set notion.name=<value> on the command line")  # names it


def test_ignore_prompts_keys_are_set_without_plus_and_a_misspelled_one_is_refused():
    from indirect.experiment.overrides import check_overrides

    check_overrides(["ignore=color", "ignore_prompts.vocabulary=[red,blue]", "ignore_prompts.templates=['a {}']"], CONF)
    for override in ("ignore_prompts.vocab=[red]", "ignore_prompts={vocab:[red]}",
                     "ignore_prompts={vocabulary:[red],templats:['x {}']}"):
        with pytest.raises(UserError, match=r"^ignore_prompts.(vocab|templats) is not a key of ignore_prompts; "
                                            r"did you mean (vocabulary|templates)\? it has: templates, vocabulary$"):
            check_overrides(["ignore=color", override], CONF)


def test_a_sweep_preset_without_multirun_says_its_sweep_did_not_run(tmp_path):
    proc = run_train_eval(tmp_path, "experiment=sweep_prompts", "dataset.n_images=60", "logger=none",
                          "backbone=tiny", "n_components=8", "analysis=none")
    assert "this config sweeps max_prompts=10,20,30" in proc.stdout + proc.stderr
    assert "only with --multirun (-m); running one job with max_prompts=None, seed=0" in proc.stdout + proc.stderr


def assert_one_line_error(proc, message):
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error:")


def _group_options():
    for group in ("dataset", "notion", "backbone", "projector", "logger", "evaluation", "embed", "analysis", "experiment",
                  "prompts", "methods"):
        for path in sorted((CONF / group).glob("*.yaml")):
            yield group, path.stem


@pytest.mark.parametrize("group, option", list(_group_options()))
def test_every_config_composes(group, option):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train_eval", overrides=[f"{group}={option}"], return_hydra_config=False)
    assert cfg.n_components > 0 and "_target_" in cfg.projector
    assert {"clip", "pca", "indirect", "oracle"} <= set(cfg.methods)
    assert all("_target_" in node for node in (cfg.analysis or {}).values())


def test_cfg_job_shows_every_compared_method(tmp_path):
    cfg = compose_config(tmp_path, "methods.pca.n_components=4")
    text = OmegaConf.to_yaml(cfg)
    assert "_target_: indirect.projectors.PCAProjector" in text and cfg.methods.pca.n_components == 4
    assert cfg.methods.random.n_components == cfg.n_components  # the others follow k


def test_the_slurm_launcher_without_slurm_is_one_line(monkeypatch, tmp_path):
    """submitit printed a 28-line traceback ('Could not detect "srun"') and exited 1."""
    import shutil

    from indirect.experiment.overrides import check_launcher

    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(UserError, match="hydra/launcher=slurm: this machine has no SLURM .*hydra/launcher=slurm_local"):
        check_launcher(["-m", "hydra/launcher=slurm", "embed.num_shards=2"])
    check_launcher(["-m", "hydra/launcher=slurm_local"])
    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/bin/{name}")
    check_launcher(["-m", "hydra/launcher=slurm"])
    proc = run_train_eval(tmp_path, "hydra/launcher=slurm", "embed.num_shards=2", "embed.shard=range(2)",
                          multirun=True, check=False)
    assert_one_line_error(proc, "hydra/launcher=slurm: this machine has no SLURM")


def test_an_integer_k_below_the_ignored_notions_largest_class_is_refused(tmp_path):
    """evaluation.k=3 covers the run's notion (shape: classes of 4) but not the ignored one
    (colour: classes of 8): its MAP@R printed 42.86 against a true 100.00 (precision at 3 under
    R-precision's name) with exit 0; now one line naming the ignored notion."""
    import numpy as np
    from PIL import Image

    from indirect.metrics import MetricsError

    root = tmp_path / "imgs"
    root.mkdir()
    rows = ["path,colour,shape"]
    for i in range(16):
        colour, shape = ["red", "blue"][i % 2], ["square", "bar", "circle", "star"][(i // 2) % 4]
        Image.fromarray(np.full((24, 24, 3), 128 + i, np.uint8)).save(root / f"{i}.png")
        rows.append(f"{i}.png,{colour},{shape}")
    (root / "labels.csv").write_text("\n".join(rows))
    with pytest.raises(MetricsError, match=r"evaluation.k=3 is below the 7 other members of the largest class of the "
                                           r"ignored notion 'colour' \(label column 'colour'\): mean_average_precision_at_r"):
        run(compose_config(
            tmp_path, "dataset=folder", f"dataset.root={root}", "dataset.csv=labels.csv", "notion=custom",
            "notion.name=shape", "prompts=custom", "prompts.vocabulary=[square,bar,circle,star]", "ignore=colour",
            "ignore_prompts={templates:['a {} object'],vocabulary:[red,blue,green,pink]}", *TINY, "compare_with=[]",
            "repetitions=1", "evaluation.k=3"))
