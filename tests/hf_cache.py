"""Weights put where open_clip's pretrained-tag loader finds them offline: the Hugging Face hub cache.

open_clip resolves a tag through its pretrained table (``get_pretrained_cfg(model, tag)['hf_hub']``,
``'org/repo/'`` or ``'org/repo/filename'``) and ``hf_hub_download(repo, filename)``; with
``HF_HUB_OFFLINE=1`` that reads ``$HF_HOME/hub/models--org--repo/snapshots/<ref>/<filename>``,
``<ref>`` being the commit named in ``refs/main``.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
from open_clip.constants import HF_WEIGHTS_NAME
from open_clip.pretrained import get_pretrained_cfg

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def hf_cache_file(hf_home: Path, hf_hub: str) -> Path:
    """The cached path of an open_clip ``hf_hub`` entry (``org/repo/`` -> the default weights name)."""
    repo, filename = os.path.split(hf_hub)
    snapshot = Path(hf_home) / "hub" / ("models--" + repo.replace("/", "--")) / "snapshots" / COMMIT
    return snapshot / (filename or HF_WEIGHTS_NAME)


def put_tag_weights(hf_home: Path, model_name: str, tag: str, state_dict: dict) -> Path:
    """Save ``state_dict`` where ``create_model(model_name, pretrained=tag)`` loads it offline."""
    path = hf_cache_file(hf_home, get_pretrained_cfg(model_name, tag)["hf_hub"])
    path.parent.mkdir(parents=True, exist_ok=True)
    refs = path.parents[2] / "refs"
    refs.mkdir(exist_ok=True)
    (refs / "main").write_text(COMMIT)
    torch.save(state_dict, path)
    return path
