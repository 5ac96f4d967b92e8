"""Run tables, the results.json contract and the sweep report over a fake Hydra multirun."""
import csv
import importlib.util
import io
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from omegaconf import OmegaConf

from indirect.reporting import (
    ResultsError,
    SweepError,
    load_results,
    plot_sweep,
    results_table,
    summarize_runs,
    write_run_tables,
    write_sweep_report,
)

METRICS = ("precision_at_1", "mean_average_precision_at_r", "r_precision", "NMI")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def fake_results(seed, notion="color", dataset="cars196", methods=("indirect", "clip", "random", "oracle")):
    rng = np.random.default_rng(seed)
    return {
        "dataset": dataset,
        "notion": notion,
        "backbone": "ViT-B-32",
        "n_images": 100,
        "n_prompts": 20,
        "timings": {"fit": 1.0},
        "methods": {
            m: summarize_runs([{k: float(rng.uniform(0.1, 0.9)) for k in METRICS} for _ in range(3)]) for m in methods
        },
    }


def cell(summary):
    runs = np.asarray(summary["runs"])
    return f"{100 * runs.mean():.2f} ± {100 * runs.std():.2f}"


def make_multirun(root: Path, missing=(3,), failed=(), not_started=()):
    """notion x n_components sweep, 4 jobs, as Hydra's basic sweeper lays it out."""
    root.mkdir(parents=True)
    (root / "multirun.yaml").write_text(
        yaml.safe_dump(
            {
                "hydra": {
                    "sweeper": {"_target_": "hydra._internal.core_plugins.basic_sweeper.BasicSweeper", "params": None},
                    "overrides": {"task": ["notion=color,type", "n_components=64,128"]},
                },
                "seed": 0,
            }
        )
    )
    combos = [("color", 64), ("color", 128), ("type", 64), ("type", 128)]
    written = {}
    for number, (notion, k) in enumerate(combos):
        if number in not_started:
            continue
        job = root / str(number)
        (job / ".hydra").mkdir(parents=True)
        (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump([f"notion={notion}", f"n_components={k}"]))
        (job / ".hydra" / "config.yaml").write_text(yaml.safe_dump({"n_components": k, "notion": {"name": notion}}))
        if number in missing:
            continue
        if number in failed:
            (job / "error.txt").write_text("Traceback ...\nDatasetError: cars196: root /data/cars196 does not exist\n")
            continue
        results = fake_results(number, notion=notion)
        (job / "results.json").write_text(json.dumps(results))
        written[number] = results
    return written


def test_summarize_runs_uses_population_std():
    summary = summarize_runs([{"precision_at_1": 0.1, "NMI": 0.5}, {"precision_at_1": 0.3, "NMI": 0.5}])
    assert summary["precision_at_1"] == {"mean": pytest.approx(0.2), "std": pytest.approx(0.1), "runs": [0.1, 0.3]}
    assert summary["NMI"]["std"] == 0.0


def test_summarize_runs_rejects_mismatched_runs():
    with pytest.raises(ResultsError, match="run 1 reports"):
        summarize_runs([{"precision_at_1": 0.1}, {"NMI": 0.3}])
    with pytest.raises(ResultsError, match="no runs"):
        summarize_runs([])


def test_markdown_table_puts_clip_and_indirect_side_by_side():
    results = fake_results(0)
    table = results_table(results, "md")
    lines = table.splitlines()
    header = next(line for line in lines if line.startswith("| method"))
    assert header == "| method | P@1 | MAP@R | R-Prec | NMI |"
    rows = {line.split(" | ")[0].lstrip("| "): line for line in lines if line.startswith("| ") and "---" not in line}
    for method in ("indirect", "clip"):
        expected = [cell(results["methods"][method][m]) for m in METRICS]
        assert rows[method] == f"| {method} | " + " | ".join(expected) + " |"
    assert list(rows)[:3] == ["method", "indirect", "clip"]
    assert "oracle (upper bound) †" in rows
    assert list(rows)[-1] == "oracle (upper bound) †"
    assert "† upper bound" in table


def test_a_method_run_once_shows_its_value_without_a_spread():
    """clip does not depend on the seed and is fitted once: '± 0.00' would read as a spread over seeds
    (its NMI does vary with the k-means seed), so md/LaTeX show the value alone and the CSV no std."""
    results = fake_results(3)
    results["methods"]["clip"] = summarize_runs([{k: 0.5 for k in METRICS}])
    md = results_table(results, "md")
    assert "| clip | 50.00 | 50.00 | 50.00 | 50.00 |" in md
    assert "a value without ± is a single run" in md
    row = next(r for r in csv.DictReader(io.StringIO(results_table(results, "csv"))) if r["method"] == "clip")
    assert row["n_runs"] == "1" and float(row["P@1 mean"]) == 50.0 and row["P@1 std"] == ""
    assert r"clip & 50.00 & 50.00" in results_table(results, "latex")
    results["methods"] = {"clip": results["methods"]["clip"]}
    assert "Values ×100, one run each." in results_table(results, "md")


def test_csv_and_latex_tables():
    results = fake_results(1, methods=("indirect+ignore", "clip", "oracle"))
    reader = list(csv.DictReader(io.StringIO(results_table(results, "csv"))))
    assert [r["method"] for r in reader] == ["indirect+ignore", "clip", "oracle"]
    row = next(r for r in reader if r["method"] == "clip")
    assert float(row["MAP@R mean"]) == pytest.approx(100 * results["methods"]["clip"]["mean_average_precision_at_r"]["mean"], abs=1e-4)
    assert float(row["MAP@R std"]) == pytest.approx(100 * results["methods"]["clip"]["mean_average_precision_at_r"]["std"], abs=1e-4)
    assert next(r for r in reader if r["method"] == "oracle")["upper_bound"] == "True"
    latex = results_table(results, "latex")
    assert r"indirect+ignore &" in latex and r"$\pm$" in latex and r"oracle (upper bound)$^\dagger$" in latex
    assert latex.count(r"\\") == 1 + 3 + 1  # header, three methods, footnote


def test_write_run_tables_and_contract_errors(tmp_path):
    results = fake_results(2)
    written = write_run_tables(results, tmp_path / "run", latex=True)
    assert [p.name for p in written] == ["results.md", "results.csv", "results.tex"]
    assert "indirect" in (tmp_path / "run" / "results.md").read_text()
    broken = dict(results)
    del broken["notion"]
    (tmp_path / "results.json").write_text(json.dumps(broken))
    with pytest.raises(ResultsError, match=r"results.json: missing key 'notion'"):
        load_results(tmp_path / "results.json")
    with pytest.raises(ValueError, match="fmt='html'"):
        results_table(results, "html")


def test_sweep_report_matches_each_job_and_lists_the_missing_run(tmp_path):
    written = make_multirun(tmp_path / "multirun", missing=(3,))
    report = write_sweep_report(tmp_path / "multirun", tmp_path / "out")
    md = (tmp_path / "out" / "report.md").read_text()
    assert "4 job(s): 3 ok, 1 missing" in md
    assert "| 3 | missing | notion=type n_components=128 | no results.json |" in md
    for number, results in written.items():
        setting = f"n_components={64 if number % 2 == 0 else 128}"
        for method, per_method in results["methods"].items():
            name = method + (" (upper bound) †" if method == "oracle" else "")
            cells = [cell(per_method[m]) for m in ("precision_at_1", "mean_average_precision_at_r", "r_precision")]
            assert f"| {results['notion']} | {setting} | {name} | " + " | ".join(cells) + " |" in md
    rows = list(csv.DictReader(io.StringIO((tmp_path / "out" / "report.csv").read_text())))
    assert len([r for r in rows if r["status"] == "ok"]) == 3 * 4
    assert [(r["job"], r["status"]) for r in rows if r["status"] != "ok"] == [("3", "missing")]
    tex = (tmp_path / "out" / "report.tex").read_text()
    assert "job 3 missing" in tex
    png = report["paths"]["png"]
    assert png.read_bytes()[:8] == PNG_MAGIC and png.stat().st_size > 5000


def test_failed_and_never_started_jobs_are_reported(tmp_path):
    make_multirun(tmp_path / "m", missing=(), failed=(1,), not_started=(3,))
    (tmp_path / "m" / "2" / "results.json").write_text("{not json")
    report = write_sweep_report(tmp_path / "m")
    status = {job.name: (job.status, job.reason) for job in report["jobs"]}
    assert status["0"][0] == "ok"
    assert status["1"] == ("failed", "error.txt: DatasetError: cars196: root /data/cars196 does not exist")
    assert status["2"][0] == "failed" and "not valid JSON" in status["2"][1]
    assert status["3"] == ("not started", "no job directory")
    md = (tmp_path / "m" / "report.md").read_text()
    assert "| 3 | not started | notion=type n_components=128 |" in md


def test_report_on_a_folder_without_jobs_fails_clearly(tmp_path):
    with pytest.raises(SweepError, match="no job directories"):
        write_sweep_report(tmp_path)
    with pytest.raises(SweepError, match="no such directory"):
        write_sweep_report(tmp_path / "nope")


def test_plot_sweep_pools_jobs_by_swept_value(tmp_path):
    root = tmp_path / "sweep"
    root.mkdir()
    for number, k in enumerate([2, 4, 8, 8]):
        job = root / str(number)
        (job / ".hydra").mkdir(parents=True)
        (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump([f"n_components={k}"]))
        (job / "results.json").write_text(json.dumps(fake_results(number)))
    out = tmp_path / "sweep.png"
    assert plot_sweep(root, "n_components", out) == (3, [], 0)
    assert out.read_bytes()[:8] == PNG_MAGIC
    table = list(csv.DictReader(open(tmp_path / "sweep.csv")))  # the plotted numbers, next to the PNG
    p1 = {row["n_components"]: row for row in table if row["metric"] == "P@1"}
    assert sorted(p1) == ["2", "4", "8"] and p1["8"]["runs"] == "6" and p1["2"]["runs"] == "3"
    runs = [fake_results(n)["methods"]["indirect"]["precision_at_1"]["runs"] for n in (2, 3)]
    assert float(p1["8"]["mean"]) == pytest.approx(100 * np.mean(runs), abs=0.006)
    clip = fake_results(0)["methods"]["clip"]["precision_at_1"]["runs"]
    assert float(p1["2"]["clip mean"]) == pytest.approx(100 * np.mean(clip), abs=0.006)  # the reference at k=2
    with pytest.raises(SweepError, match="no value for 'max_prompts'"):
        plot_sweep(root, "max_prompts", out)
    with pytest.raises(SweepError, match="no method 'lae'"):
        plot_sweep(root, "n_components", out, method="lae")


def _sweep_job(root: Path, number: int, overrides: list[str], p1: dict[str, list[float]]) -> None:
    job = root / str(number)
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    results = fake_results(number, methods=tuple(p1))
    for method, runs in p1.items():
        results["methods"][method]["precision_at_1"] = summarize_runs([{"p": r} for r in runs])["p"]
    (job / "results.json").write_text(json.dumps(results))


def test_plot_sweep_keeps_jobs_that_differ_in_another_swept_key_apart(tmp_path):
    """n_components=2,4 protocol=improved,paper (conf/experiment/sweep_dims.yaml's usage): one line
    per protocol, never their pooled mean; a seed swept beside them is still pooled."""
    root = tmp_path / "sweep"
    number = 0
    for k in (2, 4):
        for protocol, level in (("improved", 0.6), ("paper", 0.2)):
            for seed in (0, 1):
                _sweep_job(root, number, [f"n_components={k}", f"protocol={protocol}", f"seed={seed}"],
                           {"indirect": [level + seed / 100], "clip": [0.3]})
                number += 1
    plot_sweep(root, "n_components", tmp_path / "dims.png", metrics=["precision_at_1"])
    rows = list(csv.DictReader(open(tmp_path / "dims.csv")))
    by_line = {(row["setting"], row["n_components"]): row for row in rows}
    assert sorted(by_line) == [("protocol=improved", "2"), ("protocol=improved", "4"), ("protocol=paper", "2"),
                               ("protocol=paper", "4")]
    assert by_line[("protocol=improved", "2")]["mean"] == "60.50" and by_line[("protocol=paper", "4")]["mean"] == "20.50"
    assert {row["runs"] for row in rows} == {"2"} and {row["clip mean"] for row in rows} == {"30.00"}


def test_plot_sweep_draws_the_reference_of_each_backbone_in_a_backbone_sweep(tmp_path):
    """The raw backbone's figure changes with the backbone: the dashed reference follows it."""
    root = tmp_path / "sweep"
    for number, (name, clip) in enumerate([("vit_b32_openai", 0.3), ("vit_b16_openai", 0.4), ("vit_l14_openai", 0.5)]):
        _sweep_job(root, number, [f"backbone={name}"], {"indirect": [clip + 0.1], "clip": [clip]})
    plot_sweep(root, "backbone", tmp_path / "sizes.png", metrics=["precision_at_1"])
    rows = list(csv.DictReader(open(tmp_path / "sizes.csv")))
    assert [(row["backbone"], row["mean"], row["clip mean"]) for row in rows] == [
        ("vit_b32_openai", "40.00", "30.00"), ("vit_b16_openai", "50.00", "40.00"), ("vit_l14_openai", "60.00", "50.00")]


def _prompt_sweep(root: Path, failed=()) -> None:
    """max_prompts=40,60 x seed=0,1 on a 44-prompt notion (60 keeps all 44, as build_prompts does)."""
    for number, (size, seed) in enumerate([(40, 0), (40, 1), (60, 0), (60, 1)]):
        _sweep_job(root, number, [f"max_prompts={size}", f"seed={seed}"], {"indirect": [0.5 + number / 10], "clip": [0.3]})
        results = json.loads((root / str(number) / "results.json").read_text())
        (root / str(number) / "results.json").write_text(json.dumps({**results, "n_prompts": min(size, 44)}))
        if number in failed:
            (root / str(number) / "results.json").unlink()
            (root / str(number) / "error.txt").write_text("Traceback ...\nRuntimeError: CUDA out of memory\n")


def test_a_prompt_sweep_is_drawn_at_the_prompts_each_run_used(tmp_path):
    """max_prompts=60 on 44 prompts ran with all 44 (results.json n_prompts): drawn at 44, said so;
    it was drawn at 60, a prompt count no run used."""
    root = tmp_path / "sweep"
    _prompt_sweep(root)
    plotted = plot_sweep(root, "max_prompts", tmp_path / "prompts.png", metrics=["precision_at_1"])
    rows = list(csv.DictReader(open(tmp_path / "prompts.csv")))
    assert [(row["n_prompts"], row["mean"], row["runs"]) for row in rows] == [("40", "55.00", "2"), ("44", "75.00", "2")]
    assert plotted == (2, ["max_prompts=60 kept all 44 prompts: drawn at x = 44"], 0)


def test_a_partial_sweep_plot_names_the_jobs_it_leaves_out_and_the_script_exits_1(tmp_path, capsys, caplog):
    """report.py says "3 ok, 1 failed" of this folder; the plot did not: it drew 2 values, exit 0."""
    from indirect.analysis.sweep_plots import SweepPlot

    root = tmp_path / "sweep"
    _prompt_sweep(root, failed=(1,))
    line = "1 of 4 jobs not plotted: 1 failed (max_prompts=40 seed=1)"
    plotted = plot_sweep(root, "max_prompts", tmp_path / "prompts.png")
    assert plotted.notes[0] == line and plotted.n_not_plotted == 1
    spec = importlib.util.spec_from_file_location("plot_script", Path(__file__).parents[1] / "scripts" / "plot_sweep.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.main([str(root), "max_prompts", "--out", str(tmp_path / "again.png")]) == 1
    assert line in capsys.readouterr().out.splitlines()
    with caplog.at_level("WARNING", logger="indirect.analysis.sweep_plots"):
        SweepPlot("max_prompts").on_multirun_end(OmegaConf.create({"hydra": {"sweep": {"dir": str(root)}}}))
    assert line in caplog.messages and (root / "sweep_max_prompts.png").is_file()
    _prompt_sweep(tmp_path / "whole")
    assert script.main([str(tmp_path / "whole"), "max_prompts"]) == 0


def test_a_figure_stored_as_null_is_an_empty_cell_in_the_csv_and_a_gap_in_the_chart(tmp_path):
    """results.json writes NaN as null (strict JSON): the CSV leaves the cell empty, the bar chart
    draws no bar, neither crashes."""
    from indirect.jsonsafe import to_json
    from indirect.reporting.figures import bar_chart
    from indirect.reporting.jobs import run_job
    from indirect.reporting.tables import build_table

    results = fake_results(3, methods=("indirect", "clip"))
    results["methods"]["indirect"] = summarize_runs([{"precision_at_1": float("nan"), "NMI": 0.5}] * 3)
    results["methods"]["clip"] = summarize_runs([{"precision_at_1": 0.25, "NMI": 0.5}] * 3)
    results = json.loads(to_json(results))
    assert results["methods"]["indirect"]["precision_at_1"]["mean"] is None
    rows = {row["method"]: row for row in csv.DictReader(io.StringIO(results_table(results, "csv")))}
    assert rows["indirect"]["P@1 mean"] == "" and rows["indirect"]["NMI mean"] == "50.0000"
    assert rows["clip"]["P@1 mean"] == "25.0000"
    assert bar_chart(build_table([run_job(results)]), tmp_path / "bars.png").read_bytes()[:8] == PNG_MAGIC
    in_memory = fake_results(3, methods=("indirect", "clip"))      # as write_results gets it: NaN, not null
    in_memory["methods"]["indirect"] = summarize_runs([{"precision_at_1": float("nan"), "NMI": 0.5}] * 3)
    rows = {row["method"]: row for row in csv.DictReader(io.StringIO(results_table(in_memory, "csv")))}
    assert rows["indirect"]["P@1 mean"] == "" and rows["indirect"]["P@1 std"] == ""   # was 'nan'


def test_a_sweep_mixing_retrieval_and_conditional_jobs_shows_both_kinds_of_figure(tmp_path):
    """evaluation=default,conditional: the recall columns were left out, so every conditional row
    read '-' (the mark of a figure that cannot be computed) and hid its numbers."""
    root = tmp_path / "sweep"
    for number, evaluation in enumerate(("default", "conditional")):
        job = root / str(number)
        (job / ".hydra").mkdir(parents=True)
        (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump([f"evaluation={evaluation}"]))
        results = fake_results(number, methods=("indirect", "clip"))
        if evaluation == "conditional":
            results["methods"] = {m: summarize_runs([{"recall_at_1": r, "recall_at_2": r + 0.1}] * 2)
                                  for m, r in (("indirect+focus", 0.859), ("clip+focus", 0.25))}
        (job / "results.json").write_text(json.dumps(results))
    written = write_sweep_report(root)
    rows = list(csv.DictReader(open(written["paths"]["csv"])))
    focus = next(r for r in rows if r["method"] == "indirect+focus")
    assert float(focus["recall_at_1 mean"]) == pytest.approx(85.9) and float(focus["recall_at_2 mean"]) == pytest.approx(95.9)
    assert float(next(r for r in rows if r["method"] == "indirect")["P@1 mean"]) > 0


def test_latex_cells_print_braces_and_quotes_literally():
    """A swept template '["a {} shape"]' typeset as 'a  shape': braces opened an empty group."""
    from indirect.reporting.tables import latex_escape

    assert latex_escape('prompts.templates=["a {} shape"]') == r"prompts.templates=[''a \{\} shape'']"
    assert latex_escape("50% of x_1 & y#2 $3 ~ ^ \\") == (r"50\% of x\_1 \& y\#2 \$3 \textasciitilde{} "
                                                          r"\textasciicircum{} \textbackslash{}")


def test_report_script_writes_files_and_signals_missing_runs(tmp_path, capsys):
    make_multirun(tmp_path / "m", missing=(3,))
    spec = importlib.util.spec_from_file_location("report_script", Path(__file__).parents[1] / "scripts" / "report.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    code = script.main([str(tmp_path / "m"), "--out", str(tmp_path / "o"), "--metric", "P@1", "--sweep-param", "n_components"])
    assert code == 1
    printed = capsys.readouterr().out
    assert "| notion | setting | method | P@1 |" in printed
    assert {p.name for p in (tmp_path / "o").iterdir()} == {"report.md", "report.csv", "report.tex", "report.png", "sweep_n_components.png",
                                                          "sweep_n_components.csv"}


def make_sharded_sweep(root: Path, experiment_job=2) -> None:
    """embed.shard=range(4): three jobs wrote shard.json, one (the job that completed the cache) results.json."""
    root.mkdir(parents=True)
    task = ["notion=color", "embed.num_shards=4", "embed.shard=range(4)"]
    (root / "multirun.yaml").write_text(yaml.safe_dump({"hydra": {
        "sweeper": {"_target_": "hydra._internal.core_plugins.basic_sweeper.BasicSweeper", "params": None},
        "overrides": {"task": task}}}))
    for number in range(4):
        job = root / str(number)
        (job / ".hydra").mkdir(parents=True)
        (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump([*task[:2], f"embed.shard={number}"]))
        if number == experiment_job:
            (job / "results.json").write_text(json.dumps(fake_results(number)))
        else:
            (job / "shard.json").write_text(json.dumps({"shard": number, "num_shards": 4}))


def test_a_sharded_sweep_reports_one_result_and_its_shard_jobs(tmp_path, capsys):
    """The shard jobs used to be listed as missing runs (no results.json), failing the report."""
    make_sharded_sweep(tmp_path / "m")
    report = write_sweep_report(tmp_path / "m")
    assert [(job.name, job.status) for job in report["jobs"]] == [("0", "shard"), ("1", "shard"), ("2", "ok"),
                                                                   ("3", "shard")]
    md = (tmp_path / "m" / "report.md").read_text()
    assert "4 job(s): 1 ok, 3 shard" in md and "Shard job(s) 0, 1, 3: embedding only (embed.shard)" in md
    assert "| method | P@1 | MAP@R | R-Prec |" in md  # one result: no embed.shard=2 setting column
    assert "missing" not in md and "None: every job wrote its results.json or its shard." in md
    rows = list(csv.DictReader(io.StringIO((tmp_path / "m" / "report.csv").read_text())))
    assert len([r for r in rows if r["status"] == "ok"]) == 4
    assert [(r["job"], r["reason"]) for r in rows if r["status"] == "shard"][0] == (
        "0", "shard 0 of 4: embedding only; one job of a sharded sweep runs the experiment")
    assert "job 0" not in (tmp_path / "m" / "report.tex").read_text()
    plotted = plot_sweep(tmp_path / "m", "notion", tmp_path / "notion.png")
    assert plotted.n_not_plotted == 0 and not plotted.notes

    spec = importlib.util.spec_from_file_location("report_script", Path(__file__).parents[1] / "scripts" / "report.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.main([str(tmp_path / "m")]) == 0
    (tmp_path / "m" / "2" / "results.json").unlink()   # the experiment never ran: not a complete sweep
    (tmp_path / "m" / "2" / "shard.json").write_text(json.dumps({"shard": 2, "num_shards": 4}))
    assert script.main([str(tmp_path / "m")]) == 1
    assert "4 job(s): 4 shard" in capsys.readouterr().out


def test_tables_show_the_protocol_and_a_dash_for_a_method_it_does_not_apply():
    results = fake_results(3, methods=("indirect", "clip", "oracle"))
    results["protocol"] = "paper"
    results["not_applicable"] = {"pca": "the paper reports no PCA baseline here"}
    md = results_table(results, "md")
    assert "\nprotocol: paper\n" in md
    assert "| pca | - | - | - | - |" in md and "- pca: not applicable (the paper reports no PCA baseline here)." in md
    rows = list(csv.DictReader(io.StringIO(results_table(results, "csv"))))
    pca = next(r for r in rows if r["method"] == "pca")
    assert (pca["P@1 mean"], pca["status"], pca["reason"]) == ("", "not applicable", "the paper reports no PCA baseline here")
    assert {r["protocol"] for r in rows} == {"paper"}
    latex = results_table(results, "latex")
    assert r"pca & - & - & - & - \\" in latex and r"\footnotesize protocol: paper}" in latex
    assert [r["method"] for r in rows] == ["indirect", "clip", "pca", "oracle"]  # paper order, upper bound last
    with pytest.raises(ResultsError, match=r"\['clip'\] listed under both 'methods' and 'not_applicable'"):
        results_table({**results, "not_applicable": {"clip": "x"}})
    with pytest.raises(ResultsError, match="'protocol' must be a string"):
        results_table({**results, "protocol": 3})


def test_a_run_is_a_sweep_of_one_job(tmp_path):
    results = fake_results(4)
    job = tmp_path / "m" / "0"
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(["notion=color"]))
    (job / "results.json").write_text(json.dumps(results))
    report = write_sweep_report(tmp_path / "m", metrics=list(METRICS))
    table_lines = [line for line in report["paths"]["md"].read_text().splitlines() if line.startswith(("| ", "**"))]
    run_lines = [line for line in results_table(results, "md").splitlines() if line.startswith(("| ", "**"))]
    assert table_lines[:len(run_lines)] == run_lines  # same caption, header and rows; then the job list
    run_csv = results_table(results, "csv").splitlines()
    sweep_csv = report["paths"]["csv"].read_text().splitlines()
    assert [line.replace(",0,ok,", ",,ok,") for line in sweep_csv] == run_csv  # differs in the job number only


def test_protocols_that_differ_between_jobs_become_a_column(tmp_path):
    make_multirun(tmp_path / "m", missing=())
    for number, protocol in ((0, "paper"), (1, "demo")):
        path = tmp_path / "m" / str(number) / "results.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), "protocol": protocol}))
    md = write_sweep_report(tmp_path / "m")["paths"]["md"].read_text()
    assert "| notion | protocol | setting | method |" in md and "protocol: " not in md
    assert "| color | paper | n_components=64 | indirect |" in md and "| type | unspecified | n_components=64 |" in md


def test_report_script_plots_a_categorical_sweep_in_sweep_order(tmp_path, capsys):
    root = tmp_path / "m"
    (root).mkdir()
    (root / "multirun.yaml").write_text(yaml.safe_dump({"hydra": {"sweeper": {
        "_target_": "hydra._internal.core_plugins.basic_sweeper.BasicSweeper", "params": None},
        "overrides": {"task": ["backbone=vit_l14_openai,demo,tiny"]}}}))
    for number, backbone in enumerate(["vit_l14_openai", "demo", "tiny"]):
        job = root / str(number)
        (job / ".hydra").mkdir(parents=True)
        (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump([f"backbone={backbone}"]))
        (job / "results.json").write_text(json.dumps({**fake_results(number), "backbone": backbone}))
    spec = importlib.util.spec_from_file_location("report_script", Path(__file__).parents[1] / "scripts" / "report.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.main([str(root), "--sweep-param", "backbone"]) == 0  # before: "not numeric", exit 2
    assert f"{root / 'sweep_backbone.png'}: 3 value(s) of backbone" in capsys.readouterr().out
    assert (root / "sweep_backbone.png").read_bytes()[:8] == PNG_MAGIC
    table = list(csv.DictReader(open(root / "sweep_backbone.csv")))
    p1 = [row for row in table if row["metric"] == "P@1"]
    assert [row["backbone"] for row in p1] == ["vit_l14_openai", "demo", "tiny"]  # sweep order, not sorted
    expected = fake_results(1)["methods"]["indirect"]["precision_at_1"]["runs"]
    assert float(p1[1]["mean"]) == pytest.approx(100 * np.mean(expected), abs=0.006)
    assert float(p1[1]["clip mean"]) == pytest.approx(   # the raw backbone of that job, not of all three
        100 * np.mean(fake_results(1)["methods"]["clip"]["precision_at_1"]["runs"]), abs=0.006)
