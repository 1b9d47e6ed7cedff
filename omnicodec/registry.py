"""Codec id -> "module:Class", imported on first use.

One string id per codec, used everywhere (CLI flag, container header, manifest, benchmark rows,
fixture folders).  The table is the single source of truth: nothing imports a codec module
until that codec is asked for, so ``import omnicodec`` stays cheap.
"""

from __future__ import annotations

import importlib
from functools import lru_cache
from typing import TYPE_CHECKING

from .errors import UnknownCodecError

if TYPE_CHECKING:
    from .codecs.base import Codec

_CODECS: dict[str, str] = {
    # image (Pillow)
    "png": "omnicodec.codecs.pillow_image:PNG",
    "webp": "omnicodec.codecs.pillow_image:WebP",
    "webp-lossless": "omnicodec.codecs.pillow_image:WebPLossless",
    "jpeg": "omnicodec.codecs.pillow_image:JPEG",
    "jpeg444": "omnicodec.codecs.pillow_image:JPEG444",
    "avif": "omnicodec.codecs.pillow_image:AVIF",
    # audio (libsndfile)
    "flac": "omnicodec.codecs.sndfile_audio:FLAC",
    "wav": "omnicodec.codecs.sndfile_audio:WAV",
    "opus": "omnicodec.codecs.sndfile_audio:Opus",
    "vorbis": "omnicodec.codecs.sndfile_audio:Vorbis",
    "mp3": "omnicodec.codecs.sndfile_audio:MP3",
    # video (PyAV / FFmpeg)
    "ffv1": "omnicodec.codecs.av_video:FFV1",
    "x264": "omnicodec.codecs.av_video:X264",
    "x265": "omnicodec.codecs.av_video:X265",
    "svtav1": "omnicodec.codecs.av_video:SVTAV1",
    # bytes (any file)
    "gzip": "omnicodec.codecs.generic:Gzip",
    "bz2": "omnicodec.codecs.generic:Bz2",
    "xz": "omnicodec.codecs.generic:Xz",
    "zstd": "omnicodec.codecs.generic:Zstd",
    "logzip": "omnicodec.codecs.logzip:Logzip",
    "jxl-jpeg": "omnicodec.codecs.jpegxl:JXLJPEG",
    "jxl": "omnicodec.codecs.jpegxl:JXL",
    "jxl-lossless": "omnicodec.codecs.jpegxl:JXLLossless",
    "store": "omnicodec.codecs.generic:Store",
    "image-zstd": "omnicodec.codecs.planes:ImageZstd",
    # learned
    "hyperprior": "omnicodec.codecs.hyperprior:Hyperprior",
    "walloc": "omnicodec.codecs.walloc:Walloc",
    "pc": "omnicodec.codecs.pc:PC",
    "vq": "omnicodec.codecs.vq:VQCodec",
    "mcquic": "omnicodec.codecs.mcquic:McQuicCodec",
    "stem": "omnicodec.codecs.stem:Stem",
}

# Preference order per modality: the first codec that is available and supports the input wins.
LOSSLESS_PREFERENCE: dict[str, tuple[str, ...]] = {
    "image": ("jxl-lossless", "webp-lossless", "png", "image-zstd"),
    "audio": ("flac", "wav"),
    "video": ("ffv1",),
    "bytes": ("jxl-jpeg", "logzip", "xz", "zstd", "bz2", "gzip", "store"),
}
LOSSY_PREFERENCE: dict[str, tuple[str, ...]] = {
    "image": ("avif", "webp", "jpeg444", "jpeg"),
    "audio": ("opus", "vorbis", "mp3"),
    "video": ("svtav1", "x265", "x264"),
    "bytes": (),
}


def codec_ids() -> list[str]:
    """Every registered codec id, in table order."""
    return list(_CODECS)


@lru_cache(maxsize=None)
def get_codec_class(codec_id: str) -> type[Codec]:
    """The Codec class for ``codec_id``; imports its module on first use."""
    try:
        target = _CODECS[codec_id]
    except KeyError:
        known = ", ".join(_CODECS)
        raise UnknownCodecError(f"unknown codec {codec_id!r}; known codecs: {known}") from None
    module_name, class_name = target.split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    if cls.codec_id != codec_id:
        raise RuntimeError(f"registry entry {codec_id!r} points at {target} with id {cls.codec_id!r}")
    return cls
