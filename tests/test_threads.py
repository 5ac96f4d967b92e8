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
