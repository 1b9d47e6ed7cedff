"""Classical video codecs through PyAV (FFmpeg): x264, x265, SVT-AV1 and lossless FFV1.

    Video(planes, fps, pix_fmt) -> FFmpeg encoder -> Matroska in memory -> section DATA

The DATA section is a complete .mkv file that any player opens.  Quality (0..100, higher is
better) maps linearly to the encoder's CRF: x264/x265 51..0, SVT-AV1 63..0.  FFV1 (level 3,
range coder) restores every plane bit-exactly.  Decoding checks frame size and count against the
container's metadata and the caps before allocating the output.
"""

from __future__ import annotations

import dataclasses
import io
from dataclasses import dataclass
from typing import ClassVar, Iterator

import numpy as np

from .. import limits
from ..datasets.media import (
    FFV1_OPTIONS,
    access_units,
    elementary,
    elementary_container,
    elementary_decoder,
    ffmpeg_version,
    mkv,
    read_plane,
    remux,
)
from ..errors import CorruptStreamError, UnsupportedInputError
from ..items import PIX_FMTS, Video, chroma_shape
from .base import Codec, LossyCodec, option, section, undecodable

X26X_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow",
                "placebo")


@dataclass
class _AVCodec(Codec):
    standard: ClassVar[tuple[str, ...]] = (".mkv",)
    decode_copies: ClassVar[float] = 1.5  # the planes, filled frame by frame, and FFmpeg's frames
    modality: ClassVar[str] = "video"
    encoder: ClassVar[str] = ""
    pix_fmts: ClassVar[tuple[str, ...]] = ("yuv420p", "yuv444p")
    requires: ClassVar[tuple[str, ...]] = ("av",)
    odd_sizes: ClassVar[bool] = False  # whether the encoder takes sizes the chroma subsampling does not divide

    def encoder_version(self):
        return ffmpeg_version()

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
            if (w % sx or h % sy) and not self.odd_sizes:
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

    def _frames(self, data: bytes, w: int, h: int) -> Iterator:
        """The decoded frames of a stored stream (Matroska here), in presentation order."""
        import av

        with av.open(io.BytesIO(data), "r") as box:
            vs = box.streams.video[0]
            ctx = vs.codec_context  # None where FFmpeg found no decoder for the stream
            if ctx is None or (ctx.width, ctx.height) != (w, h):
                raise CorruptStreamError(f"{self.codec_id}: payload frame size disagrees with header")
            yield from box.decode(vs)

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
            for frame in self._frames(section(sections, "DATA", self.codec_id), w, h):
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
    odd_sizes: ClassVar[bool] = True  # FFmpeg's FFV1 codes a 63x47 4:2:0 frame exactly (32x24 chroma)
    description: ClassVar[str] = "FFV1 level 3 lossless (range coder, large context), 8 to 16 bits, 4:2:0 to 4:4:4"
    pix_fmts: ClassVar[tuple[str, ...]] = tuple(PIX_FMTS)

    def options(self):
        return FFV1_OPTIONS


@dataclass
class _CRFCodec(_AVCodec, LossyCodec):
    """x264, x265 and SVT-AV1: new streams store the encoder's elementary stream (a raw .264,
    .265 or .obu file, SEI left out: x264's settings string, x265's info), rebuilt into
    Matroska or MP4 on request; streams written before December 2026 hold a Matroska file
    (``stream`` "mkv", what a config without the field reads as)."""

    crf_worst: ClassVar[float] = 51.0
    kind: ClassVar[str] = ""  # the elementary stream: h264, hevc, av1 (media.ELEMENTARY)
    raw: ClassVar[tuple[str, ...]] = ()  # its own file extensions
    quality: float = option(50.0, 0, 100)
    preset: str = option("medium", choices=X26X_PRESETS)
    stream: str = option("mkv", choices=("mkv", "elementary"), omit_default=True)

    @classmethod
    def from_quality(cls, quality):
        return dataclasses.replace(super().from_quality(quality), stream="elementary")

    @classmethod
    def quality_for_crf(cls, crf: float) -> float:
        """The quality whose CRF is ``crf`` (x265's CRF 28 is quality 45.098...)."""
        if not 0 <= crf <= cls.crf_worst:
            raise UnsupportedInputError(f"{cls.codec_id} takes a CRF from 0 to {cls.crf_worst:g}, got {crf:g}")
        return 100.0 * (1.0 - crf / cls.crf_worst)

    def crf(self) -> float:
        return round(self.crf_worst * (1.0 - self.quality / 100.0), 2)

    def effective(self):
        return {"crf": self.crf()}

    def options(self):
        return {"crf": f"{self.crf():g}", "preset": self.preset}

    def encode(self, item):
        if self.stream == "mkv":
            return super().encode(item)
        self.check_supports(item)
        data, self._version = elementary(item, self.encoder, self._target(item), self.options(), self.kind)
        return {"DATA": data}

    def encoder_version(self):
        return getattr(self, "_version", "") if self.stream == "elementary" else ""

    def _frames(self, data, w, h):
        if self.stream == "mkv":
            yield from super()._frames(data, w, h)
            return
        ctx = elementary_decoder(self.kind, w, h)
        for packet in access_units(data, self.kind) + [None]:
            for frame in ctx.decode(packet):
                if (frame.width, frame.height) != (w, h):
                    raise CorruptStreamError(f"{self.codec_id}: payload frame size disagrees with header")
                yield frame

    def standard_file(self, data, ext, meta):
        if ext in self.raw:
            if self.stream == "mkv":
                raise UnsupportedInputError(f"this {self.codec_id} stream (written before December 2026) is "
                                            "stored in Matroska: decode it to .mkv or .mp4")
            return data
        fmt = {".mkv": "matroska", ".mp4": "mp4", ".webm": "webm"}[ext]
        if self.stream == "mkv":
            return data if ext == ".mkv" else remux(data, fmt)
        return elementary_container(data, self.kind, (int(meta["width"]), int(meta["height"])),
                                    (int(meta["fps"][0]), int(meta["fps"][1])), fmt)


@dataclass
class _X26X(_CRFCodec):
    """x264 and x265: ``tune`` passes the encoder's tuning (psnr for the benchmarks' anchors)."""

    tune: str = ""

    def options(self):
        return {**super().options(), **({"tune": self.tune} if self.tune else {})}


@dataclass
class X264(_X26X):
    codec_id: ClassVar[str] = "x264"
    kind: ClassVar[str] = "h264"
    raw: ClassVar[tuple[str, ...]] = (".264", ".h264")
    standard: ClassVar[tuple[str, ...]] = (".mkv", ".mp4") + raw
    encoder: ClassVar[str] = "libx264"
    description: ClassVar[str] = "H.264 (x264); quality -> CRF 51..0"
    tune: str = option("", choices=("", "film", "animation", "grain", "stillimage", "psnr", "ssim", "fastdecode",
                                    "zerolatency"), omit_default=True)


@dataclass
class X265(_X26X):
    codec_id: ClassVar[str] = "x265"
    kind: ClassVar[str] = "hevc"
    raw: ClassVar[tuple[str, ...]] = (".265", ".hevc")
    standard: ClassVar[tuple[str, ...]] = (".mkv", ".mp4") + raw
    encoder: ClassVar[str] = "libx265"
    description: ClassVar[str] = "HEVC (x265); quality -> CRF 51..0"
    tune: str = option("", choices=("", "psnr", "ssim", "grain", "animation", "fastdecode", "zerolatency"),
                       omit_default=True)

    def options(self):
        return {**super().options(), "x265-params": "log-level=error"}


@dataclass
class SVTAV1(_CRFCodec):
    codec_id: ClassVar[str] = "svtav1"
    kind: ClassVar[str] = "av1"
    raw: ClassVar[tuple[str, ...]] = (".obu",)
    standard: ClassVar[tuple[str, ...]] = (".mkv", ".webm", ".mp4") + raw
    encoder: ClassVar[str] = "libsvtav1"
    pix_fmts: ClassVar[tuple[str, ...]] = ("yuv420p",)
    crf_worst: ClassVar[float] = 63.0
    description: ClassVar[str] = "AV1 (SVT-AV1); quality -> CRF 63..0"
    preset: str = option("8", choices=tuple(str(p) for p in range(14)))

    @classmethod
    def quality_for_crf(cls, crf):
        if crf != int(crf) or crf < 1:
            raise UnsupportedInputError(f"svtav1 takes an integer CRF from 1 to 63, got {crf:g}")
        return super().quality_for_crf(crf)

    def crf(self):
        # an integer; FFmpeg reads CRF 0 as "not set" and encodes at its default (35): quality
        # 100 gave a tenth of quality 98's bytes at 36 dB instead of 55, so 1 is the best
        return max(1.0, float(round(super().crf())))

    def options(self):
        return {"crf": f"{self.crf():g}", "preset": self.preset, "svtav1-params": "verbosity=0"}
