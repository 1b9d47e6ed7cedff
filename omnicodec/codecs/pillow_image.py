"""Classical image codecs through Pillow: PNG, WebP (lossy and lossless), JPEG (4:2:0, 4:4:4),
AVIF.

    Image(pixels, mode) -> Pillow encoder -> section DATA (the format's own file bytes)

The DATA section is a complete PNG/WebP/JPEG/AVIF file, so it can also be extracted and opened
by any viewer.  Quality (0..100, higher is better) maps one-to-one to Pillow's ``quality`` for
JPEG, WebP and AVIF.  Decoding checks the format header's size against the container's metadata
and the pixel cap before Pillow allocates.  PNG keeps every bit depth it has: 16-bit grey through
Pillow, 16-bit grey+alpha / RGB / RGBA through imagecodecs (libpng), which Pillow cannot write.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from PIL import Image as PILImage

from ..datasets.media import from_pil, to_pil, wide_png
from ..errors import CorruptStreamError
from ..items import Image
from .base import Codec, LossyCodec, check_image_meta, option, section, undecodable


@dataclass
class _PillowCodec(Codec):
    # Pillow's image, the chunks and the joined bytes of its tobytes() (numpy's view of it), a
    # mode conversion: a 12000 x 12000 RGB PNG grew the process by 3.34 x its pixels
    decode_copies: ClassVar[float] = 3.5
    modality: ClassVar[str] = "image"
    format: ClassVar[str] = ""
    modes: ClassVar[tuple[str, ...]] = ("L", "LA", "RGB", "RGBA")
    max_side: ClassVar[int] = 1 << 20
    library: ClassVar[tuple[str, str]] = ("", "")  # (name, Pillow's feature) of its encoder library

    def encoder_version(self):
        from PIL import __version__, features

        if not self.library[0]:
            return f"Pillow {__version__}"
        version = features.version(self.library[1])
        return f"{self.library[0]} {version}" if version else ""

    def supports(self, item):
        reason = super().supports(item)
        if reason:
            return reason
        if item.mode not in self.modes:
            return f"{self.codec_id} cannot store mode {item.mode} (it stores {', '.join(self.modes)})"
        h, w = item.pixels.shape[:2]
        if max(h, w) > self.max_side:
            return f"{self.codec_id} is limited to {self.max_side} pixels per side"
        return None

    def save_args(self) -> dict:
        return {}

    def encode(self, item):
        self.check_supports(item)
        out = io.BytesIO()
        to_pil(item).save(out, self.format, **self.save_args())
        return {"DATA": out.getvalue()}

    def decode(self, sections, meta):
        w, h = check_image_meta(meta)
        if meta.get("mode") not in self.modes:
            raise CorruptStreamError(f"{self.codec_id}: header mode {meta.get('mode')!r} is not one it stores")
        data = section(sections, "DATA", self.codec_id)
        try:
            with warnings.catch_warnings():  # the caps and the memory limit decide, not Pillow
                warnings.simplefilter("ignore", PILImage.DecompressionBombWarning)
                im = PILImage.open(io.BytesIO(data), formats=[self.format])
                if im.size != (w, h):
                    raise CorruptStreamError(f"{self.codec_id}: payload is {im.size}, header says {(w, h)}")
                im.load()
        except CorruptStreamError:
            raise
        except (OSError, SyntaxError, ValueError, RuntimeError, PILImage.DecompressionBombError) as exc:
            # RuntimeError: the AVIF plugin's word for a corrupt file
            raise undecodable(self.codec_id, exc) from None
        if im.mode != meta["mode"]:
            im = im.convert(meta["mode"])
        return from_pil(im, indices=meta["mode"] == "P")


@dataclass
class PNG(_PillowCodec):
    codec_id: ClassVar[str] = "png"
    standard: ClassVar[tuple[str, ...]] = (".png",)
    lossless: ClassVar[bool] = True
    format: ClassVar[str] = "PNG"
    modes: ClassVar[tuple[str, ...]] = ("L", "LA", "RGB", "RGBA", "I;16", "LA;16", "RGB;16", "RGBA;16", "P")
    description: ClassVar[str] = "PNG, lossless (zlib level 9), 8 and 16 bits per sample, palette indices"
    wide: ClassVar[tuple[str, ...]] = ("LA;16", "RGB;16", "RGBA;16")  # through imagecodecs
    compress_level: int = option(9, 0, 9)

    def save_args(self):
        return {"compress_level": self.compress_level, "optimize": False}

    def encode(self, item):
        if item.mode == "P":  # the indices as a grey PNG: the palette is side data
            return super().encode(Image(item.pixels, "L"))
        if item.mode not in self.wide:
            return super().encode(item)
        self.check_supports(item)
        return {"DATA": wide_png(item, self.compress_level)}

    def decode(self, sections, meta):
        if meta.get("mode") == "P":
            return Image(super().decode(sections, {**meta, "mode": "L"}).pixels, "P")
        if meta.get("mode") not in self.wide:
            return super().decode(sections, meta)
        import imagecodecs

        w, h = check_image_meta(meta)
        data = section(sections, "DATA", self.codec_id)
        if data[:8] != b"\x89PNG\r\n\x1a\n" or len(data) < 33 or \
                (int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")) != (w, h):
            raise CorruptStreamError(f"{self.codec_id}: payload size disagrees with header")
        try:
            pixels = imagecodecs.png_decode(data)
        except Exception as exc:  # imagecodecs raises its own PngError (a RuntimeError)
            raise undecodable(self.codec_id, exc) from None
        image = Image(pixels, None) if pixels.dtype == np.uint16 else None
        if image is None or image.mode != meta["mode"]:
            raise CorruptStreamError(f"{self.codec_id}: payload mode disagrees with header")
        return image


@dataclass
class WebPLossless(_PillowCodec):
    codec_id: ClassVar[str] = "webp-lossless"
    standard: ClassVar[tuple[str, ...]] = (".webp",)
    lossless: ClassVar[bool] = True
    format: ClassVar[str] = "WEBP"
    max_side: ClassVar[int] = 16383
    library: ClassVar[tuple[str, str]] = ("libwebp", "webp")
    description: ClassVar[str] = "WebP lossless (method 5, effort 90)"
    method: int = option(5, 0, 6)  # method 6 / effort 100 is ~25x slower for ~0.2% smaller files
    effort: int = option(90, 0, 100)

    def supports(self, item):
        # WebP stores RGB(A); grayscale would come back as RGB, so it is refused (PNG takes it).
        reason = super().supports(item)
        return reason or (None if item.mode in ("RGB", "RGBA") else
                          f"{self.codec_id} stores RGB and RGBA only")

    def save_args(self):
        return {"lossless": True, "quality": self.effort, "method": self.method, "exact": True}


@dataclass
class _LossyPillow(_PillowCodec, LossyCodec):
    def save_args(self):
        return {"quality": int(round(self.quality))}


@dataclass
class WebP(_LossyPillow):
    codec_id: ClassVar[str] = "webp"
    standard: ClassVar[tuple[str, ...]] = (".webp",)
    format: ClassVar[str] = "WEBP"
    max_side: ClassVar[int] = 16383
    modes: ClassVar[tuple[str, ...]] = ("RGB", "RGBA")
    library: ClassVar[tuple[str, str]] = ("libwebp", "webp")
    description: ClassVar[str] = "WebP lossy (libwebp, method 6); quality -> -q"

    def save_args(self):
        return {"quality": int(round(self.quality)), "method": 6}


@dataclass
class JPEG(_LossyPillow):
    codec_id: ClassVar[str] = "jpeg"
    standard: ClassVar[tuple[str, ...]] = (".jpg", ".jpeg")
    format: ClassVar[str] = "JPEG"
    max_side: ClassVar[int] = 65500
    modes: ClassVar[tuple[str, ...]] = ("L", "RGB")
    library: ClassVar[tuple[str, str]] = ("libjpeg-turbo", "libjpeg_turbo")
    description: ClassVar[str] = "JPEG baseline, 4:2:0 chroma, optimized Huffman; quality -> -quality"
    subsampling: ClassVar[int] = 2

    def save_args(self):
        return {"quality": int(round(self.quality)), "subsampling": self.subsampling,
                "optimize": True}


@dataclass
class JPEG444(JPEG):
    codec_id: ClassVar[str] = "jpeg444"
    description: ClassVar[str] = "JPEG baseline, 4:4:4 chroma, optimized Huffman"
    subsampling: ClassVar[int] = 0


@dataclass
class AVIF(_LossyPillow):
    codec_id: ClassVar[str] = "avif"
    standard: ClassVar[tuple[str, ...]] = (".avif",)
    format: ClassVar[str] = "AVIF"
    max_side: ClassVar[int] = 65536
    modes: ClassVar[tuple[str, ...]] = ("RGB", "RGBA")
    library: ClassVar[tuple[str, str]] = ("libavif", "avif")
    description: ClassVar[str] = "AVIF (libavif/AV1, 4:4:4, speed 6); quality -> quality"
    speed: int = option(6, 0, 10)

    def save_args(self):
        return {"quality": int(round(self.quality)), "speed": self.speed, "subsampling": "4:4:4"}
