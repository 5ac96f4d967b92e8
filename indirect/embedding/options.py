"""The ``embed.*`` values a user sets, checked in one place: by the command line's validation stage
before anything loads and by :func:`indirect.embedding.embed_images` for library calls. Each
refusal is one line naming the key, the value and what to set instead."""
from __future__ import annotations

from indirect.embedding.fingerprint import DECODERS
from indirect.errors import ConfigError

BAD_IMAGE_POLICIES = ("skip", "fail")
DEFAULTS = dict(batch_size="auto", num_workers="auto", on_bad_image="skip", chunk_size=2048, num_shards=1,
                shard=None, decode="pil", jpeg_draft=False, merge_only=False)


def _counted(value, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _shown(value) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def check_options(batch_size, num_workers, on_bad_image, chunk_size, num_shards, shard, decode, jpeg_draft,
                  merge_only=False) -> None:
    """Raise :class:`ConfigError` for the first ``embed.*`` value at fault (unset keys of a config:
    :data:`DEFAULTS`, those of :func:`indirect.embedding.embed_images`)."""
    for key, value in (("jpeg_draft", jpeg_draft), ("merge_only", merge_only)):
        if not isinstance(value, bool):  # 'fasle' would be a true string (and another cache)
            raise ConfigError(f"embed.{key}={_shown(value)} is not a boolean; set embed.{key}=true or false")
    if not (batch_size in (None, "auto") or _counted(batch_size, 1)):
        raise ConfigError(f"embed.batch_size={_shown(batch_size)} is not a positive number of images per forward "
                          "pass; set embed.batch_size=<integer >= 1> or auto")
    if not (num_workers in (None, "auto") or _counted(num_workers, 0)):
        raise ConfigError(f"embed.num_workers={_shown(num_workers)} is not a number of decoding workers; set "
                          "embed.num_workers=0 (decode in the main process), <integer >= 1> or auto")
    if not _counted(chunk_size, 1):
        raise ConfigError(f"embed.chunk_size={_shown(chunk_size)} is not a positive number of images per part "
                          "file; set embed.chunk_size=<integer >= 1> (default 2048)")
    if on_bad_image not in BAD_IMAGE_POLICIES:
        raise ConfigError(f"embed.on_bad_image={on_bad_image} is unknown; choose one of: {', '.join(BAD_IMAGE_POLICIES)}")
    if not _counted(num_shards, 1):
        raise ConfigError(f"embed.num_shards={_shown(num_shards)} is not a number of shards; set embed.num_shards=1 "
                          "(no sharding) or more")
    if shard is not None and not (_counted(shard, 0) and shard < num_shards):
        raise ConfigError(f"embed.shard={_shown(shard)} is out of range for embed.num_shards={num_shards}; "
                          f"set embed.shard to 0..{num_shards - 1}")
    if decode not in DECODERS:
        raise ConfigError(f"embed.decode={decode} is unknown; choose one of: pil (decode in the workers), "
                          "device (JPEGs on the model's device)")
    if decode == "device" and jpeg_draft:
        raise ConfigError("embed.decode=device with embed.jpeg_draft=true: reduced-scale decoding is PIL's; "
                          "set one of them")
    if merge_only and shard is not None:
        raise ConfigError(f"embed.merge_only=true with embed.shard={_shown(shard)}: a merge embeds nothing and "
                          "needs every shard; set embed.shard=null to merge, or embed.merge_only=false to embed "
                          f"shard {shard}")
