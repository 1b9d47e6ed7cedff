"""The typed items codecs take and return, and the dataset and file layers read and write.

An item is one thing a user compresses: an :class:`Image` (pixels), an :class:`Audio` (samples),
a :class:`Video` (planar YUV frames) or :class:`Bytes`.  Each knows its modality, its
``meta()`` (what a decoder needs to allocate it: sizes, rates, modes; the container stores it)
and its ``digest()`` (what a lossless stream is verified against).  ``extra`` holds side data
(ICC profiles, PNG chunks, the WAV file around its samples), which the container keeps beside
a codec's payload.

Imports go one way: ``datasets`` -> ``items`` <- ``codecs``; this module imports neither.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from . import limits
from .errors import CorruptStreamError, UnsupportedInputError

MODALITIES = ("image", "audio", "video", "bytes")


# Image modes: name -> (channels, dtype).  Pillow's names for 8-bit and for 16-bit/float grey;
# ";16" and ";F" mark 16-bit and float32 versions of the multi-channel modes.  CMYK is never
# inferred (a 4-channel array is RGBA unless the mode says otherwise).
IMAGE_MODES: dict[str, tuple[int, str]] = {
    "L": (1, "uint8"), "LA": (2, "uint8"), "RGB": (3, "uint8"), "RGBA": (4, "uint8"),
    "I;16": (1, "uint16"), "LA;16": (2, "uint16"), "RGB;16": (3, "uint16"), "RGBA;16": (4, "uint16"),
    "F": (1, "float32"), "LA;F": (2, "float32"), "RGB;F": (3, "float32"), "RGBA;F": (4, "float32"),
    "CMYK": (4, "uint8"), "P": (1, "uint8"),  # P: palette indices (the palette is side data)
}
# libsndfile subtype -> the dtype its samples are held in (24-bit: int32 with the low byte 0,
# 8-bit: int16 with the low byte 0, as soundfile reads them); the first four are inferred.
AUDIO_SUBTYPES: dict[str, str] = {"DOUBLE": "float64", "FLOAT": "float32", "PCM_16": "int16",
                                  "PCM_32": "int32", "PCM_24": "int32", "PCM_S8": "int16",
                                  "PCM_U8": "int16"}
SHIFTED_SUBTYPES = ("PCM_24", "PCM_S8", "PCM_U8")  # held shifted up 8 bits: the low byte is 0


@dataclass
class Image:
    """Pixels as an (H, W, C) array; ``mode`` (see IMAGE_MODES) is inferred from the channel
    count and dtype when left out, and an (H, W) array is grey.  ``extra`` holds named byte
    strings kept beside the pixels (ICC profile, EXIF, PNG ancillary chunks...)."""

    pixels: np.ndarray
    mode: str | None = None
    extra: dict[str, bytes] = field(default_factory=dict, compare=False)
    modality: ClassVar[str] = "image"

    def __post_init__(self):
        a = np.asarray(self.pixels)
        if a.ndim == 2:
            a = a[:, :, None]
        if a.ndim != 3 or a.shape[2] not in (1, 2, 3, 4):
            raise UnsupportedInputError(f"image pixels must be (H, W) or (H, W, 1..4), got shape {a.shape}")
        if a.dtype.byteorder == ">":
            a = a.astype(a.dtype.newbyteorder("="))
        self.mode = _resolve(self.mode, IMAGE_MODES, (a.shape[2], a.dtype.name), "image mode",
                             lambda k: f"{k[0]}-channel {k[1]} pixels")
        self.pixels = a

    def meta(self) -> dict[str, Any]:
        h, w = self.pixels.shape[:2]
        return {"width": int(w), "height": int(h), "mode": self.mode}

    def digest(self) -> str:
        return _digest(self.meta(), self.pixels, extra=self.extra)


@dataclass
class Audio:
    """Samples as (frames, channels), or (frames,) for mono as ``soundfile.read`` returns it
    (kept as given).  ``subtype`` is libsndfile's name; left out, it follows the dtype
    (float64 DOUBLE, float32 FLOAT, int16 PCM_16, int32 PCM_32)."""

    samples: np.ndarray
    sample_rate: int
    subtype: str | None = None
    extra: dict[str, bytes] = field(default_factory=dict, compare=False)
    modality: ClassVar[str] = "audio"

    def __post_init__(self):
        a = np.asarray(self.samples)
        if a.ndim not in (1, 2):
            raise UnsupportedInputError(f"audio samples must be (frames,) or (frames, channels), got {a.shape}")
        if a.dtype.byteorder == ">":
            a = a.astype(a.dtype.newbyteorder("="))
        self.subtype = _resolve(self.subtype, AUDIO_SUBTYPES, a.dtype.name, "audio subtype",
                                lambda k: f"{k} samples")
        expected = AUDIO_SUBTYPES[self.subtype]
        if self.subtype in SHIFTED_SUBTYPES and a.size and (a & 0xFF).any():
            raise UnsupportedInputError(f"{self.subtype} samples are held shifted to the top of {expected}; "
                                        "these have bits below the format's precision")
        self.samples = a
        self.sample_rate = int(self.sample_rate)

    @property
    def frames(self) -> np.ndarray:
        """The samples as (frames, channels) whatever shape they were given in."""
        return self.samples[:, None] if self.samples.ndim == 1 else self.samples

    @property
    def channels(self) -> int:
        return self.frames.shape[1]

    @property
    def seconds(self) -> float:
        return self.frames.shape[0] / self.sample_rate

    def peak(self) -> float:
        """The largest |sample| at full scale 1 (integers over 2^(bits-1)); float samples as
        they are, which may pass 1, be infinite or NaN (then NaN); 0 for no samples."""
        a = self.samples
        if not a.size:
            return 0.0
        top = max(-float(a.min()), float(a.max()))
        return top / 2.0 ** (8 * a.dtype.itemsize - 1) if a.dtype.kind == "i" else top

    def meta(self) -> dict[str, Any]:
        frames, channels = self.frames.shape
        meta = {"sample_rate": int(self.sample_rate), "channels": int(channels),
                "frames": int(frames), "subtype": self.subtype}
        return {**meta, "flat": True} if self.samples.ndim == 1 else meta

    def digest(self) -> str:
        return _digest(self.meta(), self.samples, extra=self.extra)


def _resolve(name: str | None, table: dict[str, Any], key: Any, what: str, describe) -> str:
    """``name`` checked against ``table`` (its value must be ``key``), or, when None, the first
    name whose value is ``key``: how an item's mode or subtype follows its array."""
    if name is None:
        found = [n for n, v in table.items() if v == key]
        if not found:
            raise UnsupportedInputError(f"no {what} holds {describe(key)} (see {', '.join(table)})")
        return found[0]
    if name not in table:
        raise UnsupportedInputError(f"unknown {what} {name!r} (known: {', '.join(table)})")
    if table[name] != key:
        raise UnsupportedInputError(f"{what} {name} holds {describe(table[name])}, got {describe(key)}")
    return name


def audio_from(samples: np.ndarray, meta: dict[str, Any]) -> Audio:
    """A decoder's (frames, channels) samples as the Audio item the header describes (a lossy
    decoder's extra precision below a 24- or 8-bit subtype is cleared)."""
    if meta["subtype"] in SHIFTED_SUBTYPES and samples.dtype.kind == "i":
        samples = samples & ~np.array(0xFF, samples.dtype)
    flat = bool(meta.get("flat")) and samples.ndim == 2 and samples.shape[1] == 1
    return Audio(samples[:, 0] if flat else samples, int(meta["sample_rate"]), meta["subtype"])


# FFmpeg pixel formats a Video holds: name -> (chroma x subsampling, y subsampling, dtype);
# 10/12/16-bit samples are held in uint16, little-endian on disk.
PIX_FMTS: dict[str, tuple[int, int, str]] = {
    "yuv420p": (2, 2, "uint8"), "yuv422p": (2, 1, "uint8"), "yuv444p": (1, 1, "uint8"),
    **{f"yuv{c}p{b}le": (*{"420": (2, 2), "422": (2, 1), "444": (1, 1)}[c], "uint16")
       for c in ("420", "422", "444") for b in (10, 12, 16)},
}


def chroma_shape(pix_fmt: str, h: int, w: int) -> tuple[int, int]:
    """The (rows, columns) of a chroma plane of an h × w frame."""
    sx, sy, _ = PIX_FMTS[pix_fmt]
    return -(-h // sy), -(-w // sx)


# BT.601 Y'CbCr <-> R'G'B' at full range (JFIF's equations): every Y' value of the plane maps
# into [0, 1], so a learned codec working in RGB keeps a clip's footroom and headroom (the
# shared clips use Y' 0..235); colours outside the RGB cube are clipped.
_KR, _KB = 0.299, 0.114


def yuv_to_rgb(y: np.ndarray, u: np.ndarray, v: np.ndarray, peak: int = 255) -> np.ndarray:
    """One frame's planes (chroma at any subsampling, repeated up) to float32 RGB (3, H, W) in [0, 1]."""
    h, w = y.shape
    rows, cols = np.arange(h) * u.shape[0] // h, np.arange(w) * u.shape[1] // w
    mid = (peak + 1) / 2
    yy = y / peak
    cb, cr = (u[rows][:, cols] - mid) / peak, (v[rows][:, cols] - mid) / peak
    kg = 1 - _KR - _KB
    rgb = np.stack([yy + 2 * (1 - _KR) * cr, yy - (2 * _KB * (1 - _KB) * cb + 2 * _KR * (1 - _KR) * cr) / kg,
                    yy + 2 * (1 - _KB) * cb])
    return np.clip(rgb, 0, 1).astype(np.float32)


def rgb_to_yuv(rgb: np.ndarray, pix_fmt: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """8-bit RGB (H, W, 3) to the 8-bit planes of ``pix_fmt``, chroma by means over its
    subsampling blocks (edge-padded): the inverse of ``yuv_to_rgb``."""
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    y = _KR * r + (1 - _KR - _KB) * g + _KB * b
    cb, cr = (b - y) / (2 * (1 - _KB)), (r - y) / (2 * (1 - _KR))
    sx, sy, _ = PIX_FMTS[pix_fmt]
    if sx > 1 or sy > 1:
        pad = ((0, -y.shape[0] % sy), (0, -y.shape[1] % sx))
        cb, cr = (np.pad(c, pad, mode="edge") for c in (cb, cr))
        cb, cr = (c.reshape(c.shape[0] // sy, sy, c.shape[1] // sx, sx).mean(axis=(1, 3)) for c in (cb, cr))
    return tuple(np.clip(np.round(p), 0, 255).astype(np.uint8) for p in (y, cb + 128, cr + 128))


@dataclass
class Video:
    """Planar YUV frames: ``planes`` = (Y, U, V), each (frames, h, w), uint8 for 8-bit formats
    and uint16 for 10/12/16-bit ones.

    ``pix_fmt`` is FFmpeg's name (see PIX_FMTS); ``fps`` a (num, den) pair.
    """

    planes: tuple[np.ndarray, np.ndarray, np.ndarray]
    fps: tuple[int, int]
    pix_fmt: str = "yuv420p"
    extra: dict[str, bytes] = field(default_factory=dict, compare=False)
    modality: ClassVar[str] = "video"

    def __post_init__(self):
        if self.pix_fmt not in PIX_FMTS:
            raise UnsupportedInputError(f"unknown pixel format {self.pix_fmt!r} (known: {', '.join(PIX_FMTS)})")
        planes = tuple(np.asarray(p) for p in self.planes)
        if len(planes) != 3 or any(p.ndim != 3 for p in planes):
            raise UnsupportedInputError("video planes must be three (frames, h, w) arrays: Y, U, V")
        t, h, w = planes[0].shape
        dtype = PIX_FMTS[self.pix_fmt][2]
        expected = [(t, h, w)] + [(t, *chroma_shape(self.pix_fmt, h, w))] * 2
        if [p.shape for p in planes] != expected or any(p.dtype != dtype for p in planes):
            raise UnsupportedInputError(
                f"{self.pix_fmt} frames of {w}x{h} need {dtype} planes shaped {expected}, got "
                f"{[(p.shape, p.dtype.name) for p in planes]}")
        self.planes = planes
        num, den = (int(v) for v in self.fps)
        if num <= 0 or den <= 0:
            raise UnsupportedInputError(f"frame rate must be positive, got {num}/{den}")
        self.fps = (num, den)

    @property
    def seconds(self) -> float:
        return self.planes[0].shape[0] * self.fps[1] / self.fps[0]

    def meta(self) -> dict[str, Any]:
        frames, h, w = self.planes[0].shape
        return {"width": int(w), "height": int(h), "frames": int(frames),
                "fps": [int(self.fps[0]), int(self.fps[1])], "pix_fmt": self.pix_fmt}

    def digest(self) -> str:
        return _digest(self.meta(), *self.planes, extra=self.extra)


@dataclass
class Bytes:
    """Any byte string (logs, documents, archives)."""

    data: bytes
    extra: dict[str, bytes] = field(default_factory=dict, compare=False)
    modality: ClassVar[str] = "bytes"

    def meta(self) -> dict[str, Any]:
        return {"size": len(self.data)}

    def digest(self) -> str:
        """sha256 of the bytes, then of each side-data entry as ``_digest`` adds them (none:
        the bytes' own sha256, which a streamed decode checks block by block)."""
        h = hashlib.sha256(self.data)
        side_records(h, self.extra)
        return h.hexdigest()


Item = Image | Audio | Video | Bytes

_SAMPLE_BYTES = {"PCM_S8": 1, "PCM_U8": 1, "PCM_16": 2, "PCM_24": 3, "PCM_32": 4, "FLOAT": 4, "DOUBLE": 8}


def stream_facts(modality: str, meta: dict[str, Any], stored: int) -> dict[str, Any]:
    """What a stream's header implies, given ``stored`` bytes of file: the item's raw size
    (``raw_bytes``: pixels, samples or frames at their bit depth), ``ratio`` (raw / stored),
    and ``bpp`` (images), ``duration_s`` and ``kbit_s`` (audio, video), ``bits_per_byte``
    (bytes).  Facts a header does not hold are left out (``store`` keeps no meta)."""
    try:
        if modality == "image":
            channels, dtype = IMAGE_MODES[meta["mode"]]
            pixels = int(meta["width"]) * int(meta["height"])
            raw, facts = pixels * channels * np.dtype(dtype).itemsize, {"bpp": 8 * stored / max(pixels, 1)}
        elif modality == "audio":
            seconds = int(meta["frames"]) / int(meta["sample_rate"])
            raw = int(meta["frames"]) * int(meta["channels"]) * _SAMPLE_BYTES.get(meta["subtype"], 4)
            facts = {"duration_s": seconds, "kbit_s": 8 * stored / 1000 / seconds if seconds else None}
        elif modality == "video":
            h, w, frames = int(meta["height"]), int(meta["width"]), int(meta["frames"])
            ch, cw = chroma_shape(meta["pix_fmt"], h, w)
            raw = frames * (h * w + 2 * ch * cw) * np.dtype(PIX_FMTS[meta["pix_fmt"]][2]).itemsize
            seconds = frames * int(meta["fps"][1]) / int(meta["fps"][0])
            facts = {"duration_s": seconds, "kbit_s": 8 * stored / 1000 / seconds if seconds else None,
                     "bpp": 8 * stored / max(frames * h * w, 1)}
        else:
            raw = int(meta["size"])
            facts = {"bits_per_byte": 8 * stored / raw if raw else None}
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return {}
    return {"raw_bytes": raw, "ratio": raw / stored if stored else None, **facts}


def select_lines(text: bytes, first: int, start: int, stop: int) -> bytes:
    """Lines ``start`` (inclusive) to ``stop`` (exclusive) of ``text``, whose first line is
    line number ``first``, each with the newline it had (the last line may have none).

    >>> select_lines(b"a\\nb\\nc", 10, 11, 99)
    b'b\\nc'
    """
    lines = text.split(b"\n")
    last = len(lines) - 1  # lines[last] has no newline (empty if the text ended with one)
    picked = range(max(0, start - first), min(stop - first, len(lines)))
    return b"".join(lines[i] + (b"\n" if i < last else b"") for i in picked)


def _digest(meta: dict[str, Any], *arrays: np.ndarray, extra: dict[str, bytes] | None = None) -> str:
    """sha256 over the metadata (sorted JSON-ish repr), the arrays' little-endian bytes, then
    each side-data entry (tag, u64 length, bytes) in tag order."""
    h = hashlib.sha256(repr(sorted(meta.items())).encode())
    for a in arrays:
        h.update(str(a.dtype.newbyteorder("<")).encode())
        h.update(np.ascontiguousarray(a, a.dtype.newbyteorder("<")))  # the buffer: no copy
    side_records(h, extra)
    return h.hexdigest()


def side_records(h, extra: dict[str, bytes] | None) -> None:
    """Each side-data entry into hash ``h``: tag, u64 length, bytes, in tag order."""
    for tag in sorted(extra or {}):
        h.update(tag.encode("ascii") + len(extra[tag]).to_bytes(8, "little") + extra[tag])


def _whole(meta: dict[str, Any], key: str, lo: int, hi: int = 1 << 62) -> int:
    value = meta.get(key)
    if type(value) is not int or not lo <= value <= hi:  # noqa: E721 - bool is not a size
        raise CorruptStreamError(f"header field {key}={value!r} is not an integer in {lo}..{hi}")
    return value


def _named(meta: dict[str, Any], key: str, table: dict[str, Any] | None) -> str:
    value = meta.get(key)
    if not isinstance(value, str) or (table is not None and value not in table):
        raise CorruptStreamError(f"header field {key}={value!r} is not a known name")
    return value


def check_meta(modality: str, meta: Any, streamed: bool = False) -> int:
    """The header's ``meta`` checked against what every item of ``modality`` records (types,
    ranges, known names) and against the size caps (``limits``), before any decoder reads it;
    returns the size in bytes of the item it describes, what a decoder must allocate at least.
    ``streamed``: a video decoded a frame at a time (``api.decode_file``), whose frames are
    capped one by one, not all together.  Codecs may add fields of their own."""
    if not isinstance(meta, dict):
        raise CorruptStreamError("header meta is not an object")
    if modality == "image":
        channels, dtype = IMAGE_MODES[_named(meta, "mode", IMAGE_MODES)]
        w, h = _whole(meta, "width", 1), _whole(meta, "height", 1)
        limits.check_pixels(w, h)
        return w * h * channels * np.dtype(dtype).itemsize
    if modality == "audio":
        _whole(meta, "sample_rate", 1, (1 << 31) - 1)
        itemsize = np.dtype(AUDIO_SUBTYPES.get(_named(meta, "subtype", None), "int16")).itemsize
        frames, channels = _whole(meta, "frames", 0), _whole(meta, "channels", 1, 256)
        limits.check_samples(frames, channels)
        return frames * channels * itemsize
    if modality == "video":
        fps = meta.get("fps")
        if not (isinstance(fps, list) and len(fps) == 2 and all(type(v) is int and v > 0 for v in fps)):  # noqa: E721
            raise CorruptStreamError(f"header field fps={fps!r} is not two positive integers")
        pix_fmt = _named(meta, "pix_fmt", PIX_FMTS)
        w, h, t = _whole(meta, "width", 1), _whole(meta, "height", 1), _whole(meta, "frames", 0, limits.MAX_FRAMES)
        limits.check_video(w, h, 1 if streamed else t)
        ch, cw = chroma_shape(pix_fmt, h, w)
        return t * (h * w + 2 * ch * cw) * np.dtype(PIX_FMTS[pix_fmt][2]).itemsize
    if "size" not in meta:
        return 0  # store: the payload is the content
    limits.check_bytes(size := _whole(meta, "size", 0))
    return size
