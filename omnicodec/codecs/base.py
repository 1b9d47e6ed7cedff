"""The Codec contract (the items it takes and returns are in :mod:`omnicodec.items`).

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
* *Settings* are dataclass fields marked ``metadata={"setting": True}``: how to run (worker
  processes), never what is written, so they are not config, are not stored, and do not take
  part in equality.

Streaming codecs
----------------
A :class:`StreamingCodec` is a bytes codec that also works on files too big for memory.  It
declares one ``stream_section`` (the big one) and adds:

* ``encode_to(src, spool, progress=None) -> Streamed``: read ``src`` (``src.read(n)``) to its
  end, write the stream section's payload to ``spool`` (``spool.write(b)``), and return the
  other (small) sections, written before the stream section, and the ``meta`` the decoder
  gets: the same as ``Bytes(data).meta()`` would be, so that ``encode(item)`` and a file
  encode write the same stream.  ``progress(n)`` is told of ``n`` more input bytes done.
* ``iter_decode(sections, meta)``: the content in order, one bounded chunk at a time.  The
  section values may be lazy (read from the file on demand): all a streaming codec asks of one
  is ``len(s)`` and slices ``s[a:b]``, which are bytes.
* ``decode_lines(sections, meta, start, stop)``: lines ``start`` to ``stop`` (0-based,
  half-open), each with its newline; by default read from ``iter_decode`` up to ``stop``; a
  codec with an index overrides it to decode only what holds them.
* ``workers``: a setting; how many processes encode (None: every core).  The stream is the
  same whatever it is.

``encode`` and ``decode`` are derived from those.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import re
import types
import typing
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, BinaryIO, Callable, ClassVar, Iterator

from .. import limits
from ..errors import CorruptStreamError, MissingDependencyError, UnsupportedInputError
from ..items import Bytes, Item, select_lines


# --------------------------------------------------------------------------------------- codec
def option(default: Any, lo: float | None = None, hi: float | None = None, choices: tuple = (),
           **metadata: Any) -> Any:
    """A config field with the values a user may give it (checked by ``check_options``)."""
    if lo is not None or hi is not None:
        metadata["range"] = (lo, hi)
    if choices:
        metadata["choices"] = tuple(choices)
    return field(default=default, metadata=metadata)


@lru_cache(maxsize=None)
def _option_kinds(cls: type) -> dict[str, tuple]:
    """Each field of a codec class -> the types its annotation allows (``int | None``: both),
    resolved once per class."""
    hints = typing.get_type_hints(cls)
    return {f.name: typing.get_args(hints[f.name]) if isinstance(hints[f.name], types.UnionType) else (hints[f.name],)
            for f in dataclasses.fields(cls)}


def _fits(value: Any, kind: Any) -> bool:
    if kind is type(None):
        return value is None
    if kind is float:
        return type(value) in (int, float)
    return type(value) is kind


def _kind_name(kind: Any) -> str:
    return {type(None): "none", bool: "true/false", int: "an integer", float: "a number", str: "text"}.get(
        kind, getattr(kind, "__name__", str(kind)))


def _parse(text: str, kinds: tuple) -> Any:
    """``text`` as the first of ``kinds`` it reads as (left as text when none does: the check
    that follows then names the type expected)."""
    for kind in kinds:
        if kind is type(None) and text.lower() in ("none", "null", ""):
            return None
        if kind is bool and text.lower() in ("true", "yes", "on", "1", "false", "no", "off", "0"):
            return text.lower() in ("true", "yes", "on", "1")
        if kind in (int, float):
            try:
                return kind(text)
            except ValueError:
                continue
        if kind is str:
            return text
    return text


@dataclass
class Codec:
    """Base class: subclasses are dataclasses whose fields are the config."""

    codec_id: ClassVar[str] = ""
    modality: ClassVar[str] = ""
    also: ClassVar[tuple[str, ...]] = ()  # further modalities it encodes (headers then name theirs)
    lossless: ClassVar[bool] = False
    requires: ClassVar[tuple[str, ...]] = ()
    extra: ClassVar[str] = ""  # the pip extra that provides ``requires``
    description: ClassVar[str] = ""
    verbatim: ClassVar[bool] = False  # the payload is the content (no digest: its CRC covers it)
    # stores the item uncompressed (wav): the default encode compares it with the file's bytes
    # through the bytes codecs and keeps the smaller
    uncompressed: ClassVar[bool] = False
    # restores damaged payload sections (``decode_repair``) when a decode asks for it (vq)
    repairable: ClassVar[bool] = False
    # its encoder's bytes depend on the CPU (a library's run-time SIMD dispatch): the same on
    # one machine, not between machines; decoding is unaffected
    cpu_dependent_encode: ClassVar[bool] = False
    # extensions of the standard files its DATA section gives (``standard_file``): what
    # ``codec encode/decode -o NAME.EXT`` writes instead of an .omc or a re-encode
    standard: ClassVar[tuple[str, ...]] = ()
    # fields added after streams were written, with a new default: the value a config without
    # the key means (what those streams were written with); left out of a config that has it
    before: ClassVar[dict[str, Any]] = {}

    # ---- config
    def get_config(self) -> dict[str, Any]:
        """The config written to the header.  A field added to a codec after streams were
        written is declared with ``metadata={"omit_default": True}`` and written only when it
        departs from its default, so the encoder keeps writing the old bytes by default; or,
        where new streams should take a new default, named in ``before`` with the value old
        streams mean (``from_config`` fills it in), and written only when it departs from that."""
        settings = self.setting_names()
        omit = {f.name for f in dataclasses.fields(self)
                if f.metadata.get("omit_default") and getattr(self, f.name) == f.default}
        return {k: v for k, v in dataclasses.asdict(self).items()
                if k not in settings | omit and self.before.get(k, ...) != v}

    @classmethod
    def setting_names(cls) -> set[str]:
        """The fields that are settings (how to run), not config (what is written)."""
        return {f.name for f in dataclasses.fields(cls) if f.metadata.get("setting")}

    @classmethod
    def check_options(cls, values: dict[str, Any]) -> None:
        """Config fields and settings as a user passes them (``get_codec(id, level=3)``,
        ``-O level=3``): each must be a field of the codec, of its type (an int does for a
        float) and within the range or choices its :func:`option` declares; else one
        UnsupportedInputError line naming what the codec takes."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        for name, value in values.items():
            f = fields.get(name)
            if f is None:
                raise UnsupportedInputError(f"{cls.codec_id} has no option {name!r} (its options: "
                                            f"{', '.join(sorted(fields)) or 'none'})")
            kinds = _option_kinds(cls)[name]
            if not any(_fits(value, kind) for kind in kinds):
                raise UnsupportedInputError(f"{cls.codec_id} option {name}: expected "
                                            f"{' or '.join(_kind_name(k) for k in kinds)}, got {value!r}")
            lo, hi = f.metadata.get("range", (None, None))
            if value is not None and ((lo is not None and value < lo) or (hi is not None and value > hi)):
                raise UnsupportedInputError(f"{cls.codec_id} option {name}: {value!r} is outside {lo}..{hi}")
            choices = f.metadata.get("choices")
            if choices and value not in choices:
                raise UnsupportedInputError(f"{cls.codec_id} option {name}: {value!r} is not one of "
                                            f"{', '.join(map(str, choices))}")

    @classmethod
    def option_help(cls) -> list[str]:
        """Each option as ``name=default`` with the values it takes, e.g. ``level=19 (-131072..22)``."""
        out = []
        for f in dataclasses.fields(cls):
            lo, hi = f.metadata.get("range", (None, None))
            kinds = _option_kinds(cls)[f.name]
            values = ("|".join(map(str, f.metadata["choices"])) if f.metadata.get("choices")
                      else f"{lo}..{hi}" if lo is not None or hi is not None
                      else " or ".join(_kind_name(k) for k in kinds))
            default = f.default if f.default is not dataclasses.MISSING else "-"
            out.append(f"{f.name}={str(default).lower() if isinstance(default, bool) else default} ({values})")
        return out

    @classmethod
    def parse_options(cls, pairs: list[str]) -> dict[str, Any]:
        """``["level=3", "long=false"]`` -> ``{"level": 3, "long": False}``, each value read as
        its field's type (booleans as true/false, yes/no, 1/0) and then checked."""
        fields = {f.name for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        for pair in pairs:
            name, sep, text = pair.partition("=")
            name = name.strip().replace("-", "_")
            if not sep or not name:
                raise UnsupportedInputError(f"expected an option as NAME=VALUE, got {pair!r}")
            if name not in fields:
                cls.check_options({name: text})  # names what the codec takes
            values[name] = _parse(text.strip(), _option_kinds(cls)[name])
        cls.check_options(values)
        return values

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Codec:
        names = {f.name for f in dataclasses.fields(cls)} - cls.setting_names()
        unknown = set(config) - names
        if unknown:
            raise CorruptStreamError(f"{cls.codec_id}: unknown config keys {sorted(unknown)}")
        try:
            return cls(**{**cls.before, **config})
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

    @classmethod
    def modalities(cls) -> tuple[str, ...]:
        return (cls.modality, *cls.also)

    def for_item(self, item: Item) -> Codec:
        """This codec configured for ``item``, before its config is fixed: a codec of several
        modalities picks the model of the item's (the default is the codec itself)."""
        return self

    def effective(self) -> dict[str, Any]:
        """The settings the encoder was given that the config does not show as such (the CRF a
        video codec's quality maps to, a compression level); ``codec info`` shows them."""
        return {}

    def encoder_version(self) -> str:
        """The library that writes this codec's payload and its version ("libwebp 1.6.0"), for
        the header's ``encoder`` (provenance; ``codec info`` shows it); "" where not known.
        Called after an encode (some encoders name their version only in their output)."""
        return ""

    def standard_file(self, data: bytes, ext: str, meta: dict[str, Any]) -> bytes | None:
        """The DATA section of a stream as the standard file of extension ``ext`` (one of
        ``standard``): the section itself unless a codec knows better (a container rebuilt);
        None where DATA is not the item (the decoded item is written in the format then)."""
        return data

    def supports(self, item: Item) -> str | None:
        """None if this codec can encode ``item``, else a one-line reason."""
        if item.modality not in self.modalities():
            return f"{self.codec_id} encodes {' or '.join(self.modalities())}, not {item.modality}"
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
    # ---- memory
    decode_copies: ClassVar[float] = 2.0  # the decoded item and one working copy of it
    decode_slack: ClassVar[int] = 16 << 20  # a decoder library's own buffers and tables

    def decode_memory(self, meta: dict[str, Any], item_bytes: int) -> int:
        """Bytes a decode of ``meta``'s item allocates at most, for ``limits.MAX_MEMORY``, the
        payload aside: ``item_bytes`` (the item's own size) times ``decode_copies``, plus
        ``decode_slack``, unless overridden (tests/api/test_memory.py measures them)."""
        return int(item_bytes * self.decode_copies) + self.decode_slack

    def encode(self, item: Item) -> dict[str, bytes]:
        raise NotImplementedError

    def decode(self, sections: dict[str, bytes], meta: dict[str, Any]) -> Item:
        raise NotImplementedError


@dataclass(frozen=True)
class Streamed:
    """What :meth:`StreamingCodec.encode_to` returns: the sections other than the stream
    section (written before it, in this order) and the decoder's ``meta``."""

    sections: dict[str, bytes]
    meta: dict[str, Any]


def setting(default: Any) -> Any:
    """A dataclass field that is a setting: keyword-only, not stored, not compared."""
    return field(default=default, kw_only=True, compare=False, metadata={"setting": True})


@dataclass
class StreamingCodec(Codec):
    """A bytes codec that encodes from a file into a spool and decodes chunk by chunk (see
    "Streaming codecs" above)."""

    modality: ClassVar[str] = "bytes"
    stream_section: ClassVar[str] = ""
    workers: int | None = setting(None)

    def __post_init__(self) -> None:
        if self.workers is not None and (type(self.workers) is not int or self.workers < 1):
            raise ValueError(f"workers must be a positive integer or None, got {self.workers!r}")

    def encode_to(self, src: BinaryIO, spool: BinaryIO,
                  progress: Callable[[int], None] | None = None) -> Streamed:
        raise NotImplementedError

    def iter_decode(self, sections: dict[str, Any], meta: dict[str, Any]) -> Iterator[bytes]:
        raise NotImplementedError

    def iter_blocks(self, sections: dict[str, Any], meta: dict[str, Any], start: int = 0,
                    stop: int | None = None, keep=None) -> Iterator[tuple[int, bytes]]:
        """(number of its first line, text of whole lines) covering lines ``start`` to ``stop``
        (texts wholly before ``start`` are left out; decoding ends at ``stop``); the last text
        may end without a newline.  ``keep`` (a filter on a block's template dictionary) is for
        codecs that have one; here every block is decoded."""
        line, carry = 0, b""  # line: the number of the line ``carry`` starts
        for chunk in self.iter_decode(sections, meta):
            text = carry + chunk
            cut = text.rfind(b"\n") + 1
            newlines = text.count(b"\n", 0, cut)
            if cut and line + newlines > start:
                yield line, text[:cut]
            line, carry = line + newlines, text[cut:]
            if stop is not None and line >= stop:
                return
        if carry and line >= start:
            yield line, carry

    def decode_lines(self, sections: dict[str, Any], meta: dict[str, Any], start: int,
                     stop: int) -> bytes:
        """Lines ``start`` (inclusive) to ``stop`` (exclusive), 0-based, each with its newline,
        from the texts ``iter_blocks`` gives for them."""
        check_line_range(start, stop)
        return b"".join(select_lines(text, first, start, stop)
                        for first, text in self.iter_blocks(sections, meta, start, stop))

    def encode(self, item: Item) -> dict[str, bytes]:
        import io

        self.check_supports(item)
        spool = io.BytesIO()
        streamed = self.encode_to(io.BytesIO(item.data), spool)
        if streamed.meta != item.meta():  # the bytes API stores item.meta(), the file layer this
            raise AssertionError(f"{self.codec_id}: encode_to's meta {streamed.meta} is not the item's")
        return {**streamed.sections, self.stream_section: spool.getvalue()}

    def decode(self, sections: dict[str, Any], meta: dict[str, Any]) -> Bytes:
        return Bytes(b"".join(self.iter_decode(sections, meta)))


def check_line_range(start: int, stop: int) -> None:
    if start < 0 or stop < start:
        raise ValueError(f"bad line range {start}:{stop}")


@dataclass
class LossyCodec(Codec):
    """A lossy codec whose config carries the shared 0..100 quality (higher is better)."""

    quality: float = option(75.0, 0, 100)

    @classmethod
    def from_quality(cls, quality):
        return cls() if quality is None else cls(quality=quality_to_range(quality, 0, 100))

    def supports(self, item: Item) -> str | None:
        reason = super().supports(item)
        if (reason is None and item.modality == "audio" and item.frames.dtype.kind == "f"
                and not math.isfinite(item.peak())):  # (integer samples always are)
            return (f"{self.codec_id}: the sound has NaN or infinite samples, which a lossy codec cannot keep "
                    "(wav stores them)")
        return reason


def quality_to_range(quality: float, lo: float, hi: float) -> float:
    """Linear map of the shared 0..100 quality scale onto [lo, hi] (lo at 0, hi at 100).

    >>> quality_to_range(75, 51, 0)  # x264's CRF for quality 75
    12.75
    """
    if not 0 <= quality <= 100:
        raise UnsupportedInputError(f"quality must be between 0 and 100, got {quality}")
    return lo + (hi - lo) * quality / 100.0


def undecodable(codec_id: str, exc: BaseException) -> CorruptStreamError:
    """A decoder library's failure as our error, its message without the in-memory file it was
    given (``<_io.BytesIO object at 0x...>``, FFmpeg's ``'<none>'``) or an errno prefix."""
    text = re.sub(r"\[Errno -?\d+\] |:? ?'?<(_io\.BytesIO object at 0x[0-9a-f]+|none)>'?", "", str(exc))
    return CorruptStreamError(f"{codec_id}: payload does not decode: {text.strip() or type(exc).__name__}")


def section(sections: dict[str, bytes], tag: str, codec_id: str) -> bytes:
    try:
        return sections[tag]
    except KeyError:
        raise CorruptStreamError(f"{codec_id}: missing section {tag!r}") from None


def check_image_meta(meta: dict[str, Any]) -> tuple[int, int]:
    w, h = int(meta["width"]), int(meta["height"])
    limits.check_pixels(w, h)
    return w, h

