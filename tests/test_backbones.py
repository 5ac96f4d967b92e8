"""Real CLIP loading code on tiny checkpoints built here, in the real formats."""
import numpy as np
import pytest
import torch
from PIL import Image

from indirect.backbones.open_clip_backbone import BackboneError, OpenClipBackbone
from indirect.backbones.openai_clip_backbone import OpenAIClipBackbone

TEXTS = ["a photo of a dog", "a red car", "a car in front of a blue background"]


def _image(seed=0):
    return Image.fromarray((np.random.default_rng(seed).random((40, 56, 3)) * 255).astype("uint8"))


def test_openai_clip_and_open_clip_loaders_agree_on_the_same_weights(tiny_openai_checkpoint):
    theirs = OpenAIClipBackbone(str(tiny_openai_checkpoint), device="cpu")
    ours = OpenClipBackbone(None, str(tiny_openai_checkpoint), device="cpu")
    assert theirs.embed_dim == ours.embed_dim == 32
    text_a, text_b = theirs.text_features(TEXTS), ours.text_features(TEXTS)
    assert text_a.shape == (3, 32)
    assert torch.allclose(text_a, text_b, atol=1e-5)
    assert not torch.allclose(text_a[0], text_a[1])
    x_a, x_b = theirs.preprocess(_image())[None], ours.preprocess(_image())[None]
    assert torch.allclose(x_a, x_b, atol=1e-6)
    with torch.inference_mode():
        assert torch.allclose(theirs.image_features(x_a), ours.image_features(x_b), atol=1e-5)


def test_openai_state_dict_loads_with_clip_load_jit_false(tiny_openai_checkpoint):
    from indirect.backbones.openai_clip_backbone import _import_clip

    model, preprocess = _import_clip().load(str(tiny_openai_checkpoint), device="cpu", jit=False)
    assert model.visual.input_resolution == 32
    assert preprocess(_image()).shape == (3, 32, 32)


def test_openai_clip_load_failures_are_one_line_backbone_errors(tmp_path, monkeypatch):
    """A name that is neither a model nor a file, and a download on an offline machine (clip
    raises URLError), each become one line naming backbone.name and the local-file fix."""
    import urllib.error

    from indirect.backbones.openai_clip_backbone import _import_clip
    from indirect.errors import BackboneError

    with pytest.raises(BackboneError, match=r"^OpenAI's clip could not load backbone.name=.*nothere.pt: RuntimeError: "
                                            r"Model .* not found.*backbone.name=/path/to/ViT-B-32.pt") as caught:
        OpenAIClipBackbone(str(tmp_path / "nothere.pt"), device="cpu")
    assert "\n" not in str(caught.value) and "ViT-B/32" in str(caught.value)
    clip = _import_clip()

    def offline(url, root):
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(clip.clip, "_download", offline)
    with pytest.raises(BackboneError, match=r"backbone.name=ViT-B/32: URLError: .*Name or service not known"):
        OpenAIClipBackbone("ViT-B/32", device="cpu")


def test_cache_keys_hold_no_object_address_and_random_weights_name_their_architecture(tiny_openai_checkpoint, monkeypatch):
    """OpenAI clip's preprocess repr names a function 'at 0x7f...' (another key in every process:
    the cache was never reused, shards never merged); random open_clip weights were keyed by
    name and seed only, so a config edited under the same name read the old embeddings."""
    from open_clip import factory

    theirs = OpenAIClipBackbone(str(tiny_openai_checkpoint), device="cpu")
    assert " at 0x" in repr(theirs.preprocess) and " at 0x" not in theirs.fingerprint()["preprocess"]
    assert "_convert_image_to_rgb" in theirs.fingerprint()["preprocess"]
    before = OpenClipBackbone("indirect-tiny-vit", None, device="cpu", seed=0).fingerprint()
    assert before == OpenClipBackbone("indirect-tiny-vit", None, device="cpu", seed=0).fingerprint()
    monkeypatch.setitem(factory._MODEL_CONFIGS["indirect-tiny-vit"]["vision_cfg"], "layers", 3)
    after = OpenClipBackbone("indirect-tiny-vit", None, device="cpu", seed=0).fingerprint()
    assert after["weights"] != before["weights"] and after["weights"].startswith("random:seed0:config-")


def test_open_clip_native_checkpoint_round_trip(tmp_path):
    model = OpenClipBackbone("indirect-tiny-vit", None, device="cpu", seed=3)
    path = tmp_path / "tiny_open_clip.pt"
    torch.save({"state_dict": model.model.state_dict()}, path)
    loaded = OpenClipBackbone("indirect-tiny-vit", str(path), device="cpu", seed=99)
    assert torch.allclose(model.text_features(TEXTS), loaded.text_features(TEXTS), atol=1e-6)
    assert loaded.fingerprint()["weights"].startswith("sha256:")
    assert model.fingerprint()["weights"].startswith("random:seed3:config-")


def test_random_tiny_backbone_is_seeded():
    a = OpenClipBackbone("indirect-tiny-vit", None, device="cpu", seed=1).text_features(TEXTS)
    b = OpenClipBackbone("indirect-tiny-vit", None, device="cpu", seed=1).text_features(TEXTS)
    c = OpenClipBackbone("indirect-tiny-vit", None, device="cpu", seed=2).text_features(TEXTS)
    assert torch.equal(a, b) and not torch.allclose(a, c)


def test_unknown_pretrained_tag_is_one_clear_line():
    with pytest.raises(BackboneError, match="backbone.pretrained"):
        OpenClipBackbone("indirect-tiny-vit", "no-such-tag", device="cpu")


def _save_open_clip_folder(folder, seed: int, model_name: str = "indirect-tiny-vit") -> torch.Tensor:
    """``folder`` as open_clip 3 loads it (open_clip_config.json + weights): the model's text features."""
    import json

    import open_clip
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": open_clip.get_model_config(model_name)}))
    torch.manual_seed(seed)
    model = open_clip.create_model(model_name).eval()
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, folder / "open_clip_model.safetensors")
    with torch.inference_mode():
        return model.encode_text(open_clip.get_tokenizer(model_name)(TEXTS))


def test_local_dir_weights_are_keyed_by_content(tmp_path):
    """model_name=local-dir:<folder> loads the folder's weights whatever pretrained says; they were keyed
    as random:seed0:config-..., so after the weights were replaced the cache served the old embeddings."""
    from indirect.embedding.text_cache import embed_texts

    folder, cache = tmp_path / "mymodel", tmp_path / "cache"
    keys = []
    for seed in (1, 2):
        truth = _save_open_clip_folder(folder, seed)
        backbone = OpenClipBackbone(f"local-dir:{folder}", "openai", device="cpu")
        keys.append(backbone.fingerprint()["weights"])
        assert keys[-1].startswith("config-") and ":sha256:" in keys[-1]
        assert np.allclose(embed_texts(backbone, TEXTS, cache), truth.numpy(), atol=1e-5)
    assert keys[0] != keys[1]
    (folder / "open_clip_model.safetensors").rename(folder / "model.pt")  # a name open_clip does not look for
    with pytest.raises(BackboneError, match="holds no weights open_clip reads") as caught:
        OpenClipBackbone(f"local-dir:{folder}", None, device="cpu")
    assert "\n" not in str(caught.value)


def test_hf_hub_weights_are_keyed_by_the_cached_file(tmp_path, offline_hf_home):
    """hf-hub:<repo> was keyed by the pretrained tag it ignores; now by the snapshot file open_clip
    loads. A repo neither cached nor downloadable is one line."""
    from hf_cache import COMMIT, hf_cache_file

    weights = hf_cache_file(offline_hf_home, "indirect-test/tiny-hub/")
    (weights.parents[2] / "refs").mkdir(parents=True)
    (weights.parents[2] / "refs" / "main").write_text(COMMIT)
    keys = []
    for seed in (1, 2):
        truth = _save_open_clip_folder(tmp_path / "folder", seed)
        weights.parent.mkdir(parents=True, exist_ok=True)
        for name in ("open_clip_config.json", "open_clip_model.safetensors"):
            (tmp_path / "folder" / name).replace(weights.parent / name)
        backbone = OpenClipBackbone("hf-hub:indirect-test/tiny-hub", "openai", device="cpu")
        assert torch.allclose(backbone.text_features(TEXTS), truth, atol=1e-5)
        keys.append(backbone.fingerprint()["weights"])
    assert keys[0] != keys[1] and all(":sha256:" in key for key in keys)
    with pytest.raises(BackboneError, match="hf-hub:indirect-test/elsewhere: its weights are neither in the Hugging "
                                            "Face cache nor downloadable here") as caught:
        OpenClipBackbone("hf-hub:indirect-test/elsewhere", None, device="cpu")
    assert "\n" not in str(caught.value)


def _damaged_files(folder, openai_checkpoint):
    """What sits under a checkpoint's name after a failed download or a mix-up, each as a file."""
    from safetensors.torch import save_file

    folder.mkdir(exist_ok=True)
    files = {"html.pt": b"<html><body>403 Forbidden</body></html>\n",
             "lfs_pointer.pt": b"version https://git-lfs.github.com/spec/v1\noid sha256:0123\nsize 351000000\n",
             "truncated.pt": openai_checkpoint.read_bytes()[:20000], "empty.pt": b""}
    for name, data in files.items():
        (folder / name).write_bytes(data)
    torch.save({"state_dict": {"module.x": torch.zeros(1)}}, folder / "wrong_keys.pt")
    tiny = OpenClipBackbone("indirect-tiny-vit", None, device="cpu").model.state_dict()
    save_file({k: v.contiguous() for k, v in tiny.items()}, folder / "tiny.safetensors")
    (folder / "truncated.safetensors").write_bytes((folder / "tiny.safetensors").read_bytes()[:5000])
    return [folder / name for name in (*files, "wrong_keys.pt", "truncated.safetensors")]


@pytest.mark.parametrize("loader", ["open_clip_named", "open_clip_null", "openai_clip"])
def test_damaged_or_foreign_checkpoint_is_one_line_naming_the_file(tmp_path, tiny_openai_checkpoint, loader):
    """An HTML page or git-lfs pointer under a checkpoint's name, a truncated download, another model's
    tensors: tracebacks before (UnpicklingError advising weights_only=False, SafetensorError, KeyError,
    AssertionError); now one BackboneError naming the file, with no advice to unpickle it unsafely."""
    build = {"open_clip_named": lambda path: OpenClipBackbone("indirect-tiny-vit", str(path), device="cpu"),
             "open_clip_null": lambda path: OpenClipBackbone(None, str(path), device="cpu"),
             "openai_clip": lambda path: OpenAIClipBackbone(str(path), device="cpu")}[loader]
    for path in _damaged_files(tmp_path / "files", tiny_openai_checkpoint):
        with pytest.raises(BackboneError, match=rf"={path} is not a CLIP checkpoint or is damaged \(\w+(Error)?: .*"
                                                r"\): re-download it") as caught:
            build(path)
        assert "\n" not in str(caught.value) and "weights_only" not in str(caught.value), path
    if loader == "open_clip_named":  # OpenAI's weights under another architecture's name: a size mismatch
        with pytest.raises(BackboneError, match="is not a CLIP checkpoint or is damaged .*size mismatch"):
            build(tiny_openai_checkpoint)


def test_train_eval_reports_a_damaged_checkpoint_in_one_line_exit_2(tmp_path):
    from conftest import run_train_eval
    from test_train_eval import assert_one_line_error

    (tmp_path / "weights.pt").write_text("<html><body>403 Forbidden</body></html>\n")
    proc = run_train_eval(tmp_path, "backbone=tiny", f"backbone.pretrained={tmp_path}/weights.pt", "logger=none",
                          check=False)
    assert_one_line_error(proc, f"backbone.pretrained={tmp_path}/weights.pt is not a CLIP checkpoint or is damaged")
    assert "weights_only" not in proc.stderr


def _open_clip_state_dict(path, vision_width: int, head_width: int):
    """An open_clip CLIP's weights saved as open_clip saves them (its head width is not in them)."""
    from open_clip.model import CLIP

    torch.manual_seed(0)
    model = CLIP(32, {"image_size": 32, "layers": 2, "width": vision_width, "head_width": head_width, "patch_size": 16},
                 {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 1, "layers": 2})
    torch.save(model.state_dict(), path)
    return path


@pytest.mark.parametrize("loader", ["open_clip_null", "openai_clip"])
def test_open_clip_checkpoints_openai_s_loader_would_misread_are_refused(tmp_path, loader):
    """OpenAI's loader builds 64-wide heads: an open_clip file with other heads loaded silently as another
    model (a registered config with 80-wide heads: 5 heads instead of 4, image cosine 0.9969)."""
    import open_clip

    build = {"open_clip_null": lambda path: OpenClipBackbone(None, str(path), device="cpu"),
             "openai_clip": lambda path: OpenAIClipBackbone(str(path), device="cpu")}[loader]
    tiny = OpenClipBackbone("indirect-tiny-vit", None, device="cpu", seed=3).model.state_dict()
    torch.save(tiny, tmp_path / "tiny_vit.pt")  # indirect-tiny-vit: 64 wide, 32-wide heads
    with pytest.raises(BackboneError, match="has the shapes of open_clip's indirect-tiny-vit, whose heads are not 64 "
                                            "wide: load it with backbone=open_clip backbone.model_name=indirect-tiny-vit"):
        build(tmp_path / "tiny_vit.pt")
    with pytest.raises(BackboneError, match=r"its widths \(96, 64\) are no multiples of 64"):
        build(_open_clip_state_dict(tmp_path / "w96.pt", 96, 32))
    plain = _open_clip_state_dict(tmp_path / "w128.pt", 128, 64)  # OpenAI's layout: loads, as before
    assert "input_resolution" not in torch.load(plain) and build(plain).embed_dim == 32
    assert open_clip.get_model_config("indirect-tiny-vit")["vision_cfg"]["head_width"] == 32


@pytest.mark.parametrize("loader", ["open_clip", "openai_clip"])
def test_a_prompt_over_the_context_length_is_refused_not_cut(tiny_openai_checkpoint, loader):
    """Both tokenizers cut at 77 tokens, so prompts that differ after the cut got identical embeddings
    (89 + 2 tokens each: 'identical features: True'); the original's clip.tokenize refuses."""
    from indirect.errors import PromptError

    backbone = (OpenClipBackbone("indirect-tiny-vit", None, device="cpu") if loader == "open_clip"
                else OpenAIClipBackbone(str(tiny_openai_checkpoint), device="cpu"))
    fits = "a photo of a " + "red " * 70 + "car"  # 75 words + start and end: exactly 77
    assert backbone.text_features([fits, "a photo"]).shape == (2, 32)
    base = "a photo of a person wearing clothes " + "with many small details " * 20
    with pytest.raises(PromptError, match=r"^prompt 'a photo of a person wearing clothes with many small detai\.\.\.' "
                                          r"is 91 tokens long, over the text encoder's context length 77") as caught:
        backbone.text_features(["a red car", base + "in red", base + "in blue"])
    assert "\n" not in str(caught.value)
    with pytest.raises(PromptError, match="is 78 tokens long"):
        backbone.text_features([fits + " car"])
