"""The .omc container: the only module that knows the byte layout (docs/format.md).

Layout, all integers little-endian::

    offset  size  field
    0       8     magic            89 4F 4D 43 0D 0A 1A 0A   ("\\x89OMC\\r\\n\\x1a\\n")
    8       2     format_version   u16, currently 1
    10      2     flags            u16, must be 0 in version 1
    12      4     header_length    u32, N (at most limits.MAX_HEADER_BYTES)
    16      4     section_count    u32, S
    20      N     header           UTF-8 JSON object (see Header)
    20+N    4     header_crc32     CRC-32 (zlib) of bytes [0, 20+N)
    then S sections, each:
            4     tag              4 ASCII bytes, e.g. "DATA"
            8     length           u64, L
            L     payload
            4     crc32            CRC-32 of tag + length + payload

The JSON header holds ``codec`` (id string), ``config`` (the codec's JSON config), ``modality``,
``meta`` (sizes, rates, modes: what the codec's decoder is given), ``source`` (original file name
and extension, may be empty) and ``digest`` (sha256 of the decoded item, for lossless codecs, else
null).  A reader rejects a version it does not know, a wrong checksum, a truncated section, a
section longer than the file or than ``limits.MAX_SECTION_BYTES``, and trailing bytes.
"""

from __future__ import annotations

import io
import json
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from . import limits
from .errors import CorruptStreamError, TruncatedStreamError, UnsupportedInputError

MAGIC = b"\x89OMC\r\n\x1a\n"
FORMAT_VERSION = 1
_FIXED = struct.Struct("<8sHHII")  # magic, version, flags, header_length, section_count
_SECTION = struct.Struct("<4sQ")
_CRC = struct.Struct("<I")


@dataclass
class Header:
    """What the container says about its payload."""

    codec: str
    modality: str
    config: dict[str, Any]
    meta: dict[str, Any]
    source: dict[str, str] = field(default_factory=dict)
    digest: str | None = None
    format_version: int = FORMAT_VERSION

    def to_json(self) -> dict[str, Any]:
        return {"codec": self.codec, "modality": self.modality, "config": self.config,
                "meta": self.meta, "source": self.source, "digest": self.digest}


@dataclass
class Container:
    header: Header
    sections: dict[str, bytes]


def pack(header: Header, sections: dict[str, bytes]) -> bytes:
    """Serialize a header and its sections (in the dict's order) to bytes."""
    out = io.BytesIO()
    write(out, header, sections)
    return out.getvalue()


def write(out: BinaryIO, header: Header, sections: dict[str, bytes | tuple[BinaryIO, int]]) -> None:
    """Write a container to ``out``.  A section is bytes, or (readable file, length) to be
    copied in chunks, so that large payloads never need to be in memory at once."""
    body = json.dumps(header.to_json(), sort_keys=True, separators=(",", ":")).encode()
    if len(body) > limits.MAX_HEADER_BYTES:
        raise UnsupportedInputError(f"container header of {len(body)} bytes is too large")
    fixed = _FIXED.pack(MAGIC, FORMAT_VERSION, 0, len(body), len(sections))
    out.write(fixed + body + _CRC.pack(zlib.crc32(fixed + body)))
    for tag, payload in sections.items():
        raw_tag = tag.encode("ascii")
        if len(raw_tag) != 4:
            raise ValueError(f"section tag {tag!r} must be 4 ASCII characters")
        source, length = (io.BytesIO(payload), len(payload)) if isinstance(payload, bytes) else payload
        head = _SECTION.pack(raw_tag, length)
        out.write(head)
        crc, left = zlib.crc32(head), length
        while left:
            chunk = source.read(min(left, 1 << 22))
            if not chunk:
                raise ValueError(f"section {tag!r} source ended {left} bytes early")
            crc, left = zlib.crc32(chunk, crc), left - len(chunk)
            out.write(chunk)
        out.write(_CRC.pack(crc))


def read_header(stream: BinaryIO, size: int) -> tuple[Header, int]:
    """Read and verify the fixed part and the JSON header; returns it and the section count."""
    fixed = _read(stream, _FIXED.size, "fixed header")
    magic, version, flags, header_length, count = _FIXED.unpack(fixed)
    if magic != MAGIC:
        raise CorruptStreamError("not an .omc file (bad magic bytes)")
    if version != FORMAT_VERSION:
        raise UnsupportedInputError(
            f"container format version {version} is not supported by this omnicodec "
            f"(reads version {FORMAT_VERSION}); upgrade omnicodec")
    if flags:
        raise CorruptStreamError(f"container flags {flags:#x} are not defined in version 1")
    if header_length > limits.MAX_HEADER_BYTES or header_length > size - _FIXED.size:
        raise (TruncatedStreamError if header_length <= limits.MAX_HEADER_BYTES
               else CorruptStreamError)(f"header length {header_length} exceeds the file")
    body = _read(stream, header_length, "header")
    (crc,) = _CRC.unpack(_read(stream, 4, "header checksum"))
    if crc != zlib.crc32(fixed + body):
        raise CorruptStreamError("header checksum mismatch: the file is corrupt")
    try:
        obj = json.loads(body)
        header = Header(codec=str(obj["codec"]), modality=str(obj["modality"]),
                        config=dict(obj["config"]), meta=dict(obj["meta"]),
                        source=dict(obj.get("source") or {}), digest=obj.get("digest"),
                        format_version=version)
    except (ValueError, KeyError, TypeError) as exc:
        raise CorruptStreamError(f"header is not valid: {exc}") from None
    return header, count


def unpack(data: bytes) -> Container:
    """Parse and verify a whole .omc byte string."""
    stream = io.BytesIO(data)
    header, count = read_header(stream, len(data))
    sections: dict[str, bytes] = {}
    for index in range(count):
        head = _read(stream, _SECTION.size, f"section {index} header")
        raw_tag, length = _SECTION.unpack(head)
        left = len(data) - stream.tell()
        if length > limits.MAX_SECTION_BYTES:
            raise CorruptStreamError(f"section {index} length {length} exceeds the cap")
        if length + 4 > left:
            raise TruncatedStreamError(
                f"section {index} declares {length} bytes but only {max(left - 4, 0)} remain")
        payload = stream.read(length)
        (crc,) = _CRC.unpack(stream.read(4))
        if crc != zlib.crc32(payload, zlib.crc32(head)):
            raise CorruptStreamError(f"section {index} checksum mismatch: the file is corrupt")
        try:
            tag = raw_tag.decode("ascii")
        except UnicodeDecodeError:
            raise CorruptStreamError(f"section {index} has a non-ASCII tag") from None
        if tag in sections:
            raise CorruptStreamError(f"section tag {tag!r} appears twice")
        sections[tag] = payload
    if stream.tell() != len(data):
        raise CorruptStreamError(f"{len(data) - stream.tell()} unexpected bytes after the last section")
    return Container(header, sections)


def peek(path: str) -> Header:
    """Read only the header of a file (cheap ``codec info``)."""
    import os

    with open(path, "rb") as f:
        return read_header(f, os.fstat(f.fileno()).st_size)[0]


def _read(stream: BinaryIO, n: int, what: str) -> bytes:
    data = stream.read(n)
    if len(data) != n:
        raise TruncatedStreamError(f"file ends inside the {what} (truncated)")
    return data
