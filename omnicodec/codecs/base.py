"""The Codec contract, and the typed items codecs take and return.

Contract
--------
A codec turns one *item* of its modality into named payload *sections* and back.

* ``encode(item) -> dict[str, bytes]``: section tags are four ASCII characters (``"DATA"``,
  ``"ALFA"``...).  The codec never writes the container; ``omnicodec.container`` frames the
  sections, the codec id, the config and the item's metadata.
* ``decode(sections, meta) -> item``: ``meta`` is what ``item.meta()`` returned at encode time
  (sizes, rates, modes).  Decoders check those sizes against the caps in :mod:`omnicodec.limits`
  *before* allocating, and raise :class:`CorruptStreamError` when the payload disagrees with it.
  A lossless codec returns an item equal to the input (the container verifies a digest).
* Config is the codec's public dataclass fields: JSON values only, round-tripped by
  ``get_config()`` / ``from_config()``; everything a decoder needs that is not in the sections is
  in the config.  ``from_quality(q)`` maps the shared 0..100 quality scale (higher is better, like
  cjpeg/cwebp) to a config; lossless codecs ignore it.
* Side data (``item.extra``: ICC profiles, PNG chunks, the WAV file around its samples) is not
  the codec's business: the container stores it in lower-case-tagged sections and hands it back.
  Codec section tags start with an upper-case letter.
* Class attributes declare ``codec_id`` (the registry key), ``modality``, ``lossless`` and
  ``requires`` (importable module names; a missing one raises :class:`MissingDependencyError`
  naming ``extra``).  ``supports(item)`` returns ``None`` or a one-line reason.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from .. import limits
from ..errors import CorruptStreamError, MissingDependencyError, UnsupportedInputError

MODALITIES = ("image", "audio", "video", "bytes")


# --------------------------------------------------------------------------------------- items
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
        return hashlib.sha256(self.data).hexdigest()


Item = Image | Audio | Video | Bytes


def select_lines(text: bytes, first: int, start: int, stop: int) -> bytes:
    """Lines ``start`` (inclusive) to ``stop`` (exclusive) of ``text``, whose first line is
    line number ``first``, each with the newline it had (the last line may have none)."""
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
        h.update(np.ascontiguousarray(a, a.dtype.newbyteorder("<")).tobytes())
    for tag in sorted(extra or {}):
        h.update(tag.encode("ascii") + len(extra[tag]).to_bytes(8, "little") + extra[tag])
    return h.hexdigest()


# --------------------------------------------------------------------------------------- codec
@dataclass
class Codec:
    """Base class: subclasses are dataclasses whose fields are the config."""

    codec_id: ClassVar[str] = ""
    modality: ClassVar[str] = ""
    lossless: ClassVar[bool] = False
    requires: ClassVar[tuple[str, ...]] = ()
    extra: ClassVar[str] = ""  # the pip extra that provides ``requires``
    description: ClassVar[str] = ""
    verbatim: ClassVar[bool] = False  # the payload is the content (no digest: its CRC covers it)

    # ---- config
    def get_config(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Codec:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(config) - names
        if unknown:
            raise CorruptStreamError(f"{cls.codec_id}: unknown config keys {sorted(unknown)}")
        try:
            return cls(**config)
        except (TypeError, ValueError) as exc:
            raise CorruptStreamError(f"{cls.codec_id}: bad config: {exc}") from None

    @classmethod
    def from_quality(cls, quality: float | None) -> Codec:
        """A codec configured for ``quality`` on the shared 0..100 scale (None: defaults)."""
        return cls()

    # ---- capability
    @classmethod
    def missing(cls) -> list[str]:
        """Required modules that are not importable here."""
        return [m for m in cls.requires if importlib.util.find_spec(m) is None]

    @classmethod
    def available(cls) -> bool:
        return not cls.missing()

    @classmethod
    def check_available(cls) -> None:
        missing = cls.missing()
        if missing:
            hint = f"pip install 'omnicodec[{cls.extra}]'" if cls.extra else "install them"
            raise MissingDependencyError(
                f"codec {cls.codec_id!r} needs {', '.join(missing)}: {hint}")

    def supports(self, item: Item) -> str | None:
        """None if this codec can encode ``item``, else a one-line reason."""
        if item.modality != self.modality:
            return f"{self.codec_id} encodes {self.modality}, not {item.modality}"
        return None

    def suits(self, item: Item) -> bool:
        """Whether this codec is a sensible *default* for ``item`` (e.g. logzip for text);
        a codec asked for by name only needs ``supports``."""
        return True

    def check_supports(self, item: Item) -> None:
        reason = self.supports(item)
        if reason:
            raise UnsupportedInputError(reason)

    # ---- work
    def encode(self, item: Item) -> dict[str, bytes]:
        raise NotImplementedError

    def decode(self, sections: dict[str, bytes], meta: dict[str, Any]) -> Item:
        raise NotImplementedError


@dataclass
class LossyCodec(Codec):
    """A lossy codec whose config carries the shared 0..100 quality (higher is better)."""

    quality: float = 75.0

    @classmethod
    def from_quality(cls, quality):
        return cls() if quality is None else cls(quality=quality_to_range(quality, 0, 100))


def quality_to_range(quality: float, lo: float, hi: float) -> float:
    """Linear map of the shared 0..100 quality scale onto [lo, hi] (lo at 0, hi at 100)."""
    if not 0 <= quality <= 100:
        raise UnsupportedInputError(f"quality must be between 0 and 100, got {quality}")
    return lo + (hi - lo) * quality / 100.0


def section(sections: dict[str, bytes], tag: str, codec_id: str) -> bytes:
    try:
        return sections[tag]
    except KeyError:
        raise CorruptStreamError(f"{codec_id}: missing section {tag!r}") from None


def check_image_meta(meta: dict[str, Any]) -> tuple[int, int]:
    w, h = int(meta["width"]), int(meta["height"])
    limits.check_pixels(w, h)
    return w, h

