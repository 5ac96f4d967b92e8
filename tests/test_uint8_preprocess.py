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


def test_decode_on_device_matches_pil_closely_on_the_cpu(tmp_path):
    """The GPU-decoding path, run with libjpeg on the CPU (nvJPEG needs CUDA: the device script
    measures that): shapes, ids and stamps as the PIL path's, pixels within JPEG/resampler noise."""
    from torch.utils.data import DataLoader

    from indirect.embedding.images import ImageDataset, collate_bytes, decode_on_device

    rng = np.random.default_rng(0)
    paths = []
    for k, (w, h) in enumerate([(500, 375), (500, 375), (375, 500), (300, 300)]):
        smooth = np.linspace(0, 255, w, dtype=np.float32)[None, :, None] + rng.normal(0, 4, (h, w, 3))
        paths.append(tmp_path / f"{k}.jpg")
        Image.fromarray(np.clip(smooth, 0, 255).astype(np.uint8)).save(paths[-1], quality=95)
    paths.append(tmp_path / "missing.jpg")
    preprocess = PREPROCESSES["open_clip"]
    split = split_preprocess(preprocess)
    workers_view = ImageDataset(paths, split.to_uint8, jpeg_bytes=True)
    indices, piece, errors, stamps = next(iter(DataLoader(workers_view, batch_size=5, collate_fn=collate_bytes)))
    datas = piece.items()
    assert all(d.dim() == 1 for d in datas[:4])                     # JPEGs travel as their bytes
    assert indices == [0, 1, 2, 3, 4] and errors[:4] == [""] * 4 and "FileNotFoundError" in errors[4]
    reference = [ImageDataset(paths, preprocess)[k] for k in range(4)]
    assert [tuple(s) for s in stamps[:4]] == [r[3] for r in reference]
    got = decode_on_device(datas[:4], 224, split, torch.device("cpu"))
    expected = torch.stack([r[1] for r in reference])
    assert got.shape == expected.shape == (4, 3, 224, 224) and got.dtype == torch.float32
    pixel_error = ((got - expected) * torch.tensor(OPENAI_STD).view(1, 3, 1, 1) * 255).abs()
    assert float(pixel_error.mean()) < 0.5 and float(pixel_error.max()) <= 2.01  # measured: 0.17 and 1.0 levels


def test_device_decoding_only_where_it_reproduces_the_geometry():
    from indirect.embedding.images import device_decodable

    assert device_decodable(PREPROCESSES["open_clip"]) and device_decodable(PREPROCESSES["openai_clip"])
    assert not device_decodable(demo_preprocess)  # a 64 px squash, not a resize + crop
    normalize = T.Normalize(OPENAI_MEAN, OPENAI_STD)
    assert not device_decodable(T.Compose([T.Resize(224), T.CenterCrop(224), T.ToTensor(), normalize]))  # bilinear
    assert not device_decodable(T.Compose([T.Resize(256, interpolation=T.InterpolationMode.BICUBIC),
                                           T.CenterCrop(224), T.ToTensor(), normalize]))


def test_worker_pieces_rebuild_the_model_batches_exactly():
    from indirect.embedding.extract import _batches, _pieces

    batches = _batches([(0, 70), (100, 105)], 64)
    pieces, closes = _pieces(batches, 32)
    assert [len(p) for p in pieces] == [32, 32, 6, 5] and closes == [False, True, True, True]
    rebuilt, current = [], []
    for piece, closing in zip(pieces, closes):
        current += piece
        if closing:
            rebuilt.append(current)
            current = []
    assert rebuilt == batches
    assert _pieces(_batches([(0, 7)], 7), 32) == ([list(range(7))], [True])


def test_pieces_give_the_embeddings_of_one_forward_pass_per_batch(tmp_path):
    """Workers' 32-image pieces regathered into a batch of 40: the cached rows equal the model
    run by hand on the whole batch (and a bad image in the middle is skipped, not shifting rows)."""
    from conftest import write_image_folder as write
    from indirect.embedding import extract
    from indirect.embedding.images import ImageDataset

    root = write(tmp_path / "img", per_class=14)
    (root / "red" / "broken.png").write_bytes(b"not an image")
    data = load_folder(root)
    backbone = OpenClipBackbone("indirect-tiny-vit", None, device="cpu", seed=0)
    result = embed_images(backbone, data, tmp_path / "cache", num_workers=0, batch_size=40, chunk_size=64)
    assert len(data) == 43 and len(result.ids) == 42 and result.skipped_ids == ["red/broken.png"]
    dataset = ImageDataset(data.paths, backbone.preprocess)
    with torch.inference_mode():
        for batch in extract._batches([(0, 43)], 40):
            items = [dataset[i] for i in batch if not dataset[i][2]]
            rows = backbone.image_features(torch.stack([item[1] for item in items])).numpy()
            for (i, *_), row in zip(items, rows):
                assert np.array_equal(result.embeddings[result.ids.index(data.ids[i])], row)
