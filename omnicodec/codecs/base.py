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
* Class attributes declare ``codec_id`` (the registry key), ``modality``, ``lossless`` and
  ``requires`` (importable module names; a missing one raises :class:`MissingDependencyError`
  naming ``extra``).  ``supports(item)`` returns ``None`` or a one-line reason.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from .. import limits
from ..errors import CorruptStreamError, MissingDependencyError, UnsupportedInputError

MODALITIES = ("image", "audio", "video", "bytes")


# --------------------------------------------------------------------------------------- items
@dataclass
class Image:
    """Pixels as a (H, W, C) array; ``mode`` is Pillow's name (L, LA, RGB, RGBA, I;16)."""

    pixels: np.ndarray
    mode: str
    modality: ClassVar[str] = "image"

    def meta(self) -> dict[str, Any]:
        h, w = self.pixels.shape[:2]
        return {"width": int(w), "height": int(h), "mode": self.mode}

    def digest(self) -> str:
        return _digest(self.meta(), self.pixels)


@dataclass
class Audio:
    """Samples as (frames, channels); ``subtype`` is libsndfile's (PCM_16, PCM_24, FLOAT...)."""

    samples: np.ndarray
    sample_rate: int
    subtype: str = "PCM_16"
    modality: ClassVar[str] = "audio"

    def meta(self) -> dict[str, Any]:
        frames, channels = self.samples.shape
        return {"sample_rate": int(self.sample_rate), "channels": int(channels),
                "frames": int(frames), "subtype": self.subtype}

    def digest(self) -> str:
        return _digest(self.meta(), self.samples)


@dataclass
class Video:
    """Planar 8-bit YUV frames: ``planes`` = (Y, U, V), each (frames, h, w) uint8.

    ``pix_fmt`` is FFmpeg's name (yuv420p or yuv444p); ``fps`` a (num, den) pair.
    """

    planes: tuple[np.ndarray, np.ndarray, np.ndarray]
    fps: tuple[int, int]
    pix_fmt: str = "yuv420p"
    modality: ClassVar[str] = "video"

    def meta(self) -> dict[str, Any]:
        frames, h, w = self.planes[0].shape
        return {"width": int(w), "height": int(h), "frames": int(frames),
                "fps": [int(self.fps[0]), int(self.fps[1])], "pix_fmt": self.pix_fmt}

    def digest(self) -> str:
        return _digest(self.meta(), *self.planes)


@dataclass
class Bytes:
    """Any byte string (logs, documents, archives)."""

    data: bytes
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


def _digest(meta: dict[str, Any], *arrays: np.ndarray) -> str:
    """sha256 over the metadata (sorted JSON-ish repr) and the arrays' little-endian bytes."""
    h = hashlib.sha256(repr(sorted(meta.items())).encode())
    for a in arrays:
        h.update(str(a.dtype.newbyteorder("<")).encode())
        h.update(np.ascontiguousarray(a, a.dtype.newbyteorder("<")).tobytes())
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

