"""Reading images as what they show, and preprocessing them inside DataLoader workers.

Every place that feeds a backbone decodes through :func:`to_rgb` (or :func:`open_rgb`), so a
16-bit scan, a phone photo stored sideways with an EXIF orientation tag and its 8-bit upright
copy give the same pixels. The embedding reader also fingerprints the bytes it decodes
(:class:`Stamp`), which is what keys the embedding cache by content.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import os
import time
import warnings
from pathlib import Path
from typing import Callable, NamedTuple, Sequence

import numpy as np
import torch
from PIL import Image, ImageOps
from torch.utils.data import Dataset

from indirect.errors import one_line
from indirect.threads import limited_threads

SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N")
EXIF_ORIENTATION = 0x0112
# Linux stamps files from a coarse clock (a few ms) and some file systems keep whole or even
# two-second times: a file changed within this window of being read could keep its mtime.
RACY_NS = 2_000_000_000


class Stamp(NamedTuple):
    """What identifies an image file's bytes: size, mtime and ctime (cheap, from stat), the sha1
    of the bytes (computed while they are read anyway), and whether the times were too recent to
    trust. The ctime is what tools cannot set: a file swapped by ``mv`` or replaced by ``cp -p``,
    ``rsync -a`` or an archive keeps a size and mtime it may share with the old bytes, but gets a
    new ctime, so its bytes are hashed again (-1: unknown, as in caches written before it was kept)."""

    size: int
    mtime_ns: int
    sha1: str
    racy: bool
    ctime_ns: int = -1


UNKNOWN = Stamp(-1, -1, "", True, -1)


def stat_stamp(path) -> tuple[int, int, int]:
    """(size, mtime_ns, ctime_ns) of ``path``, or (-1, -1, -1) when it cannot be stat'ed."""
    try:
        st = os.stat(path)
    except OSError:
        return -1, -1, -1
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns


def is_racy(mtime_ns: int, ctime_ns: int) -> bool:
    """Whether a file's times are too recent to trust: changed within :data:`RACY_NS` of now."""
    return time.time_ns() - max(mtime_ns, ctime_ns) < RACY_NS


def file_sha1(path) -> str:
    """sha1 of the file's bytes ("" when unreadable); hashlib releases the GIL, so threads help."""
    digest = hashlib.sha1()
    try:
        with open(path, "rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
    except OSError:
        return ""
    return digest.hexdigest()


def _to_8bit(image: Image.Image) -> Image.Image:
    """High-bit-depth grey (I;16*, I, F) scaled to 0..255 instead of clipped: 16-bit data (and
    32-bit integers within 0..65535, as older Pillows open 16-bit PNGs) by 1/257 (65535 -> 255),
    other integers by their range, floats in [0, 1] by 255 and other floats by their range."""
    values = np.asarray(image, dtype=np.float64)
    if image.mode in SIXTEEN_BIT or (image.mode == "I" and values.size and 0 <= values.min() and values.max() <= 65535):
        scaled = values / 257.0
    elif image.mode == "F" and values.size and values.min() >= 0 and values.max() <= 1:
        scaled = values * 255.0
    else:
        low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
        scaled = (values - low) * (255.0 / (high - low)) if high > low else np.zeros_like(values)
    return Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8), "L")


def to_rgb(image: Image.Image, draft_size: int | None = None) -> Image.Image:
    """An opened image as the 8-bit RGB picture it shows: optional JPEG draft decoding, EXIF
    orientation applied, high bit depths scaled, then Pillow's conversion (palette and
    transparency handled as Pillow does: alpha dropped)."""
    if draft_size:
        image.draft("RGB", (draft_size, draft_size))
    image = ImageOps.exif_transpose(image)
    if image.mode in (*SIXTEEN_BIT, "I", "F"):
        image = _to_8bit(image)
    return image.convert("RGB")


def open_rgb(path) -> Image.Image:
    """The decoded RGB picture at ``path`` (see :func:`to_rgb`)."""
    with Image.open(path) as image:
        return to_rgb(image)


def read_stamped(path) -> tuple[bytes, Stamp]:
    """A file's bytes and the stamp of exactly those bytes (size and mtime from the open handle,
    sha1 of what was read, racy when the mtime is too recent to trust)."""
    with open(path, "rb") as handle:
        st = os.fstat(handle.fileno())
        data = handle.read()
    return data, Stamp(st.st_size, st.st_mtime_ns, hashlib.sha1(data).hexdigest(), is_racy(st.st_mtime_ns, st.st_ctime_ns),
                       st.st_ctime_ns)


class ImageDataset(Dataset):
    """Item ``i`` -> (i, preprocessed tensor, error message or "", stamp): an unreadable file does
    not kill the worker; the caller decides to skip it or fail with its path. The stamp (size,
    mtime_ns, sha1, racy) describes the very bytes that were decoded, read once.

    With ``draft_size``, JPEGs are decoded by libjpeg at the strongest 1/2, 1/4 or 1/8 reduction
    that still covers ``draft_size`` on both sides: for photos several times the model's input
    this cuts decoding (the bottleneck of a fast model) several-fold, at the cost of pixels
    slightly different from a full decode followed by the model's own resize.

    With ``jpeg_bytes``, an upright RGB or grey JPEG (:func:`device_jpeg`) is not decoded here: its
    item holds the file's bytes (a 1-D uint8 tensor) for :func:`pixels_on_device`; other files
    (PNG, CMYK JPEG, 16-bit scans, photos with an EXIF rotation, JPEGs without their end marker)
    are preprocessed as usual. Batch such items with ``collate_fn=collate_bytes``."""

    def __init__(self, paths: Sequence, preprocess: Callable, draft_size: int | None = None,
                 jpeg_bytes: bool = False):
        self.paths = list(paths)
        self.preprocess = preprocess
        self.draft_size = draft_size
        self.jpeg_bytes = jpeg_bytes
        self._blank = None

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int):
        stamp = None
        try:
            data, stamp = read_stamped(self.paths[index])
            with Image.open(_Bytes(data, self.paths[index])) as image:      # reads the header only
                if self.jpeg_bytes and device_jpeg(image) and complete_jpeg(data):
                    return index, torch.frombuffer(bytearray(data), dtype=torch.uint8), "", tuple(stamp)
                return index, self.preprocess(to_rgb(image, self.draft_size)), "", tuple(stamp)
        except Exception as error:  # PIL raises many types for corrupt or truncated files
            if stamp is None:   # the file could not be read: what stat says of it (stat only here, off the hot path)
                size, mtime, ctime = stat_stamp(self.paths[index])
                stamp = Stamp(size, mtime, "", False, ctime)
            if self._blank is None:
                self._blank = self.preprocess(Image.new("RGB", (32, 32)))
            message = one_line(error)
            return index, torch.zeros_like(self._blank), message, tuple(stamp)


class _Bytes(io.BytesIO):
    """A file's bytes in memory that PIL's messages name by the file ("cannot identify image file
    'broken.png'"), not by an object address that differs on every run."""

    def __init__(self, data: bytes, path):
        super().__init__(data)
        self._shown = repr(Path(path).name)

    def __repr__(self) -> str:
        return self._shown


def device_jpeg(image: Image.Image) -> bool:
    """Whether the device decoder gives this image's pixels: an RGB or grey JPEG stored upright.
    nvJPEG ignores the EXIF orientation (torchvision applies it on the CPU only), so a photo
    stored sideways goes through PIL, which turns it (:func:`to_rgb`)."""
    return image.format == "JPEG" and image.mode in ("RGB", "L") and image.getexif().get(EXIF_ORIENTATION, 1) == 1


def complete_jpeg(data: bytes) -> bool:
    """Whether a JPEG's bytes end with its end-of-image marker (FF D9), trailing padding aside.
    A truncated JPEG lacks it: PIL refuses such a file ("image file is truncated"), while
    a decoder on the device may fill in the missing rows and return an image, so it goes through
    PIL, whose verdict (skip or fail) is the same on every device. A file with data after the
    marker (a camera's trailer) also goes through PIL, which reads it as usual."""
    return data[-64:].rstrip(b"\x00\r\n\t ").endswith(b"\xff\xd9")


def model_input_side(preprocess: Callable) -> int:
    """The shorter side of what ``preprocess`` produces: the resolution the model sees."""
    with Image.new("RGB", (64, 64)) as probe:
        return int(min(preprocess(probe).shape[-2:]))


class SplitPreprocess(NamedTuple):
    """A preprocess cut where its pixels are still 8-bit: ``to_uint8`` (PIL image -> uint8 CHW
    tensor: resize, crop, RGB) runs in the workers, :meth:`normalize` (scale to [0, 1], then
    subtract ``mean`` and divide by ``std``) runs on the model's device on whole batches. A
    worker then ships a quarter of the bytes (150 KB rather than 600 KB at 224 px), and the
    float arithmetic is the very one ToTensor + Normalize do, so the numbers are identical."""

    to_uint8: Callable
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def normalize(self, batch: torch.Tensor, device: torch.device) -> torch.Tensor:
        """(B, C, H, W) uint8 (pinned or not) -> normalised float32 on ``device``. On the CPU on one
        thread: the DataLoader workers keep the other cores busy, and these element-wise passes,
        split over threads, wait at each barrier for a descheduled one (32 images of 32 px: 0.07
        ms quiet, 0.66 ms on 2 threads beside one busy process, 0.14 ms on one)."""
        with limited_threads(1) if torch.device(device).type == "cpu" else contextlib.nullcontext():
            images = batch.to(device, non_blocking=True).float().div_(255)
            mean = torch.as_tensor(self.mean, dtype=torch.float32, device=images.device).view(1, -1, 1, 1)
            std = torch.as_tensor(self.std, dtype=torch.float32, device=images.device).view(1, -1, 1, 1)
            return images.sub_(mean).div_(std)


class _PilPart:
    """The PIL steps of a torchvision Compose followed by PILToTensor; picklable for workers."""

    def __init__(self, steps: Sequence[Callable]):
        self.steps = list(steps)

    def __call__(self, image: Image.Image) -> torch.Tensor:
        from torchvision.transforms.functional import pil_to_tensor

        for step in self.steps:
            image = step(image)
        return pil_to_tensor(image.convert("RGB"))


def split_preprocess(preprocess: Callable) -> SplitPreprocess | None:
    """The uint8/device split of ``preprocess``, or None when it cannot be split safely: a
    backbone's own ``split`` attribute (the demo backbone's function has one), or a torchvision
    Compose made only of PIL steps known to yield 8-bit RGB (Resize, CenterCrop, open_clip's
    MaybeConvertMode, OpenAI clip's ``_convert_image_to_rgb``), then ToTensor, then Normalize.
    Anything else (augmentations, unknown steps, a Normalize elsewhere) keeps the whole
    preprocess in the workers."""
    own = getattr(preprocess, "split", None)
    if own is not None:
        return own()
    from torchvision import transforms as T

    steps = getattr(preprocess, "transforms", None)
    if not isinstance(preprocess, T.Compose) or not steps or len(steps) < 2:
        return None
    *pil_steps, to_tensor, normalize = steps
    if type(to_tensor).__name__ not in ("ToTensor", "MaybeToTensor") or not isinstance(to_tensor, T.ToTensor):
        return None
    if type(normalize) is not T.Normalize or normalize.inplace:
        return None
    for step in pil_steps:
        known = (type(step) in (T.Resize, T.CenterCrop) or type(step).__name__ == "MaybeConvertMode"
                 or getattr(step, "__name__", "") == "_convert_image_to_rgb")
        if not known:
            return None
    mean, std = tuple(float(v) for v in normalize.mean), tuple(float(v) for v in normalize.std)
    if len(mean) != 3 or len(std) != 3:
        return None
    return SplitPreprocess(_PilPart(pil_steps), mean, std)


def collate_pixels(items):
    """A worker's piece as (indices, (B, C, H, W) tensor, errors, stamps): one tensor, the rest plain
    Python. Each tensor a worker hands over travels as its own shared-memory file descriptor with
    its own connection (about 1 ms each on 2 busy cores): the default collate made five per piece
    (indices, pixels and three stamp columns)."""
    indices, tensors, errors, stamps = zip(*items)
    return list(indices), torch.stack(tensors), list(errors), list(stamps)


class Piece(NamedTuple):
    """A worker's piece for device decoding, in two tensors whatever its size: every JPEG's bytes
    one after another (``data``, item k's bytes end at ``ends[k]``; 0 bytes for a non-JPEG) and
    the pixels of the items PIL decoded (``pixels``, in item order)."""

    data: torch.Tensor
    ends: list[int]
    pixels: torch.Tensor
    is_jpeg: list[bool]

    def items(self) -> list[torch.Tensor]:
        """Item k: its bytes (1-D, a view of ``data``) or its pixels (3-D)."""
        out, start, pixel = [], 0, 0
        for end, jpeg in zip(self.ends, self.is_jpeg):
            if jpeg:
                out.append(self.data[start:end])
            else:
                out.append(self.pixels[pixel])
                pixel += 1
            start = end
        return out


def collate_bytes(items):
    """A piece of :class:`ImageDataset` items with ``jpeg_bytes`` as (indices, :class:`Piece`,
    errors, stamps): JPEG bytes of differing lengths and PIL pixels, in two tensors."""
    indices, tensors, errors, stamps = zip(*items)
    is_jpeg = [t.dim() == 1 for t in tensors]
    jpegs = [t for t, jpeg in zip(tensors, is_jpeg) if jpeg]
    others = [t for t, jpeg in zip(tensors, is_jpeg) if not jpeg]
    ends = np.cumsum([t.numel() if jpeg else 0 for t, jpeg in zip(tensors, is_jpeg)]).tolist()
    data = torch.cat(jpegs) if jpegs else torch.zeros(0, dtype=torch.uint8)
    pixels = torch.stack(others) if others else torch.zeros((0, 3, 1, 1), dtype=torch.uint8)
    return list(indices), Piece(data, ends, pixels, is_jpeg), list(errors), list(stamps)


def _resize_crop(images: torch.Tensor, side: int) -> torch.Tensor:
    """(B, 3, H, W) uint8 -> (B, 3, side, side) float: shorter side to ``side`` (bicubic,
    antialiased, on float pixels), then the centre crop; :func:`_to_uint8` rounds as PIL does."""
    from torchvision.transforms.v2 import InterpolationMode
    from torchvision.transforms.v2 import functional as F

    images = F.resize(images.float(), [side], interpolation=InterpolationMode.BICUBIC, antialias=True)
    return F.center_crop(images, [side, side])


def _to_uint8(pixels: torch.Tensor) -> torch.Tensor:
    return pixels.round_().clamp_(0, 255).to(torch.uint8)


def _decode_jpeg(data, device: torch.device):
    """torchvision's JPEG decoder (nvJPEG on CUDA), RGB out, without its deprecation warning on
    every call (torchvision 0.29 points to TorchCodec, whose decoder is not a dependency here)."""
    from torchvision.io import ImageReadMode, decode_jpeg

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return decode_jpeg(data, mode=ImageReadMode.RGB, device=device)


def _decode_each(datas: list[torch.Tensor], device: torch.device, fallback: Callable | None):
    """One by one, after a batch decode failed: (decoded image or None, error) per item; an image
    the device decoder refuses goes to ``fallback`` (PIL), whose pixels come back already sized."""
    out = []
    for data in datas:
        try:
            out.append((_decode_jpeg(data, device), ""))
            continue
        except RuntimeError as error:
            device_error = one_line(error)
        if fallback is None:
            out.append((None, device_error))
            continue
        try:
            with Image.open(io.BytesIO(data.numpy().tobytes())) as image:
                out.append((fallback(to_rgb(image)), "sized"))
        except Exception as error:  # the same rule as ImageDataset: PIL's verdict names the fault
            out.append((None, one_line(error)))
    return out


def pixels_on_device(items: list[torch.Tensor], side: int, device: torch.device,
                     fallback: Callable | None = None) -> tuple[torch.Tensor, dict[int, str]]:
    """(B, 3, side, side) uint8 on ``device`` and {position: error} of the items that could not be
    decoded. 1-D items are the bytes of upright JPEGs (:func:`device_jpeg`), decoded together
    there (nvJPEG on CUDA, libjpeg on CPU; no EXIF orientation, which nvJPEG does not apply), then
    resized and centre-cropped (same-sized images together);
    3-D items are pixels already sized (from :class:`ImageDataset`'s PIL path). When the batch
    decode fails, each JPEG is decoded alone, and one the device refuses is decoded by PIL and
    sized by ``fallback`` (the preprocess's uint8 part)."""
    out = torch.zeros((len(items), 3, side, side), dtype=torch.uint8, device=device)
    errors: dict[int, str] = {}
    jpegs = [k for k, item in enumerate(items) if item.dim() == 1]
    for k, item in enumerate(items):
        if item.dim() == 3:
            out[k] = item.to(device, non_blocking=True)
    if not jpegs:
        return out, errors
    try:
        decoded = [(image, "") for image in _decode_jpeg([items[k] for k in jpegs], device)]
    except RuntimeError:
        decoded = _decode_each([items[k] for k in jpegs], device, fallback)
    groups: dict[tuple[int, ...], list[tuple[int, torch.Tensor]]] = {}   # same-sized images, resized together
    for k, (image, note) in zip(jpegs, decoded):
        if image is None:
            errors[k] = note
        elif note == "sized":
            out[k] = image.to(device)
        else:
            groups.setdefault(tuple(image.shape), []).append((k, image))
    if groups:   # a kernel or two per size; the rounding and the copy into place once for the batch
        resized = [_resize_crop(members[0][1][None] if len(members) == 1 else torch.stack([i for _, i in members]),
                                side) for members in groups.values()]
        out[[k for members in groups.values() for k, _ in members]] = _to_uint8(torch.cat(resized))
    return out, errors


def decode_on_device(datas: list[torch.Tensor], side: int, split: SplitPreprocess,
                     device: torch.device) -> torch.Tensor:
    """JPEG bytes -> (B, 3, side, side) normalised float32 on ``device`` (see
    :func:`pixels_on_device`; an undecodable item raises). The pixels differ slightly from PIL's
    (another JPEG decoder, another resampler): ``embed.decode=device`` has its own cache key."""
    pixels, errors = pixels_on_device(datas, side, device)
    if errors:
        raise RuntimeError(f"{len(errors)} image(s) could not be decoded, e.g. {next(iter(errors.values()))}")
    return split.normalize(pixels, device)


def device_decodable(preprocess: Callable) -> bool:
    """Whether :func:`decode_on_device` reproduces ``preprocess``'s geometry: a split Compose
    whose PIL steps are a bicubic Resize of the shorter side then a square CenterCrop of that
    side (open_clip's and OpenAI's eval transforms), RGB conversions aside."""
    from torchvision import transforms as T

    split = split_preprocess(preprocess)
    if split is None or not isinstance(split.to_uint8, _PilPart):
        return False
    geometric = [s for s in split.to_uint8.steps if type(s) in (T.Resize, T.CenterCrop)]
    if len(geometric) != 2 or type(geometric[0]) is not T.Resize or type(geometric[1]) is not T.CenterCrop:
        return False
    resize, crop = geometric
    size = resize.size if isinstance(resize.size, int) else (resize.size[0] if len(resize.size) == 1 else None)
    return (size is not None and resize.interpolation == T.InterpolationMode.BICUBIC and resize.max_size is None
            and tuple(crop.size) == (size, size))
