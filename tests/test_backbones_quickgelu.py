"""OpenAI's CLIPs (and every QuickGELU-trained open_clip tag) are built with QuickGELU, so the features
are OpenAI's: seeded weights are put where the ``openai`` tag loads from offline (the Hugging Face
hub cache) and compared with OpenAI's ``clip`` package's model built from the same weights."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import open_clip
import pytest
import torch
from omegaconf import OmegaConf
from open_clip import pretrained as open_clip_pretrained
from open_clip.transformer import QuickGELU
from PIL import Image

from indirect.backbones.activation import create_kwargs, model_spec
from indirect.backbones.open_clip_backbone import BackboneError, OpenClipBackbone
from indirect.backbones.openai_clip_backbone import _import_clip

from conftest import ROOT
from hf_cache import put_tag_weights

EXACT = 0.99999
TEXTS = ["a photo of a dog", "a red car", "a car in front of a blue background", "a small bird on a branch"]
# A tiny ViT in OpenAI's layout (64-wide heads, as clip.model.build_model infers them from the weights).
TINY = "indirect-test-tiny-openai"
TINY_CFG = {"embed_dim": 64,
            "vision_cfg": {"image_size": 32, "layers": 2, "width": 128, "head_width": 64, "patch_size": 8},
            "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 128, "heads": 2, "layers": 2}}


def _images(n=6):
    return [Image.fromarray((np.random.default_rng(seed).random((40 + 24 * seed, 56, 3)) * 255).astype("uint8"))
            for seed in range(n)]


def _min_cosine(a, b):
    return torch.nn.functional.cosine_similarity(a, b).min().item()


def _seeded_openai_weights(model_name: str, mlp_scale: float = 3.0) -> dict:
    """Seeded random weights in fp16, as OpenAI ships them (both loaders then read identical values).
    The MLP weights are scaled up from open_clip's init, whose pre-activations are so small that
    GELU and QuickGELU nearly agree; trained weights are not that kind."""
    torch.manual_seed(0)
    model = open_clip.create_model(model_name, force_quick_gelu=True)
    return {key: (value * (mlp_scale if value.ndim == 2 and ".mlp." in key else 1.0)).half()
            for key, value in model.state_dict().items()}


@pytest.fixture
def tiny_openai_tag(tmp_path, monkeypatch):
    """A tiny model with an ``openai`` tag recorded as QuickGELU, resolved through the same hf_hub path."""
    config = tmp_path / f"{TINY}.json"
    config.write_text(json.dumps(TINY_CFG))
    open_clip.add_model_config(config)
    tag = {**open_clip_pretrained.get_pretrained_cfg("ViT-B-32", "openai"), "hf_hub": "indirect-test/tiny-openai/"}
    monkeypatch.setitem(open_clip_pretrained._PRETRAINED, TINY, {"openai": tag})
    return TINY


def compare_with_openai_clip(hf_home: Path, model_name: str) -> dict:
    """Min cosines over images and texts: ours, and today's GELU build, each against OpenAI's clip."""
    clip = _import_clip()
    weights = _seeded_openai_weights(model_name)
    put_tag_weights(hf_home, model_name, "openai", weights)
    reference = clip.model.build_model(dict(weights)).float().eval()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ours = OpenClipBackbone(model_name, "openai", device="cpu")
    assert not [w for w in caught if "QuickGELU mismatch" in str(w.message)]
    images = _images()
    ours_x = torch.stack([ours.preprocess(image) for image in images])
    theirs_x = torch.stack([clip.clip._transform(reference.visual.input_resolution)(image) for image in images])
    assert torch.allclose(ours_x, theirs_x, atol=1e-6)
    gelu = open_clip.create_model(model_name, pretrained="openai").eval()  # the build before QuickGELU was chosen
    tokens = clip.tokenize(TEXTS)
    with torch.inference_mode():
        image_ref, text_ref = reference.encode_image(theirs_x), reference.encode_text(tokens)
        return {"ours": (_min_cosine(ours.image_features(ours_x), image_ref),
                         _min_cosine(ours.text_features(TEXTS), text_ref)),
                "gelu": (_min_cosine(gelu.encode_image(ours_x), image_ref),
                         _min_cosine(gelu.encode_text(tokens), text_ref)),
                "backbone": ours}


def _assert_exact_and_gelu_not(result):
    assert min(result["ours"]) >= EXACT, result
    assert result["gelu"][0] < EXACT and result["gelu"][1] < EXACT, result  # the test can fail on GELU
    backbone = result["backbone"]
    assert backbone.fingerprint()["activation"] == "quick_gelu"
    assert backbone.name.endswith("-quickgelu")
    assert not any(isinstance(m, torch.nn.GELU) for m in backbone.model.modules())


def test_tiny_openai_tag_matches_openai_clip_exactly(offline_hf_home, tiny_openai_tag):
    _assert_exact_and_gelu_not(compare_with_openai_clip(offline_hf_home, tiny_openai_tag))


@pytest.mark.slow
def test_vit_b32_openai_tag_matches_openai_clip_exactly(offline_hf_home):
    """Full-size ViT-B/32 (300 MB of fp16 weights in a tmp HF cache): ~20-40 s on a CPU."""
    _assert_exact_and_gelu_not(compare_with_openai_clip(offline_hf_home, "ViT-B-32"))


@pytest.mark.parametrize("config", ["vit_b32_openai", "vit_b16_openai", "vit_l14_openai"])
def test_openai_backbone_configs_build_quick_gelu(config):
    """The configs' model, built as the backbone builds it (on the meta device: no weights), has
    QuickGELU in every MLP of both towers and no GELU."""
    backbone = OmegaConf.load(ROOT / "conf" / "backbone" / f"{config}.yaml")
    spec = model_spec(backbone.model_name, backbone.pretrained)
    assert spec.quick_gelu and spec.label.endswith("-quickgelu")
    assert model_spec(backbone.model_name, backbone.pretrained, backbone.force_quick_gelu) == spec
    # backbone.pretrained=<local copy of the openai weights>: no tag to follow, the config says QuickGELU
    assert model_spec(backbone.model_name, None, backbone.force_quick_gelu) == spec
    with torch.device("meta"):
        model = open_clip.create_model(spec.model_name, device="meta", **create_kwargs(spec))
    for tower in (model.visual, model.transformer):
        activations = [m for m in tower.modules() if isinstance(m, (QuickGELU, torch.nn.GELU))]
        assert activations and all(isinstance(m, QuickGELU) for m in activations)


def test_local_open_clip_file_of_an_architecture_trained_both_ways_needs_the_activation(tmp_path, tiny_openai_tag,
                                                                                      monkeypatch):
    """open_clip's own file for the openai tag is a plain state dict: as backbone.pretrained it was
    built with the config's GELU (ViT-B/32: min cosine vs OpenAI's clip 0.999904 image, 0.999914
    text). Under a name whose tags were trained both ways it is refused; force_quick_gelu=true
    (vit_*_openai.yaml sets it) computes OpenAI's model."""
    gelu_tag = {**open_clip_pretrained.get_pretrained_cfg("ViT-B-32", "laion2b_s34b_b79k"), "hf_hub": "x/y/"}
    monkeypatch.setitem(open_clip_pretrained._PRETRAINED[TINY], "laion_like", gelu_tag)
    weights = _seeded_openai_weights(TINY)
    torch.save(weights, tmp_path / "open_clip_pytorch_model.bin")
    path = str(tmp_path / "open_clip_pytorch_model.bin")
    with pytest.raises(BackboneError, match=rf"backbone.pretrained={path} is a local {TINY} file, which does not "
                                            r"record its activation.*QuickGELU \(openai\) and with GELU \(laion_like\): "
                                            "say which, backbone.force_quick_gelu=true") as caught:
        OpenClipBackbone(TINY, path, device="cpu")
    assert "\n" not in str(caught.value)
    reference = _import_clip().model.build_model(dict(weights)).float().eval()
    backbones = [OpenClipBackbone(TINY, path, device="cpu", force_quick_gelu=force) for force in (True, False)]
    x = torch.stack([backbones[0].preprocess(image) for image in _images()])
    with torch.inference_mode():
        cosines = [_min_cosine(backbone.image_features(x), reference.encode_image(x)) for backbone in backbones]
    assert cosines[0] >= EXACT > cosines[1], cosines
    monkeypatch.delitem(open_clip_pretrained._PRETRAINED[TINY], "laion_like")  # QuickGELU tags, a GELU config
    with pytest.raises(BackboneError, match="its open_clip config builds GELU"):
        OpenClipBackbone(TINY, path, device="cpu")


@pytest.mark.parametrize("model_name,tag,quick_gelu,built", [
    ("ViT-B-32", "openai", True, "ViT-B-32"),
    ("ViT-B-32-quickgelu", "openai", True, "ViT-B-32-quickgelu"),
    ("ViT-B-32", "laion400m_e32", True, "ViT-B-32"),
    ("ViT-B-16", "dfn2b", True, "ViT-B-16"),
    ("ViT-H-14", "dfn5b", True, "ViT-H-14"),
    ("RN50", "openai", True, "RN50"),
    ("ViT-B-32", "laion2b_s34b_b79k", False, "ViT-B-32"),
    ("ViT-B-32", None, False, "ViT-B-32"),
    ("ViT-B-32-quickgelu", None, True, "ViT-B-32-quickgelu"),
])
def test_activation_follows_the_tags_record(model_name, tag, quick_gelu, built):
    spec = model_spec(model_name, tag)
    assert (spec.model_name, spec.quick_gelu) == (built, quick_gelu)
    if tag:
        assert open_clip_pretrained.get_pretrained_cfg(spec.model_name, tag).get("quick_gelu", False) == quick_gelu


def test_every_tag_open_clip_records_as_quick_gelu_is_built_with_it_under_either_name():
    recorded = 0
    for model_name, tag in open_clip.list_pretrained():
        tag_quick_gelu = open_clip_pretrained.get_pretrained_cfg(model_name, tag).get("quick_gelu", False)
        config_quick_gelu = (open_clip.get_model_config(model_name) or {}).get("quick_gelu", False)
        assert model_spec(model_name, tag).quick_gelu == (tag_quick_gelu or config_quick_gelu), (model_name, tag)
        if tag_quick_gelu:
            recorded += 1
            base = model_name.removesuffix("-quickgelu")
            assert model_spec(base, tag).quick_gelu and model_spec(base + "-quickgelu", tag).quick_gelu
    assert recorded >= 20  # OpenAI's 9 models, their -quickgelu twins, LAION-400M, MetaCLIP, DFN...


@pytest.mark.parametrize("model_name,tag,force,right", [
    ("ViT-B-32", "openai", False, "backbone.model_name=ViT-B-32-quickgelu"),
    ("ViT-B-32-quickgelu", "laion2b_s34b_b79k", None, "backbone.model_name=ViT-B-32"),
    ("ViT-B-32", "laion2b_s34b_b79k", True, "backbone.model_name=ViT-B-32"),
    ("ViT-L-14-quickgelu", None, False, "backbone.model_name=ViT-L-14"),
])
def test_explicit_contradiction_is_one_line_naming_the_right_model(model_name, tag, force, right):
    with pytest.raises(BackboneError, match=right) as error:
        OpenClipBackbone(model_name, tag, device="cpu", force_quick_gelu=force)
    assert "\n" not in str(error.value)


def test_explicit_agreeing_choices_are_accepted():
    assert model_spec("ViT-B-32", "openai", force_quick_gelu=True).quick_gelu
    assert not model_spec("ViT-B-32", "laion2b_s34b_b79k", force_quick_gelu=False).quick_gelu
    assert model_spec("indirect-tiny-vit", None, force_quick_gelu=True).quick_gelu
    roberta = model_spec("roberta-ViT-B-32", None, force_quick_gelu=False)  # its config says QuickGELU
    assert not roberta.quick_gelu and create_kwargs(roberta) == {"quick_gelu": False}


def test_random_weights_follow_force_quick_gelu():
    gelu = OpenClipBackbone("indirect-tiny-vit", None, device="cpu", seed=0)
    quick = OpenClipBackbone("indirect-tiny-vit", None, device="cpu", seed=0, force_quick_gelu=True)
    assert gelu.fingerprint()["activation"] == "gelu" and quick.fingerprint()["activation"] == "quick_gelu"
    assert gelu.name != quick.name
    assert any(isinstance(m, QuickGELU) for m in quick.model.modules())
    assert not torch.allclose(gelu.text_features(TEXTS), quick.text_features(TEXTS), atol=1e-4)


@pytest.mark.parametrize("overrides,right", [
    (["backbone=vit_b32_openai", "backbone.force_quick_gelu=false"], "backbone.model_name=ViT-B-32-quickgelu"),
    (["backbone=open_clip", "backbone.model_name=ViT-B-16-quickgelu", "backbone.pretrained=laion2b_s34b_b88k"],
     "backbone.model_name=ViT-B-16"),
])
def test_contradiction_in_the_config_is_the_user_error_train_eval_reports(overrides, right):
    """Composed as train_eval composes it and instantiated as the pipeline does: train_eval finds the
    BackboneError behind Hydra's wrapper (exit 2, one line)."""
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    from train_eval import user_error_in

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("train_eval", overrides=overrides)
    with pytest.raises(Exception) as raised:
        instantiate(cfg.backbone)
    error = user_error_in(raised.value)
    assert isinstance(error, BackboneError) and right in str(error) and "\n" not in str(error)
