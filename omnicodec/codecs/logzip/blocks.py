"""Logzip blocks: one run of whole lines <-> one self-contained block.

    lines ─┬─ CR flags, outliers (verbatim)
           ├─ skeletons ─→ template dictionary + template id per line   (templates.py)
           ├─ digit runs ─→ number columns: metadata, byte planes, pads  (columns.py)
           └─ hex tokens ─→ grouped by column
    eight streams ─→ each through its smallest backend                   (backends.py)

Block layout: magic ``LZB1``, u8 kind (0 structured, 1 generic), u64 line count, u8 final
newline, u8 template id bytes; a generic block then holds one backend stream (the bytes as
they are), a structured block the eight streams of :class:`Structured` in field order.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, fields

import numpy as np

from ...errors import CorruptStreamError
from .backends import compress_stream, decompress_stream
from .columns import META, column_segments, decode_numbers, encode_numbers
from .templates import Templates, outliers, tokenize

_MAGIC = b"LZB1"
_HEAD = struct.Struct("<4sBQBB")  # magic, kind, line count, final newline, id bytes
STRUCTURED, GENERIC = 0, 1

# A structured block this much smaller than zstd -3 of the same bytes is kept without also
# trying the (slow) generic coders; otherwise the smallest of all is kept, so a block is never
# more than a few bytes larger than zstd -19, PPMd or xz of it.
CLEAR_WIN = 0.6


@dataclass
class Structured:
    """A structured block: its line count, whether it ends in a newline, the bytes per template
    id, and its eight streams in stored order."""

    lines: int
    final_nl: bool
    id_bytes: int
    ids: bytes  # template id + 1 of every line (0: outlier), as id_bytes byte planes
    skeletons: bytes  # the template dictionary, joined by \n
    columns: bytes  # number column metadata (columns.META bytes per column)
    planes: bytes  # number byte planes
    pads: bytes  # leading zeros of numbers in columns whose digit width varies
    hexes: bytes  # hex tokens grouped by column, joined by \n
    outliers: bytes  # outlier lines, joined by \n
    cr: bytes  # one bit per line: it ended in \r (empty: none did)

    def pack(self) -> bytes:
        head = _HEAD.pack(_MAGIC, STRUCTURED, self.lines, self.final_nl, self.id_bytes)
        return head + b"".join(compress_stream(getattr(self, name)) for name in _STREAMS)

    def render(self) -> bytes:
        """The block's bytes; ValueError/IndexError/CorruptStreamError where streams disagree."""
        n = self.lines
        if len(self.ids) != n * self.id_bytes:
            raise CorruptStreamError("logzip: template id stream has the wrong length")
        full = np.zeros((n, 8), dtype=np.uint8)
        full[:, :self.id_bytes] = np.frombuffer(self.ids, np.uint8).reshape(self.id_bytes, n).T
        line_ids = full.view(np.int64).ravel()
        skeletons = self.skeletons.split(b"\n") if self.skeletons or line_ids.any() else []
        if line_ids.size and (line_ids.min() < 0 or line_ids.max() > len(skeletons)):
            raise CorruptStreamError("logzip: template id out of range")
        tpl = Templates.build(skeletons)
        if len(self.columns) != META * tpl.num_cols:
            raise CorruptStreamError("logzip: column metadata has the wrong length")
        normal = line_ids > 0
        tids = line_ids[normal] - 1
        slots = tpl.slots(tids)
        values, widths = decode_numbers(self.columns, self.planes, self.pads, slots.num_cols, tpl.num_cols)
        cells = np.empty(slots.is_num.size, dtype=object)
        cells[slots.is_num] = [b"%0*d" % (w, v) for w, v in zip(widths.tolist(), values.tolist())]
        hex_list = self.hexes.split(b"\n") if slots.hex_cols.size else []
        if len(hex_list) != slots.hex_cols.size:
            raise CorruptStreamError("logzip: hex stream has the wrong length")
        horder, _, _ = column_segments(slots.hex_cols, tpl.num_cols)
        hex_arr = np.empty(slots.hex_cols.size, dtype=object)
        hex_arr[horder] = hex_list
        cells[~slots.is_num] = hex_arr

        lines = np.empty(n, dtype=object)
        lines[normal] = tpl.render(tids, cells)
        verbatim = self.outliers.split(b"\n") if (~normal).any() else []
        if len(verbatim) != int((~normal).sum()):
            raise CorruptStreamError("logzip: outlier stream has the wrong length")
        lines[~normal] = verbatim
        if self.cr:
            cr = np.unpackbits(np.frombuffer(self.cr, np.uint8), count=n).astype(bool)
            lines[cr] = [ln + b"\r" for ln in lines[cr]]
        return b"\n".join(lines.tolist()) + (b"\n" if self.final_nl else b"")


_STREAMS = [f.name for f in fields(Structured)][3:]


def encode_block(data: bytes) -> bytes:
    """One block of whole lines -> structured block bytes (or generic if that is smaller)."""
    import zstandard

    if not data:
        return _generic(data)
    structured = _structure(data).pack()
    if len(structured) < CLEAR_WIN * len(zstandard.ZstdCompressor(level=3).compress(data)):
        return structured
    generic = _generic(data)
    return structured if len(structured) < len(generic) else generic


def decode_block(block: bytes, cap: int) -> bytes:
    """Structured or generic block bytes -> the original bytes (at most ``cap`` of them)."""
    buf = memoryview(block)
    if len(block) < _HEAD.size:
        raise CorruptStreamError("logzip: block is truncated")
    magic, kind, n, final_nl, id_bytes = _HEAD.unpack_from(buf, 0)
    if magic != _MAGIC or kind not in (STRUCTURED, GENERIC) or (kind == STRUCTURED and not 1 <= id_bytes <= 8):
        raise CorruptStreamError("logzip: bad block header")
    if kind == STRUCTURED and n > cap + 1:
        raise CorruptStreamError("logzip: line count exceeds the block size")
    # a generic block holds the content as one stream; a structured block eight, none of which
    # can exceed 8 bytes per input byte
    count, stream_cap = (1, cap) if kind == GENERIC else (len(_STREAMS), 9 * cap + 64)
    streams, pos = [], _HEAD.size
    for _ in range(count):
        s, pos = decompress_stream(buf, pos, stream_cap)
        streams.append(s)
    if pos != len(block):
        raise CorruptStreamError("logzip: trailing bytes in block")
    if kind == GENERIC:
        return streams[0]
    try:
        return Structured(n, bool(final_nl), id_bytes, *streams).render()
    except (ValueError, IndexError, TypeError) as exc:
        raise CorruptStreamError(f"logzip: block is inconsistent: {exc}") from None


def _generic(data: bytes) -> bytes:
    return _HEAD.pack(_MAGIC, GENERIC, 0, 0, 0) + compress_stream(data, zstd_any_size=True)


def _structure(data: bytes) -> Structured:
    lines = data.split(b"\n")
    final_nl = lines[-1] == b""
    if final_nl:
        lines.pop()
    cr = np.fromiter((ln.endswith(b"\r") for ln in lines), dtype=bool, count=len(lines))
    if cr.any():
        lines = [ln[:-1] if c else ln for ln, c in zip(lines, cr)]
    outlier = outliers(lines, data)
    skel_lines, hexes, nums = tokenize([ln for ln, o in zip(lines, outlier) if not o])
    tpl, tids = Templates.of_lines(skel_lines)
    slots = tpl.slots(tids)
    if slots.num_cols.size != len(nums) or slots.hex_cols.size != len(hexes):
        raise AssertionError("logzip: slot bookkeeping disagrees with the text")  # a bug, not input
    raw = np.array(nums, dtype=np.bytes_) if nums else np.zeros(0, dtype="S1")
    values = raw.astype(np.int64) if nums else np.zeros(0, np.int64)
    widths = np.char.str_len(raw).astype(np.int64) if nums else np.zeros(0, np.int64)
    columns, planes, pads = encode_numbers(values, widths, slots.num_cols, tpl.num_cols)
    order, _, _ = column_segments(slots.hex_cols, tpl.num_cols)

    line_ids = np.zeros(len(lines), dtype=np.int64)
    line_ids[~outlier] = tids + 1
    id_bytes = max(1, (int(line_ids.max(initial=0)).bit_length() + 7) // 8)
    return Structured(
        len(lines), final_nl, id_bytes,
        ids=np.ascontiguousarray(line_ids.view(np.uint8).reshape(-1, 8)[:, :id_bytes].T).tobytes(),
        skeletons=b"\n".join(tpl.skeletons),
        columns=columns,
        planes=planes,
        pads=pads,
        hexes=b"\n".join(hexes[i] for i in order),
        outliers=b"\n".join(ln for ln, o in zip(lines, outlier) if o),
        cr=np.packbits(cr).tobytes() if cr.any() else b"",
    )
