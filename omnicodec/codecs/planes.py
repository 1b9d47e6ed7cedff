"""``image-zstd``: any image mode (16-bit colour, float32, CMYK...) stored exactly as byte
planes compressed with zstd, for what no image format holds.

    Image(pixels H×W×C, dtype) ─split each sample's bytes into planes─► zstd -19 ─► DATA

Byte planes put the slowly-varying high bytes of 16-bit and float samples together, which is
what lets a general-purpose coder find their redundancy (the Blosc "shuffle" filter).  The
decoder knows the exact output size from the header and refuses a payload that disagrees.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..errors import CorruptStreamError
from ..items import IMAGE_MODES, Image
from .base import Codec, check_image_meta, option, section, undecodable
from .generic import zstd_frame, zstd_version


@dataclass
class ImageZstd(Codec):
    codec_id: ClassVar[str] = "image-zstd"
    modality: ClassVar[str] = "image"
    lossless: ClassVar[bool] = True
    description: ClassVar[str] = "any image mode (16-bit, float, CMYK) as zstd-compressed byte planes"
    level: int = option(19, -(1 << 17), 22)

    def encoder_version(self):
        return zstd_version()

    def encode(self, item):
        import zstandard

        self.check_supports(item)
        a = np.ascontiguousarray(item.pixels, item.pixels.dtype.newbyteorder("<"))
        planes = a.view(np.uint8).reshape(-1, a.dtype.itemsize).T
        return {"DATA": zstandard.ZstdCompressor(level=self.level).compress(planes.tobytes())}

    def decode(self, sections, meta):
        import zstandard

        w, h = check_image_meta(meta)
        if meta["mode"] not in IMAGE_MODES:
            raise CorruptStreamError(f"{self.codec_id}: bad mode {meta['mode']!r} in header")
        channels, dtype = IMAGE_MODES[meta["mode"]]
        dt = np.dtype(dtype).newbyteorder("<")
        size = w * h * channels * dt.itemsize
        try:
            raw = zstd_frame(section(sections, "DATA", self.codec_id), size)
        except zstandard.ZstdError as exc:
            raise undecodable(self.codec_id, exc) from None
        if len(raw) != size:
            raise CorruptStreamError(f"{self.codec_id}: payload holds {len(raw)} bytes, header {size}")
        planes = np.frombuffer(raw, np.uint8).reshape(dt.itemsize, -1).T
        pixels = np.ascontiguousarray(planes).view(dt).reshape(h, w, channels).astype(dtype)
        return Image(pixels, meta["mode"])
