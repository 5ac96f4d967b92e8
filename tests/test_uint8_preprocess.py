"""Workers ship uint8 pixels and the device scales and normalises: the same numbers as the
backbone's own preprocess, bit for bit, and the whole preprocess where it cannot be split."""
import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms as T

import open_clip
from conftest import write_image_folder
from indirect.backbones.demo.image_tower import preprocess as demo_preprocess
from indirect.backbones.open_clip_backbone import OpenClipBackbone
from indirect.datasets.folder import load_folder
from indirect.embedding import embed_images
from indirect.embedding.images import split_preprocess

OPENAI_MEAN, OPENAI_STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)


def _convert_image_to_rgb(image):  # OpenAI clip's own step, by the name it has there
    return image.convert("RGB")


def _pictures():
    rng = np.random.default_rng(0)
    sizes = [(500, 375), (224, 224), (97, 301), (31, 17)]
    return [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for w, h in sizes]


PREPROCESSES = {
    "open_clip": open_clip.image_transform(224, is_train=False),
    "openai_clip": T.Compose([T.Resize(224, interpolation=T.InterpolationMode.BICUBIC), T.CenterCrop(224),
                              _convert_image_to_rgb, T.ToTensor(), T.Normalize(OPENAI_MEAN, OPENAI_STD)]),
    "demo": demo_preprocess,
}


@pytest.mark.parametrize("name", sorted(PREPROCESSES))
def test_split_gives_the_preprocess_numbers_bit_for_bit(name):
    preprocess = PREPROCESSES[name]
    split = split_preprocess(preprocess)
    assert split is not None
    pictures = _pictures()
    expected = torch.stack([preprocess(p) for p in pictures if p.size == pictures[0].size])
    parts = torch.stack([split.to_uint8(p) for p in pictures if p.size == pictures[0].size])
    assert parts.dtype == torch.uint8 and parts.shape == expected.shape
    assert torch.equal(split.normalize(parts, torch.device("cpu")), expected)
    for picture in pictures[1:]:  # every input size, one at a time
        got = split.normalize(split.to_uint8(picture)[None], torch.device("cpu"))[0]
        assert torch.equal(got, preprocess(picture))


def test_unknown_steps_are_not_split():
    normalize = T.Normalize(OPENAI_MEAN, OPENAI_STD)
    assert split_preprocess(T.Compose([T.Resize(224), T.ColorJitter(0.1), T.ToTensor(), normalize])) is None
    assert split_preprocess(T.Compose([T.Resize(224), T.ToTensor()])) is None  # no Normalize at the end
    assert split_preprocess(T.Compose([T.Resize(224), T.ToTensor(), normalize, T.Lambda(lambda x: x * 2)])) is None
    assert split_preprocess(lambda image: T.functional.to_tensor(image)) is None


def test_embed_images_same_embeddings_with_an_unsplittable_preprocess(tmp_path):
    """The uint8 path (open_clip's Compose) and the fallback (the same Compose hidden in a
    function) give identical cached embeddings."""
    data = load_folder(write_image_folder(tmp_path / "img", per_class=3))
    backbone = OpenClipBackbone("indirect-tiny-vit", None, device="cpu", seed=0)
    assert split_preprocess(backbone.preprocess) is not None
    split_run = embed_images(backbone, data, tmp_path / "split", num_workers=0, batch_size=4)
    compose = backbone.preprocess
    backbone.preprocess = lambda image: compose(image)
    assert split_preprocess(backbone.preprocess) is None
    whole_run = embed_images(backbone, data, tmp_path / "whole", num_workers=0, batch_size=4)
    assert split_run.ids == whole_run.ids and len(split_run.ids) == 9
    assert np.array_equal(split_run.embeddings, whole_run.embeddings)
