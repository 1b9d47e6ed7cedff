"""``jxl-jpeg``: lossless JPEG recompression through JPEG XL (libjxl via imagecodecs).

    JPEG file bytes ─libjxl "JPEG transcoding" (DCT coefficients re-coded, jbrd box)─► DATA
    DATA ─libjxl JPEG reconstruction─► the original JPEG, byte for byte

A bytes codec: it takes a JPEG file as bytes and gives the same bytes back (the container's
digest checks it), typically 15-20% smaller.  A JPEG that libjxl cannot transcode (arithmetic
coding, unusual markers) is refused at encode and the default moves on to the next bytes codec.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .. import limits
from ..errors import CorruptStreamError, UnsupportedInputError
from ..items import Bytes
from .base import Codec, section, undecodable

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
