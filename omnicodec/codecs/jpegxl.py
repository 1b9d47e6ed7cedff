"""JPEG XL through libjxl (via imagecodecs): three codecs.

``jxl-jpeg``: lossless JPEG recompression::

    JPEG file bytes ─libjxl "JPEG transcoding" (DCT coefficients re-coded, jbrd box)─► DATA
    DATA ─libjxl JPEG reconstruction─► the original JPEG, byte for byte

A bytes codec: it takes a JPEG file as bytes and gives the same bytes back (the container's
digest checks it), typically 15-20% smaller.  A JPEG that libjxl cannot transcode (arithmetic
coding, unusual markers) is refused at encode and the default moves on to the next bytes codec.

``jxl`` (lossy, quality as cjxl's -q: libjxl's distance from quality) and ``jxl-lossless``
(modular, 8 and 16 bits): images, stored as a .jxl file (a bare codestream; 16-bit ones in
libjxl's container) whose size header is read and checked against the .omc header's before
libjxl allocates anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .. import limits
from ..errors import CorruptStreamError, UnsupportedInputError
from ..items import IMAGE_MODES, Bytes, Image
from .base import Codec, LossyCodec, check_image_meta, option, section, undecodable

JPEG_MAGIC = b"\xff\xd8\xff"


@dataclass
class JXLJPEG(Codec):
    codec_id: ClassVar[str] = "jxl-jpeg"
    modality: ClassVar[str] = "bytes"
    lossless: ClassVar[bool] = True
    requires: ClassVar[tuple[str, ...]] = ("imagecodecs",)
    description: ClassVar[str] = "JPEG files recompressed losslessly by JPEG XL (byte-exact JPEG back)"

    def encoder_version(self):
        import imagecodecs

        return imagecodecs.jpegxl_version()

    def supports(self, item):
        reason = super().supports(item)
        return reason or (None if item.data.startswith(JPEG_MAGIC) else "jxl-jpeg takes JPEG files only")

    def encode(self, item):
        import imagecodecs

        self.check_supports(item)
        try:
            return {"DATA": imagecodecs.jpegxl_encode_jpeg(item.data)}
        except Exception as exc:  # imagecodecs.JpegxlError for JPEGs libjxl cannot transcode
            raise UnsupportedInputError(f"jxl-jpeg cannot transcode this JPEG: {exc}") from None

    def decode(self, sections, meta):
        import imagecodecs

        size = int(meta["size"])
        limits.check_bytes(size)
        try:
            data = imagecodecs.jpegxl_decode_jpeg(section(sections, "DATA", self.codec_id))
        except Exception as exc:
            raise undecodable(self.codec_id, exc) from None
        if len(data) != size:
            raise CorruptStreamError(f"{self.codec_id}: payload decodes to {len(data)} bytes, header {size}")
        return Bytes(bytes(data))


_CONTAINER = b"\x00\x00\x00\x0cJXL \r\n\x87\n"


def _codestream(data: bytes) -> bytes:
    """The start of the codestream: the data itself, or in a container (ISO/IEC 18181-2, which
    libjxl writes for 16-bit samples: codestream level 10) the payload of its jxlc box or of its
    first jxlp box (after that box's 4-byte index)."""
    if data[:2] == b"\xff\x0a":
        return data
    if not data.startswith(_CONTAINER):
        raise CorruptStreamError("not a JPEG XL file")
    at = 0
    while at + 8 <= len(data):
        size, kind = int.from_bytes(data[at:at + 4], "big"), data[at + 4:at + 8]
        head = 8
        if size == 1:
            size, head = int.from_bytes(data[at + 8:at + 16], "big"), 16
        elif size == 0:
            size = len(data) - at
        if size < head:
            break
        if kind in (b"jxlc", b"jxlp"):
            return data[at + head + (4 if kind == b"jxlp" else 0):at + size]
        at += size
    raise CorruptStreamError("a JPEG XL container without a codestream")


def codestream_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a JPEG XL file's SizeHeader (ISO/IEC 18181-1, A.3.1: bits read
    least significant first; the 3-bit ratio gives the width from the height)."""
    data = _codestream(data)
    if data[:2] != b"\xff\x0a":
        raise CorruptStreamError("not a JPEG XL codestream")
    bits = int.from_bytes(data[2:16], "little")
    at = 0

    def read(n: int) -> int:
        nonlocal at
        value, at = (bits >> at) & ((1 << n) - 1), at + n
        return value

    def u32() -> int:  # U32(1 + u(9), 1 + u(13), 1 + u(18), 1 + u(30))
        return 1 + read((9, 13, 18, 30)[read(2)])

    small = read(1)
    height = (read(5) + 1) * 8 if small else u32()
    ratio = read(3)
    if ratio:
        num, den = ((1, 1), (12, 10), (4, 3), (3, 2), (16, 9), (5, 4), (2, 1))[ratio - 1]
        return height * num // den, height
    return ((read(5) + 1) * 8 if small else u32()), height


@dataclass
class _JXLImage(Codec):
    modality: ClassVar[str] = "image"
    requires: ClassVar[tuple[str, ...]] = ("imagecodecs",)
    standard: ClassVar[tuple[str, ...]] = (".jxl",)
    modes: ClassVar[tuple[str, ...]] = ("L", "LA", "RGB", "RGBA")
    decode_copies: ClassVar[float] = 2.0  # libjxl's output and the item's array
    cpu_dependent_encode: ClassVar[bool] = True  # libjxl picks its SIMD kernels at run time (highway)
    effort: int = option(7, 1, 9)  # cjxl -e

    def encoder_version(self):
        import imagecodecs

        return imagecodecs.jpegxl_version()

    def supports(self, item):
        reason = super().supports(item)
        if reason is None and item.mode not in self.modes:
            reason = f"{self.codec_id} cannot store mode {item.mode} (it stores {', '.join(self.modes)})"
        return reason

    def settings(self) -> dict:
        return {}

    def encode(self, item):
        import imagecodecs

        self.check_supports(item)
        pixels = item.pixels[:, :, 0] if item.pixels.shape[2] == 1 else item.pixels
        return {"DATA": imagecodecs.jpegxl_encode(np.ascontiguousarray(pixels), effort=self.effort,
                                                  usecontainer=False, **self.settings())}

    def decode(self, sections, meta):
        import imagecodecs

        w, h = check_image_meta(meta)
        mode = meta.get("mode")
        if mode not in self.modes:
            raise CorruptStreamError(f"{self.codec_id}: header mode {mode!r} is not one it stores")
        data = section(sections, "DATA", self.codec_id)
        if codestream_size(data) != (w, h):  # before libjxl allocates the frame
            raise CorruptStreamError(f"{self.codec_id}: payload is {codestream_size(data)}, header says {(w, h)}")
        try:
            pixels = imagecodecs.jpegxl_decode(data, index=0)
        except Exception as exc:  # imagecodecs.JpegxlError
            raise undecodable(self.codec_id, exc) from None
        channels, dtype = IMAGE_MODES[mode]
        if pixels.size != h * w * channels or pixels.dtype != np.dtype(dtype):
            raise CorruptStreamError(f"{self.codec_id}: payload is {pixels.shape} {pixels.dtype}, not mode {mode}")
        return Image(pixels.reshape(h, w, channels), mode)


@dataclass
class JXL(_JXLImage, LossyCodec):
    codec_id: ClassVar[str] = "jxl"
    description: ClassVar[str] = "JPEG XL lossy (libjxl VarDCT, effort 7); quality -> cjxl -q"

    def settings(self):
        return {"level": min(self.quality, 99.9)}  # 100 asks libjxl for distance 0: jxl-lossless


@dataclass
class JXLLossless(_JXLImage):
    codec_id: ClassVar[str] = "jxl-lossless"
    lossless: ClassVar[bool] = True
    modes: ClassVar[tuple[str, ...]] = ("L", "LA", "RGB", "RGBA", "I;16", "LA;16", "RGB;16", "RGBA;16")
    description: ClassVar[str] = "JPEG XL lossless (libjxl modular, effort 7), 8 and 16 bits per sample"

    def settings(self):
        return {"lossless": True}
