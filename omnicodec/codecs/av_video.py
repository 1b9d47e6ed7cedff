"""Classical video codecs through PyAV (FFmpeg): x264, x265, SVT-AV1 and lossless FFV1.

    Video(planes, fps, pix_fmt) -> FFmpeg encoder -> Matroska in memory -> section DATA

The DATA section is a complete .mkv file that any player opens.  Quality (0..100, higher is
better) maps linearly to the encoder's CRF: x264/x265 51..0, SVT-AV1 63..0.  FFV1 (level 3,
range coder) restores every plane bit-exactly.  Decoding checks frame size and count against the
container's metadata and the caps before allocating the output.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .. import limits
from ..datasets.media import FFV1_OPTIONS, mkv, read_plane
from ..errors import CorruptStreamError
from ..items import PIX_FMTS, Video, chroma_shape
from .base import Codec, LossyCodec, option, section, undecodable

X26X_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow",
                "placebo")


@dataclass
class _AVCodec(Codec):
    # FFV1 and AV1: Matroska only (PyAV templates an AV1 stream on its libdav1d decoder, which no
    # muxer takes)
    standard: ClassVar[dict[str, str]] = {".mkv": ""}
    decode_copies: ClassVar[float] = 1.5  # the planes, filled frame by frame, and FFmpeg's frames
    modality: ClassVar[str] = "video"
    encoder: ClassVar[str] = ""
    pix_fmts: ClassVar[tuple[str, ...]] = ("yuv420p", "yuv444p")
    requires: ClassVar[tuple[str, ...]] = ("av",)

    @classmethod
    def missing(cls):
        missing = super().missing()
        if not missing:
            import av

            if cls.encoder not in av.codecs_available:
                missing.append(f"FFmpeg encoder {cls.encoder}")
        return missing

    def supports(self, item):
        reason = super().supports(item)
        if reason:
            return reason
        if self._target(item) not in self.pix_fmts:
            return f"{self.codec_id} stores {', '.join(self.pix_fmts)}, not {item.pix_fmt}"
        _, h, w = item.planes[0].shape
        for fmt in (item.pix_fmt, self._target(item)):
            sx, sy, _ = PIX_FMTS[fmt]
            if w % sx or h % sy:
                return f"{self.codec_id} needs frame sizes that the chroma subsampling divides, got {w}x{h}"
        return None

    def _target(self, item) -> str:
        """The encoder's pixel format: the item's, or for a lossy codec its 8-bit version (the
        same chroma layout), as ffmpeg converts."""
        if item.pix_fmt in self.pix_fmts or self.lossless:
            return item.pix_fmt
        return item.pix_fmt[:7]  # yuv420p10le -> yuv420p

    def options(self) -> dict[str, str]:
        return {}

    def encode(self, item):
        self.check_supports(item)
        return {"DATA": mkv(item, self.encoder, self._target(item), self.options())}

    def decode(self, sections, meta):
        import av

        w, h, t = int(meta["width"]), int(meta["height"]), int(meta["frames"])
        limits.check_video(w, h, t)
        pix_fmt = meta["pix_fmt"]
        if pix_fmt not in (self.pix_fmts if self.lossless else PIX_FMTS):
            raise CorruptStreamError(f"{self.codec_id}: header pix_fmt {pix_fmt!r} is not valid")
        ch, cw = chroma_shape(pix_fmt, h, w)
        dtype = PIX_FMTS[pix_fmt][2]
        planes = (np.zeros((t, h, w), dtype), np.zeros((t, ch, cw), dtype), np.zeros((t, ch, cw), dtype))
        count = 0
        try:
            with av.open(io.BytesIO(section(sections, "DATA", self.codec_id)), "r") as box:
                vs = box.streams.video[0]
                ctx = vs.codec_context  # None where FFmpeg found no decoder for the stream
                if ctx is None or (ctx.width, ctx.height) != (w, h):
                    raise CorruptStreamError(f"{self.codec_id}: payload frame size disagrees with header")
                for frame in box.decode(vs):
                    if count == t:
                        raise CorruptStreamError(f"{self.codec_id}: payload holds more frames than the header")
                    frame = frame.reformat(format=pix_fmt) if frame.format.name != pix_fmt else frame
                    for plane, dst in zip(frame.planes, planes):
                        dst[count] = read_plane(plane, dst.shape[1], dst.shape[2], dtype)
                    count += 1
        except (av.FFmpegError, IndexError, ValueError) as exc:
            raise undecodable(self.codec_id, exc) from None
        if count != t:
            raise CorruptStreamError(f"{self.codec_id}: payload holds {count} frames, header {t}")
        return Video(planes, (int(meta["fps"][0]), int(meta["fps"][1])), pix_fmt)


@dataclass
class FFV1(_AVCodec):
    codec_id: ClassVar[str] = "ffv1"
    lossless: ClassVar[bool] = True
    encoder: ClassVar[str] = "ffv1"
    description: ClassVar[str] = "FFV1 level 3 lossless (range coder, large context), 8 to 16 bits, 4:2:0 to 4:4:4"
    pix_fmts: ClassVar[tuple[str, ...]] = tuple(PIX_FMTS)

    def options(self):
        return FFV1_OPTIONS


@dataclass
class _CRFCodec(_AVCodec, LossyCodec):
    crf_worst: ClassVar[float] = 51.0
    quality: float = option(50.0, 0, 100)
    preset: str = option("medium", choices=X26X_PRESETS)

    def crf(self) -> float:
        return round(self.crf_worst * (1.0 - self.quality / 100.0), 2)

    def options(self):
        return {"crf": f"{self.crf():g}", "preset": self.preset}


@dataclass
class X264(_CRFCodec):
    codec_id: ClassVar[str] = "x264"
    standard: ClassVar[dict[str, str]] = {".mkv": "", ".mp4": "mp4"}
    encoder: ClassVar[str] = "libx264"
    description: ClassVar[str] = "H.264 (x264); quality -> CRF 51..0"


@dataclass
class X265(_CRFCodec):
    codec_id: ClassVar[str] = "x265"
    standard: ClassVar[dict[str, str]] = {".mkv": "", ".mp4": "mp4"}
    encoder: ClassVar[str] = "libx265"
    description: ClassVar[str] = "HEVC (x265); quality -> CRF 51..0"

    def options(self):
        return {**super().options(), "x265-params": "log-level=error"}


@dataclass
class SVTAV1(_CRFCodec):
    codec_id: ClassVar[str] = "svtav1"
    encoder: ClassVar[str] = "libsvtav1"
    pix_fmts: ClassVar[tuple[str, ...]] = ("yuv420p",)
    crf_worst: ClassVar[float] = 63.0
    description: ClassVar[str] = "AV1 (SVT-AV1); quality -> CRF 63..0"
    preset: str = option("8", choices=tuple(str(p) for p in range(14)))

    def crf(self):
        return float(round(super().crf()))  # SVT-AV1 takes integer CRF

    def options(self):
        return {"crf": f"{self.crf():g}", "preset": self.preset, "svtav1-params": "verbosity=0"}
