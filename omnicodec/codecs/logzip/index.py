"""Logzip's block index (section ``INDX``): where each block sits in ``BLKS`` and which lines
it holds, so that a line range is decoded from the blocks that hold it alone.

Layout 1: u32 block count, then per block ``u64 first_line, u64 newline_count, u64 raw_size,
u64 offset_in_BLKS, u64 stored_size, u32 crc32_of_raw_block, u8 ends_with_newline`` (45 bytes).
Layout 2 (with blocks of layout 2): ``uvar`` block count, then per block ``uvar newline_count,
uvar raw_size, uvar stored_size, u32 crc32_of_raw_block, u8 ends_with_newline`` (unsigned
LEB128; first lines and offsets are the running sums).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ...container import uvar
from ...errors import CorruptStreamError
from .backends import read_uvar

_COUNT = struct.Struct("<I")
_ENTRY = struct.Struct("<QQQQQIB")
_TAIL = struct.Struct("<IB")  # layout 2: crc32, ends_with_newline


@dataclass(frozen=True)
class Entry:
    """One block: its first line (0-based), newlines, raw and stored sizes, offset in the
    blocks section, CRC-32 of its raw bytes, and whether it ends in a newline."""

    first_line: int
    newlines: int
    raw_size: int
    offset: int
    stored: int
    crc: int
    ends_nl: int

    @classmethod
    def after(cls, previous: Entry | None, stored: int, raw: BlockSummary) -> Entry:
        """The entry of a block of ``stored`` bytes written right after ``previous``."""
        first = previous.first_line + previous.newlines if previous else 0
        offset = previous.offset + previous.stored if previous else 0
        return cls(first, raw.newlines, raw.size, offset, stored, raw.crc, raw.ends_nl)


@dataclass(frozen=True)
class BlockSummary:
    """What the index records of a block's raw bytes (computed where the block is encoded)."""

    newlines: int
    size: int
    crc: int
    ends_nl: int

    @classmethod
    def of(cls, data: bytes) -> BlockSummary:
        import zlib

        return cls(data.count(b"\n"), len(data), zlib.crc32(data), int(data.endswith(b"\n")))


def pack_index(entries: list[Entry], layout: int = 1) -> bytes:
    if layout == 1:
        return _COUNT.pack(len(entries)) + b"".join(
            _ENTRY.pack(e.first_line, e.newlines, e.raw_size, e.offset, e.stored, e.crc, e.ends_nl)
            for e in entries)
    return uvar(len(entries)) + b"".join(
        uvar(e.newlines) + uvar(e.raw_size) + uvar(e.stored) + _TAIL.pack(e.crc, e.ends_nl) for e in entries)


def unpack_index(raw: bytes, total_size: int, blocks_size: int, layout: int = 1) -> list[Entry]:
    """The entries, checked to tile ``blocks_size`` stored and ``total_size`` raw bytes."""
    entries = _entries(raw) if layout == 1 else _compact_entries(memoryview(raw))
    line = offset = size = 0
    for e in entries:
        if (e.first_line, e.offset) != (line, offset) or e.newlines > e.raw_size or e.ends_nl > 1:
            raise CorruptStreamError("logzip: block index is inconsistent")
        line, offset, size = line + e.newlines, offset + e.stored, size + e.raw_size
    if offset != blocks_size or size != total_size:
        raise CorruptStreamError("logzip: block index disagrees with the payload")
    return entries


def _entries(raw: bytes) -> list[Entry]:
    if len(raw) < _COUNT.size:
        raise CorruptStreamError("logzip: block index is truncated")
    (count,) = _COUNT.unpack_from(raw)
    if len(raw) != _COUNT.size + count * _ENTRY.size:
        raise CorruptStreamError("logzip: block index has the wrong length")
    return [Entry(*_ENTRY.unpack_from(raw, _COUNT.size + i * _ENTRY.size)) for i in range(count)]


def _compact_entries(buf: memoryview) -> list[Entry]:
    count, pos = read_uvar(buf, 0)
    if count > len(buf) // (3 + _TAIL.size):  # each entry takes at least that many bytes
        raise CorruptStreamError("logzip: block index has the wrong length")
    entries, line, offset = [], 0, 0
    for _ in range(count):
        newlines, pos = read_uvar(buf, pos)
        raw_size, pos = read_uvar(buf, pos)
        stored, pos = read_uvar(buf, pos)
        if pos + _TAIL.size > len(buf):
            raise CorruptStreamError("logzip: block index is truncated")
        crc, ends_nl = _TAIL.unpack_from(buf, pos)
        pos += _TAIL.size
        entries.append(Entry(line, newlines, raw_size, offset, stored, crc, ends_nl))
        line, offset = line + newlines, offset + stored
    if pos != len(buf):
        raise CorruptStreamError("logzip: block index has the wrong length")
    return entries
