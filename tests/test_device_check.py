"""The prepared GPU check runs end to end (on the CPU here) and refuses a device it cannot see."""
import importlib.util
import json
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "device_check.py"


@pytest.fixture(scope="module")
def device_check():
    spec = importlib.util.spec_from_file_location("device_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_check_runs_and_passes_on_the_cpu(device_check, tmp_path, capsys):
    out = tmp_path / "check.json"
    assert device_check.main(["--device", "cpu", "--images", "4", "--metric-items", "600", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    checks = ("amp_features", "pipeline", "metrics", "projector", "saliency", "batch_size", "uint8_path", "device_decode")
    assert all(report[name]["ok"] for name in checks), report
    assert report["pipeline"]["images"] == 4 and report["pipeline"]["same_ids"]
    assert report["uint8_path"]["split"] and report["uint8_path"]["identical"]  # bit for bit on the CPU
    assert report["device_decode"]["images"] == 4 and 0 < report["device_decode"]["mean_pixel_difference"] < 1
    assert report["batch_size"]["min_cosine"] >= 0.9999 and report["batch_size"]["max_abs_difference"] < 1e-4
    assert report["amp_features"]["fp16_effective"] == "fp32"  # autocast is CUDA-only: the CPU stays fp32
    printed = capsys.readouterr().out
    assert printed.count("PASS ") == len(checks) and "all checks passed" in printed


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA machine runs the real check")
def test_cuda_without_a_gpu_is_a_one_line_error(device_check, capsys):
    assert device_check.main(["--device", "cuda"]) == 2
    assert "sees no CUDA device" in capsys.readouterr().out
