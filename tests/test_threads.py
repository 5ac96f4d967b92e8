"""Thread discipline: small fits run on one thread, jobs size themselves by their core share."""
import numpy as np
import torch
from threadpoolctl import threadpool_info

from indirect import threads
from indirect.projectors import InDiReCT


def test_job_cores_is_capped_by_omp_num_threads(monkeypatch):
    monkeypatch.setattr(threads, "available_cores", lambda: 8)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert threads.job_cores() == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "64")
    assert threads.job_cores() == 8
    for unset in ("", "0", "auto"):
        monkeypatch.setenv("OMP_NUM_THREADS", unset)
        assert threads.job_cores() == 8
    assert threads.threads_for(512) == 1 and threads.threads_for(4096) == 8


def test_limited_threads_caps_blas_and_torch_then_restores():
    before = torch.get_num_threads()
    with threads.limited_threads(1):
        assert torch.get_num_threads() == 1
        assert all(pool["num_threads"] == 1 for pool in threadpool_info())
    assert torch.get_num_threads() == before


def test_fast_fit_eigendecomposes_on_one_thread(monkeypatch):
    seen = []
    eigh = torch.linalg.eigh

    def spy(matrix):
        seen.append((torch.get_num_threads(), max(p["num_threads"] for p in threadpool_info())))
        return eigh(matrix)

    monkeypatch.setattr(torch.linalg, "eigh", spy)
    prompts = np.random.default_rng(0).normal(size=(40, 24)).astype(np.float32)
    InDiReCT(8, device="cpu").fit(prompts)
    assert seen and set(seen) == {(1, 1)}


def test_whole_fit_runs_on_one_thread_deduplication_and_loss_included(monkeypatch):
    """The steps around the solver (2 ms -> 116 ms beside a busy neighbour on 2 threads) are capped too."""
    import indirect.projectors.indirect as module
    seen = {}

    def spying(name, function):
        def spy(*args, **kwargs):
            seen[name] = (torch.get_num_threads(), max(p["num_threads"] for p in threadpool_info()))
            return function(*args, **kwargs)
        return spy

    monkeypatch.setattr(module, "unique_unit_rows", spying("unique", module.unique_unit_rows))
    monkeypatch.setattr(InDiReCT, "_loss_on", spying("loss", InDiReCT._loss_on))
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        prompts = np.random.default_rng(0).normal(size=(40, 24)).astype(np.float32)
        InDiReCT(8, device="cpu").fit(prompts)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert seen == {"unique": (1, 1), "loss": (1, 1)}


def test_thread_pools_are_scanned_again_after_an_import(monkeypatch):
    import sys
    import types
    first = threads._thread_pools()
    assert threads._thread_pools() is first                 # no rescan (2 ms) per fit
    monkeypatch.setitem(sys.modules, "a_new_native_module", types.ModuleType("a_new_native_module"))
    assert threads._thread_pools() is not first


def test_import_shortens_openmp_spinning_before_torch_loads_and_keeps_a_users_value():
    import os
    import subprocess
    import sys
    probe = ("import os, sys; import indirect; assert 'torch' not in sys.modules; "
             "import torch; print(os.environ['GOMP_SPINCOUNT'])")
    env = {k: v for k, v in os.environ.items() if k != "GOMP_SPINCOUNT"}
    ours = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    theirs = subprocess.run([sys.executable, "-c", probe], env={**env, "GOMP_SPINCOUNT": "777"},
                            capture_output=True, text=True, check=True)
    assert (ours.stdout.strip(), theirs.stdout.strip()) == ("10000", "777")


def test_small_evaluations_run_on_one_thread(monkeypatch):
    import importlib
    evaluate_module = importlib.import_module("indirect.metrics.evaluate")
    seen = []
    real = evaluate_module.clustering_metrics

    def spy(*args, **kwargs):
        seen.append((torch.get_num_threads(), max(p["num_threads"] for p in threadpool_info())))
        return real(*args, **kwargs)

    monkeypatch.setattr(evaluate_module, "clustering_metrics", spy)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        x = np.random.default_rng(0).normal(size=(60, 8)).astype(np.float32)
        evaluate_module.evaluate(x, np.arange(60) % 3, device="cpu")
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert seen == [(1, 1)]
