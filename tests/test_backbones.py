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
