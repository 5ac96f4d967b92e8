"""embed.decode=device: JPEGs decoded, resized and cropped on the model's device (nvJPEG on CUDA;
run here with libjpeg on the CPU), other files by PIL in the workers, faults as on the PIL path."""
import io

import numpy as np
import pytest
import torch
from PIL import Image

from indirect.backbones.open_clip_backbone import OpenClipBackbone
from indirect.datasets.folder import load_folder
from indirect.embedding import embed_images
from indirect.embedding import images as images_module
from indirect.embedding.images import model_input_side, pixels_on_device, split_preprocess
from indirect.errors import ConfigError

CPU = torch.device("cpu")


def _photo(w: int, h: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 255, w, dtype=np.float32)[None, :, None] * rng.uniform(0.3, 1.0, 3)
    return Image.fromarray(np.clip(ramp + rng.normal(0, 6, (h, w, 3)), 0, 255).astype(np.uint8))


def _mixed_folder(root):
    """Two classes of JPEGs of several sizes plus the files the device decoder must hand to PIL
    (PNG, CMYK JPEG), an EXIF-rotated JPEG, a grey JPEG, a truncated JPEG and a non-image."""
    for name in ("a", "b"):
        (root / name).mkdir(parents=True)
    for k, (w, h) in enumerate([(500, 375), (500, 375), (375, 500), (300, 300), (640, 200)]):
        _photo(w, h, k).save(root / "a" / f"{k}.jpg", quality=95)
    _photo(320, 240, 10).save(root / "b" / "png.png")
    _photo(320, 240, 11).convert("CMYK").save(root / "b" / "cmyk.jpg", quality=95)
    _photo(320, 240, 12).convert("L").save(root / "b" / "grey.jpg", quality=95)
    exif = Image.Exif()
    exif[0x0112] = 6                                                 # stored sideways: rotate 90 degrees
    _photo(400, 240, 13).save(root / "b" / "rotated.jpg", quality=95, exif=exif.tobytes())
    buffer = io.BytesIO()
    _photo(320, 240, 14).save(buffer, "JPEG", quality=95)
    (root / "b" / "truncated.jpg").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    (root / "b" / "notes.jpg").write_bytes(b"not an image at all")
    return root


def _cosines(a, b):
    a, b = torch.as_tensor(a), torch.as_tensor(b)
    return torch.nn.functional.cosine_similarity(a, b, dim=1)


def test_device_decoding_embeds_like_pil_with_the_same_ids_and_skips(tmp_path):
    """Default workers (auto), a batch across JPEG and PIL items: ids and unreadable images as the
    PIL path's, embeddings within decoder/resampler noise, a cache of its own that a rerun reads."""
    data = load_folder(_mixed_folder(tmp_path / "img"))
    backbone = OpenClipBackbone("indirect-tiny-vit", None, device="cpu", seed=0)
    pil = embed_images(backbone, data, tmp_path / "cache", batch_size=6)
    device = embed_images(backbone, data, tmp_path / "cache", batch_size=6, decode="device")
    assert device.ids == pil.ids and len(device.ids) == 9
    assert sorted(device.skipped_ids) == sorted(pil.skipped_ids) == ["b/notes.jpg", "b/truncated.jpg"]
    order = [pil.ids.index(i) for i in device.ids]
    cosines = _cosines(device.embeddings, pil.embeddings[order])
    assert float(cosines.min()) > 0.999, cosines
    assert not np.array_equal(device.embeddings, pil.embeddings[order])     # another decoder: other pixels
    assert len(list((tmp_path / "cache").glob("*.h5"))) == 2                  # so another cache file
    again = embed_images(backbone, data, tmp_path / "cache", batch_size=6, decode="device", num_workers=0)
    assert again.ids == device.ids and np.array_equal(again.embeddings, device.embeddings)


def test_a_jpeg_the_device_refuses_is_decoded_by_pil_and_a_broken_one_is_reported(monkeypatch):
    """nvJPEG refuses some JPEGs (lossless, 12-bit): the batch is decoded one by one, the refused
    image by PIL through the preprocess's uint8 part; one PIL cannot read either is an error."""
    import torchvision.io

    from indirect.backbones.open_clip_backbone import OpenClipBackbone as Backbone

    preprocess = Backbone("indirect-tiny-vit", None, device="cpu", seed=0).preprocess
    split, side = split_preprocess(preprocess), model_input_side(preprocess)
    buffers = []
    for seed in (0, 1):
        buffer = io.BytesIO()
        _photo(300, 200, seed).save(buffer, "JPEG", quality=95)
        buffers.append(buffer.getvalue())
    refused, good, broken = (torch.frombuffer(bytearray(b), dtype=torch.uint8)
                             for b in (buffers[0], buffers[1], buffers[1][:400]))
    real = torchvision.io.decode_jpeg

    def picky(data, **kwargs):
        items = data if isinstance(data, list) else [data]
        if any(item.numel() == refused.numel() for item in items):
            raise RuntimeError("nvjpeg: unsupported JPEG")
        return real(data, **kwargs)

    monkeypatch.setattr(torchvision.io, "decode_jpeg", picky)
    pixels, errors = pixels_on_device([refused, good, broken], side, CPU, split.to_uint8)
    assert pixels.shape == (3, 3, side, side) and pixels.dtype == torch.uint8
    assert list(errors) == [2] and "truncated" in errors[2].lower()
    with Image.open(io.BytesIO(buffers[0])) as image:
        assert torch.equal(pixels[0], split.to_uint8(image.convert("RGB")))
    alone, _ = pixels_on_device([good], side, CPU)
    assert torch.equal(pixels[1], alone[0])


def test_a_truncated_jpeg_is_skipped_even_by_a_decoder_that_would_fill_it_in(tmp_path, monkeypatch):
    """Whether nvJPEG refuses a truncated file or fills in its missing rows, the skip must not
    depend on it: a JPEG without its end marker never reaches the device decoder. Here the device
    decoder is replaced by a lenient one (PIL with LOAD_TRUNCATED_IMAGES, grey rows)."""
    from PIL import ImageFile

    from indirect.embedding.images import complete_jpeg

    def lenient(data, mode=None, device=None):
        def one(item):
            previous, ImageFile.LOAD_TRUNCATED_IMAGES = ImageFile.LOAD_TRUNCATED_IMAGES, True
            try:
                with Image.open(io.BytesIO(item.numpy().tobytes())) as image:
                    return torch.from_numpy(np.asarray(image.convert("RGB")).copy()).permute(2, 0, 1)
            finally:
                ImageFile.LOAD_TRUNCATED_IMAGES = previous
        return [one(item) for item in data] if isinstance(data, list) else one(data)

    monkeypatch.setattr(images_module, "_decode_jpeg", lenient)
    data = load_folder(_mixed_folder(tmp_path / "img"))
    backbone = OpenClipBackbone("indirect-tiny-vit", None, device="cpu", seed=0)
    device = embed_images(backbone, data, tmp_path / "cache", batch_size=16, num_workers=0, decode="device")
    assert sorted(device.skipped_ids) == ["b/notes.jpg", "b/truncated.jpg"] and len(device.ids) == 9
    whole = (tmp_path / "img" / "a" / "0.jpg").read_bytes()
    assert complete_jpeg(whole) and complete_jpeg(whole + bytes(16))
    assert not complete_jpeg(whole[: len(whole) // 2]) and not complete_jpeg(whole[:-2])
    with open(tmp_path / "img" / "b" / "truncated.jpg", "rb") as handle:
        assert lenient(torch.frombuffer(bytearray(handle.read()), dtype=torch.uint8)).shape == (3, 240, 320)


def test_a_batch_of_many_sizes_gives_each_image_the_pixels_it_gets_alone():
    """Images are resized one size at a time, rounded and put in place once for the batch: each
    lands in its own slot with the pixels it gets when decoded alone, PIL-sized items included."""
    side = 24
    sizes = [(60, 40), (40, 60), (60, 40), (33, 90), (24, 24), (100, 31), (60, 40)]
    items = []
    for seed, (w, h) in enumerate(sizes):
        buffer = io.BytesIO()
        _photo(w, h, seed).save(buffer, "JPEG", quality=90)
        items.append(torch.frombuffer(bytearray(buffer.getvalue()), dtype=torch.uint8))
    items.insert(3, torch.full((3, side, side), 7, dtype=torch.uint8))          # already sized by PIL
    pixels, errors = pixels_on_device(items, side, CPU)
    assert not errors and pixels.shape == (len(items), 3, side, side)
    for k, item in enumerate(items):
        alone, _ = pixels_on_device([item], side, CPU)
        assert torch.equal(pixels[k], alone[0]), k
    assert torch.equal(pixels[3], items[3]) and not torch.equal(pixels[0], pixels[2])


def test_rotated_photos_go_through_pil_and_grey_jpegs_match_it(tmp_path):
    """nvJPEG ignores EXIF orientation (torchvision turns images on the CPU only), so a photo stored
    sideways must not reach it: the workers decode it with PIL, upright. A grey JPEG is decoded on
    the device, as RGB, within resampling noise of PIL."""
    from indirect.embedding.images import ImageDataset

    preprocess = OpenClipBackbone("indirect-tiny-vit", None, device="cpu", seed=0).preprocess
    split, side = split_preprocess(preprocess), model_input_side(preprocess)
    exif = Image.Exif()
    exif[0x0112] = 6
    _photo(400, 240, 3).save(tmp_path / "rotated.jpg", quality=95, exif=exif.tobytes())
    _photo(400, 240, 4).convert("L").save(tmp_path / "grey.jpg", quality=95)
    _photo(400, 240, 5).save(tmp_path / "upright.jpg", quality=95, exif=Image.Exif().tobytes())
    items = ImageDataset([tmp_path / n for n in ("rotated.jpg", "grey.jpg", "upright.jpg")], split.to_uint8,
                         jpeg_bytes=True)
    rotated, grey, upright = (items[k][1] for k in range(3))
    assert rotated.dim() == 3 and grey.dim() == 1 and upright.dim() == 1
    with Image.open(tmp_path / "rotated.jpg") as image:
        assert torch.equal(rotated, split.to_uint8(images_module.to_rgb(image)))    # turned upright by PIL
    pixels, errors = pixels_on_device([rotated, grey], side, CPU)
    assert not errors and torch.equal(pixels[0], rotated)
    with Image.open(tmp_path / "grey.jpg") as image:
        reference = split.to_uint8(images_module.to_rgb(image))
    assert float((pixels[1].float() - reference.float()).abs().mean()) < 1.0


def test_refused_settings_are_one_line_config_errors(tmp_path):
    from indirect.backbones.demo.image_tower import preprocess as demo_preprocess

    data = load_folder(_mixed_folder(tmp_path / "img"))
    backbone = OpenClipBackbone("indirect-tiny-vit", None, device="cpu", seed=0)
    with pytest.raises(ConfigError, match=r"embed.decode=gpu is unknown; choose one of: pil"):
        embed_images(backbone, data, tmp_path / "c", decode="gpu")
    with pytest.raises(ConfigError, match="jpeg_draft"):
        embed_images(backbone, data, tmp_path / "c", decode="device", jpeg_draft=True)
    backbone.preprocess = demo_preprocess            # a 64 px squash, not a resize + centre crop
    with pytest.raises(ConfigError, match="set embed.decode=pil"):
        embed_images(backbone, data, tmp_path / "c", decode="device")
    assert not (tmp_path / "c").exists()            # refused before anything is written


def test_a_worker_piece_travels_in_one_or_two_tensors_whatever_its_size(tmp_path):
    """Each tensor a worker hands over costs a file descriptor and a connection: a piece of the PIL
    path is one tensor, a piece for device decoding two, and the items come back as they went."""
    from torch.utils.data import DataLoader

    from indirect.embedding.images import ImageDataset, Piece, collate_bytes, collate_pixels

    data = load_folder(_mixed_folder(tmp_path / "img"))
    split = split_preprocess(OpenClipBackbone("indirect-tiny-vit", None, device="cpu", seed=0).preprocess)

    def tensors(value):
        if isinstance(value, torch.Tensor):
            return 1
        return sum(tensors(v) for v in value) if isinstance(value, (list, tuple)) else 0

    pil_view = ImageDataset(data.paths, split.to_uint8)
    batch = next(iter(DataLoader(pil_view, batch_size=len(data.paths), collate_fn=collate_pixels, num_workers=1)))
    assert tensors(batch) == 1 and batch[0] == list(range(len(data.paths))) and len(batch[3]) == len(data.paths)
    device_view = ImageDataset(data.paths, split.to_uint8, jpeg_bytes=True)
    indices, piece, errors, stamps = next(iter(DataLoader(device_view, batch_size=len(data.paths),
                                                          collate_fn=collate_bytes, num_workers=1)))
    assert isinstance(piece, Piece) and tensors(piece) == 2
    for k, item in enumerate(piece.items()):
        assert torch.equal(item, device_view[indices[k]][1])
    assert sum(item.dim() == 1 for item in piece.items()) == 6   # 5 upright RGB and the grey JPEG


def test_a_run_with_device_decoding_reads_its_own_cache(tmp_path):
    """embed.decode=device through the config: the run embeds JPEGs that way into a cache of its
    own (beside the PIL one) and scores the same images."""
    from conftest import TINY, compose_config
    from indirect.experiment import run

    root = _mixed_folder(tmp_path / "img")
    common = ["dataset=folder", "notion=label", "prompts.vocabulary=[a,b]", "prompts.templates=['a photo of {}']",
              f"dataset.root={root}", *TINY, "repetitions=1", "compare_with=[clip]", "analysis=none"]
    pil, _ = run(compose_config(tmp_path, *common, output="pil"))
    device, _ = run(compose_config(tmp_path, *common, "embed.decode=device", output="device"))
    assert device["n_images"] == pil["n_images"] == 9
    assert len(list((tmp_path / "cache").glob("folder__*.h5"))) == 2
