"""The .omc container: the only module that knows the byte layout (docs/format.md).

Version 3 (written), all fixed integers little-endian, ``uvar`` = unsigned LEB128 (at most 10
bytes, minimal form)::

    offset  size  field
    0       8     magic            89 4F 4D 43 0D 0A 1A 0A   ("\\x89OMC\\r\\n\\x1a\\n")
    8       2     format_version   u16, 3
    10      2     flags            u16, must be 0
    12      uvar  section_count    S
            uvar  header_length    N (at most limits.MAX_HEADER_BYTES)
            N     header           one packed value, an object (see Header and _pack_value);
                                   empty fields are left out
            4     header_crc32     CRC-32 (zlib) of every byte before it
    then S sections, each:
            4     tag              4 ASCII bytes: upper-case first letter = codec payload
                                   ("DATA"), lower-case = item side data ("pngc", "wave")
            uvar  length           L
            L     payload
            4     crc32            CRC-32 of tag + length + payload

Version 2 (read forever) is the same with a UTF-8 JSON header and no ``encoder``; version 1
(read forever) has u32 header_length and u32 section_count at offsets 12 and 16, u64 section
lengths, a JSON header with every key present.  The packed header is JSON's value model in
bytes, with the names every header repeats (keys, codec ids, modes) as one byte from a frozen
table and hex digests as raw bytes: a tiny video costs about 60 bytes of container in version 3
(190 in version 2, 300 in version 1).

The header holds ``codec`` (id string), ``config`` (the codec's JSON config), ``modality``
(left out when the codec implies it), ``meta`` (sizes, rates, modes: what the codec's decoder is
given), ``source`` (original file ``name``, only when the .omc's own name does not imply it),
``digest`` (sha256 of the decoded item: every lossless codec but ``store``, whose payload is the
content and is covered by its section CRC) and ``encoder`` (the library that wrote the payload
and its version, where known).  The header is checked against that schema here,
once, before any codec sees it.  A reader rejects a version it does not know, a wrong checksum,
a truncated section, a section longer than the file or than ``limits.MAX_SECTION_BYTES``, and
trailing bytes.  :func:`open_sections` checks all of that but the payload CRCs from the header
and the section framing alone, and reads a payload only when it is asked for (a slice of it,
or all of it with its CRC): a line range of a big log reads a few blocks, not the file.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Iterator

from . import limits
from .errors import CorruptStreamError, TruncatedStreamError, UnsupportedInputError

MAGIC = b"\x89OMC\r\n\x1a\n"
FORMAT_VERSION = 3  # what this version writes
READ_VERSIONS = (1, 2, 3)
MODALITIES = ("image", "audio", "video", "bytes")
_PREFIX = struct.Struct("<8sHH")  # magic, version, flags
_V1_COUNTS = struct.Struct("<II")  # header_length, section_count
_V1_SECTION = struct.Struct("<4sQ")
_CRC = struct.Struct("<I")
_CODEC_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_DIGEST = re.compile(r"[0-9a-f]{64}")
_HEX = re.compile(r"(?:[0-9a-f]{2})+")
KEYS = ("codec", "modality", "config", "meta", "source", "digest")
KEYS_V3 = KEYS + ("encoder",)

# The strings a version-3 header writes as one byte (0x10 + index).  Frozen with the version:
# a string added here would make today's readers misread tomorrow's files, so a longer table is
# a new format version.
STRINGS = (
    # header keys, modalities
    "codec", "modality", "config", "meta", "source", "digest", "encoder", "name",
    "image", "audio", "video", "bytes",
    # codec ids
    "png", "webp", "webp-lossless", "jpeg", "jpeg444", "avif", "flac", "wav", "opus", "vorbis",
    "mp3", "ffv1", "x264", "x265", "svtav1", "gzip", "bz2", "xz", "zstd", "logzip", "jxl-jpeg",
    "store", "image-zstd", "hyperprior", "walloc",
    # meta keys and values
    "width", "height", "mode", "sample_rate", "channels", "frames", "subtype", "flat", "fps",
    "pix_fmt", "size",
    "L", "LA", "RGB", "RGBA", "I;16", "LA;16", "RGB;16", "RGBA;16", "F", "LA;F", "RGB;F",
    "RGBA;F", "CMYK", "P",
    "PCM_16", "PCM_24", "PCM_32", "PCM_S8", "PCM_U8", "FLOAT", "DOUBLE",
    "yuv420p", "yuv422p", "yuv444p", "yuv420p10le", "yuv422p10le", "yuv444p10le", "yuv420p12le",
    "yuv422p12le", "yuv444p12le", "yuv420p16le", "yuv422p16le", "yuv444p16le",
    # config keys and values
    "quality", "level", "compress_level", "method", "effort", "speed", "bitrate", "preset",
    "stream", "extreme", "long", "workers", "block_mb", "coder", "lanes", "weights",
    "tile_height", "tile_width", "kind", "ans", "range", "mkv", "elementary",
    "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower",
    "veryslow", "placebo", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13",
)
_STRING_INDEX = {s: i for i, s in enumerate(STRINGS)}


@dataclass
class Header:
    """What the container says about its payload (``modality`` "" = implied by the codec)."""

    codec: str
    modality: str
    config: dict[str, Any]
    meta: dict[str, Any]
    source: dict[str, str] = field(default_factory=dict)
    digest: str | None = None
    format_version: int = FORMAT_VERSION

    encoder: str = ""  # the library and version that wrote the payload ("x264 164"), if known

    def to_json(self) -> dict[str, Any]:
        return {"codec": self.codec, "modality": self.modality, "config": self.config,
                "meta": self.meta, "source": self.source, "digest": self.digest,
                "encoder": self.encoder}


@dataclass
class Container:
    header: Header
    sections: dict[str, bytes]
    damaged: list[str] = field(default_factory=list)  # tags left out by ``load(repair=True)``


def pack(header: Header, sections: dict[str, bytes]) -> bytes:
    """Serialize a header and its sections (in the dict's order) to bytes."""
    out = io.BytesIO()
    write(out, header, sections)
    return out.getvalue()


def uvar(n: int) -> bytes:
    """Unsigned LEB128."""
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


# ---- the version-3 header: one packed value (docs/format.md "The packed header")
# lead byte: 0 null, 1 false, 2 true, 3 uvar n -> int n, 4 uvar n -> int -1-n, 5 float64 LE,
# 6 uvar n -> float n, 7 uvar n -> float -n, 8 uvar L + L bytes of UTF-8, 9 uvar L + L bytes ->
# their lower-case hex, 10 uvar n + n values (array), 11 uvar n + n key/value pairs (object, keys
# strings), 12-15 not defined, 16-255 string STRINGS[lead - 16]
_MAX_DEPTH = 32
_FLOAT = struct.Struct("<d")


def _pack_value(v: Any, out: bytearray) -> None:
    if v is None or isinstance(v, bool):
        out.append({None: 0, False: 1, True: 2}[v])
    elif isinstance(v, int):
        if v >= 1 << 70 or v < -(1 << 70):
            raise UnsupportedInputError(f"header integer {v} is too large")
        out += bytes([3]) + uvar(v) if v >= 0 else bytes([4]) + uvar(-1 - v)
    elif isinstance(v, float):
        if v != v or v in (float("inf"), float("-inf")):
            raise UnsupportedInputError("NaN and infinity are not allowed in a header")
        if v.is_integer() and abs(v) < 1 << 53 and math.copysign(1, v) > 0:
            out += bytes([6]) + uvar(int(v))
        elif v.is_integer() and -(1 << 53) < v < 0:
            out += bytes([7]) + uvar(int(-v))
        else:  # fractions, -0.0, and integers a float64 cannot hold exactly
            out += bytes([5]) + _FLOAT.pack(v)
    elif isinstance(v, str):
        if v in _STRING_INDEX:
            out.append(16 + _STRING_INDEX[v])
        elif _HEX.fullmatch(v):
            out += bytes([9]) + uvar(len(v) // 2) + bytes.fromhex(v)
        else:
            raw = v.encode("utf-8")
            out += bytes([8]) + uvar(len(raw)) + raw
    elif isinstance(v, (list, tuple)):
        out += bytes([10]) + uvar(len(v))
        for x in v:
            _pack_value(x, out)
    elif isinstance(v, dict):
        out += bytes([11]) + uvar(len(v))
        for k in sorted(v):
            if not isinstance(k, str):
                raise UnsupportedInputError(f"header key {k!r} is not a string")
            _pack_value(k, out)
            _pack_value(v[k], out)
    else:
        raise UnsupportedInputError(f"a {type(v).__name__} cannot go into a header")


def _unpack_header(body: bytes) -> Any:
    """The value a packed header holds; CorruptStreamError on anything malformed."""
    r = _Reader(io.BytesIO(body))

    def value(depth: int) -> Any:
        if depth > _MAX_DEPTH:
            raise CorruptStreamError(f"header nests deeper than {_MAX_DEPTH}")
        lead = r.read(1, "header")[0]
        if lead >= 16:
            if lead - 16 >= len(STRINGS):
                raise CorruptStreamError(f"header names string {lead - 16}, which is not defined")
            return STRINGS[lead - 16]
        if lead < 3:
            return (None, False, True)[lead]
        if lead == 5:
            v = _FLOAT.unpack(r.read(8, "header"))[0]
            if v != v or v in (float("inf"), float("-inf")):
                raise CorruptStreamError("header holds NaN or infinity")
            return v
        if lead > 11:
            raise CorruptStreamError(f"header value type {lead} is not defined")
        n = r.uvar("header")
        if lead in (3, 4):
            return n if lead == 3 else -1 - n
        if lead in (6, 7):
            return float(n) if lead == 6 else -float(n)
        if n > len(body):  # every byte or value takes at least one byte
            raise CorruptStreamError("header count exceeds the header")
        if lead == 8:
            try:
                return r.read(n, "header").decode("utf-8")
            except UnicodeDecodeError:
                raise CorruptStreamError("header string is not UTF-8") from None
        if lead == 9:
            return r.read(n, "header").hex()
        if lead == 10:
            return [value(depth + 1) for _ in range(n)]
        obj: dict[str, Any] = {}
        for _ in range(n):
            key = value(depth + 1)
            if not isinstance(key, str) or key in obj:
                raise CorruptStreamError("header object key is not a string, or repeats")
            obj[key] = value(depth + 1)
        return obj

    try:
        obj = value(0)
    except TruncatedStreamError:
        raise CorruptStreamError("header ends inside a value") from None
    if len(r.seen) != len(body):
        raise CorruptStreamError("header has bytes after its value")
    return obj


def _packed(header: Header) -> bytes:
    """The version-3 header body: the header's non-empty fields, packed."""
    body = bytearray()
    _pack_value({k: v for k, v in header.to_json().items() if v not in ("", {}, None)}, body)
    return bytes(body)


def write(out: BinaryIO, header: Header, sections: dict[str, bytes | tuple[BinaryIO, int]]) -> None:
    """Write a version-2 container to ``out``.  A section is bytes, or (readable file, length)
    to be copied in chunks, so that large payloads never need to be in memory at once."""
    body = _packed(header)
    if len(body) > limits.MAX_HEADER_BYTES:
        raise UnsupportedInputError(f"container header of {len(body)} bytes is too large")
    head = _PREFIX.pack(MAGIC, FORMAT_VERSION, 0) + uvar(len(sections)) + uvar(len(body)) + body
    out.write(head + _CRC.pack(zlib.crc32(head)))
    for tag, payload in sections.items():
        raw_tag = tag.encode("ascii")
        if len(raw_tag) != 4:
            raise ValueError(f"section tag {tag!r} must be 4 ASCII characters")
        source, length = (io.BytesIO(payload), len(payload)) if isinstance(payload, bytes) else payload
        shead = raw_tag + uvar(length)
        out.write(shead)
        crc, left = zlib.crc32(shead), length
        while left:
            chunk = source.read(min(left, 1 << 22))
            if not chunk:
                raise ValueError(f"section {tag!r} source ended {left} bytes early")
            crc, left = zlib.crc32(chunk, crc), left - len(chunk)
            out.write(chunk)
        out.write(_CRC.pack(crc))


class _Reader:
    """Reads a stream, remembering the bytes for CRCs, with truncation errors."""

    def __init__(self, stream: BinaryIO):
        self.stream, self.seen = stream, bytearray()

    def read(self, n: int, what: str) -> bytes:
        data = self.stream.read(n)
        if len(data) != n:
            raise TruncatedStreamError(f"file ends inside the {what} (truncated)")
        self.seen += data
        return data

    def uvar(self, what: str) -> int:
        value = 0
        for shift in range(0, 70, 7):
            byte = self.read(1, what)[0]
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                if byte == 0 and shift:
                    raise CorruptStreamError(f"{what} is not in minimal form")
                return value
        raise CorruptStreamError(f"{what} is longer than 10 bytes")


def read_header(stream: BinaryIO, size: int) -> tuple[Header, int]:
    """Read and verify the fixed part and the JSON header; returns it and the section count."""
    r = _Reader(stream)
    magic, version, flags = _PREFIX.unpack(r.read(_PREFIX.size, "fixed header"))
    if magic != MAGIC:
        raise CorruptStreamError("not an .omc file (bad magic bytes)")
    if version not in READ_VERSIONS:
        raise UnsupportedInputError(
            f"container format version {version} is not supported by this omnicodec "
            f"(reads versions {', '.join(map(str, READ_VERSIONS))}); upgrade omnicodec")
    if flags:
        raise CorruptStreamError(f"container flags {flags:#x} are not defined in version {version}")
    if version == 1:
        header_length, count = _V1_COUNTS.unpack(r.read(_V1_COUNTS.size, "fixed header"))
    else:
        count = r.uvar("section count")
        header_length = r.uvar("header length")
    if header_length > limits.MAX_HEADER_BYTES or header_length > size - len(r.seen):
        raise (TruncatedStreamError if header_length <= limits.MAX_HEADER_BYTES
               else CorruptStreamError)(f"header length {header_length} exceeds the file")
    if count > size:  # every section takes at least 9 bytes
        raise CorruptStreamError(f"section count {count} exceeds the file")
    body = r.read(header_length, "header")
    (crc,) = _CRC.unpack(_read(stream, 4, "header checksum"))
    if crc != zlib.crc32(bytes(r.seen)):
        raise CorruptStreamError("header checksum mismatch: the file is corrupt")
    return _parse_header(body, version), count


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _parse_header(body: bytes, version: int) -> Header:
    """The header (JSON before version 3, packed since), checked against the schema (the one
    place that does it)."""
    if version >= 3:
        obj = _unpack_header(body)
    else:
        try:
            obj = json.loads(body, parse_constant=_no_constant)
        except (ValueError, RecursionError) as exc:
            raise CorruptStreamError(f"header is not valid JSON: {str(exc)[:80]}") from None
    if not isinstance(obj, dict):
        raise CorruptStreamError("header is not a JSON object")
    codec, modality = obj.get("codec"), obj.get("modality", "")
    config, meta, source = obj.get("config", {}), obj.get("meta", {}), obj.get("source") or {}
    digest, encoder = obj.get("digest"), obj.get("encoder", "")
    problems = [
        not (isinstance(codec, str) and _CODEC_ID.fullmatch(codec)) and "codec",
        not (modality == "" or modality in MODALITIES) and "modality",
        not isinstance(config, dict) and "config",
        not isinstance(meta, dict) and "meta",
        not (isinstance(source, dict) and all(isinstance(v, str) for v in source.values())) and "source",
        not (digest is None or (isinstance(digest, str) and _DIGEST.fullmatch(digest))) and "digest",
        not isinstance(encoder, str) and "encoder",
        bool(set(obj) - set(KEYS_V3 if version >= 3 else KEYS)) and "unknown keys",
    ]
    bad = [p for p in problems if p]
    if bad:
        raise CorruptStreamError(f"header is not valid: bad {', '.join(bad)}")
    return Header(codec=codec, modality=modality, config=config, meta=meta, source=source,
                  digest=digest, format_version=version, encoder=encoder)


def _section_head(stream: BinaryIO, size: int, index: int, version: int) -> tuple[bytes, int, int]:
    """(raw tag, payload length, CRC of the section's header bytes), the length checked against
    the cap and against what is left of the file, before any payload is read."""
    r = _Reader(stream)
    if version == 1:
        raw_tag, length = _V1_SECTION.unpack(r.read(_V1_SECTION.size, f"section {index} header"))
    else:
        raw_tag = r.read(4, f"section {index} header")
        length = r.uvar(f"section {index} length")
    left = size - stream.tell()
    if length > limits.MAX_SECTION_BYTES:
        raise CorruptStreamError(f"section {index} length {length} exceeds the cap")
    if length + 4 > left:
        raise TruncatedStreamError(
            f"section {index} declares {length} bytes but only {max(left - 4, 0)} remain (truncated)")
    return raw_tag, length, zlib.crc32(bytes(r.seen))


class LazySection:
    """One section's payload in an open .omc file, read on demand: ``len(s)``, slices
    ``s[a:b]`` (bytes, read from the file), ``s.read()`` (all of it) and ``s.chunks()``.

    The section's CRC covers the whole payload, so it is checked once reads that went in order
    from offset 0 reach the end (``read()`` and ``chunks()`` always do); other slices are
    not checked here (a codec that reads slices carries its own checks, and lossless items
    their digest).  A file cut short after it was opened reads as TruncatedStreamError."""

    def __init__(self, stream: BinaryIO, index: int, span: tuple[int, int], offset: int,
                 length: int, head_crc: int):
        self._stream, self.index, self.span = stream, index, span
        self.offset, self.length, self._head_crc = offset, length, head_crc
        self._next, self._running = 0, head_crc  # in-order reads so far, and their CRC

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, key: slice) -> bytes:
        if not isinstance(key, slice) or key.step not in (None, 1):
            raise TypeError("a section is read by contiguous slices")
        start, stop, _ = key.indices(self.length)
        return self._read(start, max(stop - start, 0))

    def read(self) -> bytes:
        return self[:]

    def chunks(self, size: int = 1 << 22) -> Iterator[bytes]:
        """The payload in order, ``size`` bytes at a time (one empty chunk when it is empty)."""
        for at in range(0, max(self.length, 1), size):
            yield self[at:at + size]

    def _read(self, start: int, n: int) -> bytes:
        self._stream.seek(self.offset + start)
        data = self._stream.read(n)
        if len(data) != n:
            raise TruncatedStreamError(f"file ends inside section {self.index} (truncated)")
        if start == 0:  # in-order reads start (again) here
            self._next, self._running = 0, self._head_crc
        if start == self._next:
            self._running, self._next = zlib.crc32(data, self._running), start + n
            if self._next == self.length:
                self._check_crc()
        return data

    def _check_crc(self) -> None:
        self._stream.seek(self.offset + self.length)
        (crc,) = _CRC.unpack(_read(self._stream, 4, f"section {self.index} checksum"))
        if crc != self._running:
            raise CorruptStreamError(f"section {self.index} checksum mismatch: the file is corrupt")


@dataclass
class LazyContainer:
    """A container whose sections are read from ``stream`` on demand (see :func:`open_sections`);
    closing it closes the stream."""

    header: Header
    sections: dict[str, LazySection]
    header_size: int  # bytes of the fixed part, JSON and CRC
    stream: BinaryIO

    def load(self, repair: bool = False) -> Container:
        """Every section read and checked; with ``repair``, a codec payload section that fails
        its checksum is left out and named in ``damaged`` (for a codec that can restore it)."""
        if not repair:
            return Container(self.header, {tag: s.read() for tag, s in self.sections.items()})
        box = Container(self.header, {})
        for tag, s in self.sections.items():
            try:
                box.sections[tag] = s.read()
            except CorruptStreamError:
                if not tag[:1].isupper():
                    raise
                box.damaged.append(tag)
        return box

    def close(self) -> None:
        self.stream.close()

    def __enter__(self) -> LazyContainer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_sections(path: str | os.PathLike) -> LazyContainer:
    """Open an .omc file reading only its header and the section framing (tags and lengths);
    payloads and their CRCs are read on demand.  Use it as a context manager."""
    f = open(path, "rb")
    try:
        return read_lazy(f, os.fstat(f.fileno()).st_size)
    except BaseException:
        f.close()
        raise


def read_lazy(stream: BinaryIO, size: int) -> LazyContainer:
    """The container in a seekable ``stream`` of ``size`` bytes, its framing checked (every
    section's length against the cap and the file, no trailing bytes), its payloads and their
    CRCs unread."""
    header, count = read_header(stream, size)
    header_size = stream.tell()
    sections: dict[str, LazySection] = {}
    for index in range(count):
        start = stream.tell()
        raw_tag, length, head_crc = _section_head(stream, size, index, header.format_version)
        offset = stream.tell()
        stream.seek(offset + length + 4)  # _section_head checked that the file holds it
        try:
            tag = raw_tag.decode("ascii")
        except UnicodeDecodeError:
            raise CorruptStreamError(f"section {index} has a non-ASCII tag") from None
        if tag in sections:
            raise CorruptStreamError(f"section tag {tag!r} appears twice")
        sections[tag] = LazySection(stream, index, (start, stream.tell()), offset, length, head_crc)
    if stream.tell() != size:
        raise CorruptStreamError(f"{size - stream.tell()} unexpected bytes after the last section")
    return LazyContainer(header, sections, header_size, stream)


def spans(data: bytes) -> list[tuple[int, int]]:
    """Byte spans (start, end) of the header (fixed part + JSON + CRC), then of each section."""
    box = read_lazy(io.BytesIO(data), len(data))
    return [(0, box.header_size)] + [s.span for s in box.sections.values()]


def unpack(data: bytes, repair: bool = False) -> Container:
    """Parse and verify a whole .omc byte string (``repair``: see ``LazyContainer.load``)."""
    return read_lazy(io.BytesIO(data), len(data)).load(repair)


def peek(path: str | os.PathLike) -> Header:
    """Read only the header of a file (cheap ``codec info``)."""
    with open(path, "rb") as f:
        return read_header(f, os.fstat(f.fileno()).st_size)[0]


def _read(stream: BinaryIO, n: int, what: str) -> bytes:
    data = stream.read(n)
    if len(data) != n:
        raise TruncatedStreamError(f"file ends inside the {what} (truncated)")
    return data
