"""Local checkpoint files: their identity (what goes into the embedding cache's fingerprint), the one
line for a file that does not load, and the refusal of files OpenAI's loader would misread."""
from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import open_clip
import torch
from safetensors import SafetensorError

from indirect.errors import BackboneError


def file_sha256(path: str | Path, block: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(block), b""):
            digest.update(chunk)
    return digest.hexdigest()


def weights_identity(pretrained: str | None) -> str:
    """A local checkpoint is identified by its content (sha256), a pretrained tag by its name,
    so replacing a file under the same name never serves old embeddings."""
    if pretrained and Path(str(pretrained)).expanduser().is_file():
        return "sha256:" + file_sha256(Path(str(pretrained)).expanduser())
    return f"tag:{pretrained}"


# What loading a local file raises when it is no checkpoint of the model (an HTML page or a git-lfs
# pointer saved under the name, a truncated download, another model's weights): torch.load's
# UnpicklingError/EOFError/RuntimeError, safetensors' SafetensorError, the loaders' KeyError
# (a missing tensor) and AssertionError (a shape they do not expect), load_state_dict's RuntimeError.
LOAD_ERRORS = (RuntimeError, OSError, ValueError, KeyError, AssertionError, EOFError, pickle.UnpicklingError,
               SafetensorError)


def unreadable_checkpoint(setting: str, error: BaseException, fix: str = "re-download it") -> BackboneError:
    """One line naming the file and why it failed to load. torch's UnpicklingError message advises
    ``weights_only=False``, which runs whatever code the file holds: it is not repeated."""
    if isinstance(error, (pickle.UnpicklingError, EOFError)):
        reason = f"{type(error).__name__}: torch.load cannot read it"
    else:
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        reason = f"{type(error).__name__}: {' '.join(lines[:2])}"
        reason = reason if len(reason) <= 160 else reason[:157] + "..."
    return BackboneError(f"{setting} is not a CLIP checkpoint or is damaged ({reason}): {fix}")


def read_state_dict(path: Path) -> dict | None:
    """The tensors of a local checkpoint; None where torch.load cannot read it: a TorchScript archive
    (only OpenAI ships those) or a damaged file (the OpenAI loader then fails and names it)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:
        return None
    state = state.get("state_dict", state) if isinstance(state, dict) else state
    return state if isinstance(state, dict) else {}


def refuse_other_heads(state: dict | None, setting: str) -> None:
    """OpenAI's loader (as ``clip.load``) reads a ViT's widths, depths and patch size off the weights
    but assumes OpenAI's 64-wide attention heads, which the weights do not show: another open_clip
    model's file (ViT-H-14 has 80-wide heads) loads with the wrong heads and computes another
    function. Refused where visible: a width that is no multiple of 64, or the shapes of open_clip
    configs that all have other head widths."""
    if not state or not {"visual.proj", "visual.conv1.weight", "ln_final.weight"} <= state.keys():
        return  # a TorchScript archive (OpenAI's own), a ResNet, or no CLIP: the loader decides
    conv, width = state["visual.conv1.weight"].shape, state["ln_final.weight"].shape[0]
    layers = lambda prefix: len({k.split(".")[prefix.count(".")] for k in state if k.startswith(prefix)})
    grid = round((state["visual.positional_embedding"].shape[0] - 1) ** 0.5)
    shape = (conv[0], layers("visual.transformer.resblocks."), conv[-1], conv[-1] * grid, width,
             layers("transformer.resblocks."), state["text_projection"].shape[1])
    said = f"{setting} is read by OpenAI's loader, which builds 64-wide attention heads"
    if conv[0] % 64 or width % 64:
        raise BackboneError(f"{said}, but its widths ({conv[0]}, {width}) are no multiples of 64: it is another model's "
                            "file; load it with backbone=open_clip backbone.model_name=<its architecture>")
    matches = {}
    for name in open_clip.list_models():
        config = open_clip.get_model_config(name) or {}
        vision, text = config.get("vision_cfg", {}), config.get("text_cfg", {})
        if (vision.get("width"), vision.get("layers"), vision.get("patch_size"), vision.get("image_size"),
                text.get("width"), text.get("layers"), config.get("embed_dim")) == shape:
            matches[name] = vision.get("head_width", 64) == 64 and text["width"] // text.get("heads", 8) == 64
    if matches and not any(matches.values()):
        name = next(iter(matches))
        raise BackboneError(f"{said}, but it has the shapes of open_clip's {name}, whose heads are not 64 wide: load it "
                            f"with backbone=open_clip backbone.model_name={name}")
