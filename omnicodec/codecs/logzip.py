"""Logzip: log-structure compression (Liu et al., ASE 2019), with the numeric-aware, column-wise
encoding of later work (LogReducer FAST'21, LogShrink ICSE'24, Denum ASE'24).

    block of lines ─┬─ hex tokens  ─→ placeholder \\x02, values to string columns
                    ├─ digit runs  ─→ placeholder \\x01, values to integer columns
                    └─ skeletons   ─→ template dictionary + one template id per line
    columns: one per (skeleton prefix up to the slot), so header fields shared by many templates
             (timestamps, pids) form one column in line order; integers are delta coded where
             that is smaller and stored as little-endian byte planes
    streams ─→ per stream, the smallest of PPMd / xz / zstd / bzip2 / raw (choice recorded)

Nothing is assumed about the log format: fields are found from where digits and hex identifiers
sit, so any line structure works, and lines that cannot be represented (control bytes we use as
placeholders, very long lines) go verbatim to an outlier stream.  Any byte string round-trips
exactly; a block whose structured form is larger than its plain xz/zstd compression is stored
that way instead.

Input is split into blocks of whole lines (``block_mb``) compressed independently, in parallel
worker processes, with bounded memory; an index of blocks (lines, sizes) lets a line range be
decoded without the rest.

Payload: section ``INDX`` (block index, see ``_Index``) and section ``BLKS`` (the blocks back to
back).  Block layout: magic ``LZB1``, u8 kind (0 structured, 1 generic), then for structured
blocks a list of streams, each ``u8 backend, u64 raw length, u64 stored length, bytes``.
"""

from __future__ import annotations

import bz2
import lzma
import re
import struct
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..errors import CorruptStreamError
from .base import Bytes, Codec, section

# variables ------------------------------------------------------------------------------------
DEC, HEX = "\x01", "\x02"
_HEX_RE = re.compile(rb"(?<![0-9A-Za-z])(?=[0-9a-fA-F]*[a-fA-F])(?=[0-9a-fA-F]*[0-9])[0-9a-fA-F]+(?![0-9A-Za-z])")
_DEC_RE = re.compile(rb"[0-9]{1,18}")
_BAD = re.compile(rb"[\x01\x02]")
MAX_LINE = 1 << 16

# backends -------------------------------------------------------------------------------------
RAW, ZSTD, XZ, BZ2, PPMD = range(5)
_PPMD = {"max_order": 8, "mem_size": 64 << 20}
_STREAM = struct.Struct("<BQQ")


def _pack(data: bytes) -> bytes:
    """The smallest of the backends for one stream, framed with its id and sizes."""
    import pyppmd
    import zstandard

    best = (RAW, data)
    if len(data) > 32:
        candidates = [(ZSTD, zstandard.ZstdCompressor(level=19).compress(data)),
                      (PPMD, pyppmd.compress(data, **_PPMD))]
        if len(data) < 1 << 22:
            candidates.append((XZ, lzma.compress(data, lzma.FORMAT_RAW, filters=_XZ_FILTERS)))
            candidates.append((BZ2, bz2.compress(data, 9)))
        for cand in candidates:
            if len(cand[1]) < len(best[1]):
                best = cand
    return _STREAM.pack(best[0], len(data), len(best[1])) + best[1]


_XZ_FILTERS = [{"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME}]


def _unpack(buf: memoryview, pos: int, cap: int) -> tuple[bytes, int]:
    import pyppmd
    import zstandard

    if pos + _STREAM.size > len(buf):
        raise CorruptStreamError("logzip: block is truncated")
    kind, raw_len, stored = _STREAM.unpack_from(buf, pos)
    pos += _STREAM.size
    if raw_len > cap or pos + stored > len(buf):
        raise CorruptStreamError("logzip: stream length exceeds the block")
    data = bytes(buf[pos:pos + stored])
    try:
        if kind == RAW:
            out = data
        elif kind == ZSTD:
            out = zstandard.ZstdDecompressor().decompress(data, max_output_size=raw_len)
        elif kind == XZ:
            out = lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=_XZ_FILTERS).decompress(data, raw_len)
        elif kind == BZ2:
            out = bz2.BZ2Decompressor().decompress(data, raw_len)
        elif kind == PPMD:
            out = pyppmd.decompress(data, **_PPMD)
        else:
            raise CorruptStreamError(f"logzip: unknown stream backend {kind}")
    except CorruptStreamError:
        raise
    except Exception as exc:  # each backend raises its own type
        raise CorruptStreamError(f"logzip: stream does not decode: {exc}") from None
    if len(out) != raw_len:
        raise CorruptStreamError("logzip: stream decodes to the wrong length")
    return out, pos + stored


# structured blocks ----------------------------------------------------------------------------
_BLOCK_MAGIC = b"LZB1"
_BLOCK_HEAD = struct.Struct("<4sBQBB")  # magic, kind, line count, final newline, id bytes
STRUCTURED, GENERIC = 0, 1
_POW10 = 10 ** np.arange(1, 19, dtype=np.int64)


@dataclass
class _Templates:
    """Per-template slot layout, derived identically by encoder and decoder."""

    skeletons: list[bytes]
    pieces: list[list[bytes]]
    slot_cols: np.ndarray  # column id of every slot, templates back to back
    slot_dec: np.ndarray  # True where that slot is a number (else a hex token)
    start: np.ndarray  # first slot of each template in the two arrays above
    count: np.ndarray  # slots per template
    num_cols: int

    @classmethod
    def build(cls, skeletons: list[bytes]) -> _Templates:
        cols: dict[bytes, int] = {}
        pieces, slot_cols, slot_dec, count = [], [], [], []
        for skel in skeletons:
            parts = re.split(rb"[\x01\x02]", skel)
            pos = 0
            for part in parts[:-1]:
                pos += len(part) + 1
                slot_cols.append(cols.setdefault(skel[:pos], len(cols)))
                slot_dec.append(skel[pos - 1] == 1)
            pieces.append(parts)
            count.append(len(parts) - 1)
        count_arr = np.array(count, dtype=np.int64)
        start = np.concatenate([[0], np.cumsum(count_arr)[:-1]]).astype(np.int64)
        return cls(skeletons, pieces, np.array(slot_cols, dtype=np.int64),
                   np.array(slot_dec, dtype=bool), start, count_arr, len(cols))

    def slots_of(self, tids: np.ndarray) -> np.ndarray:
        """Index into slot_cols/slot_dec of every slot of the given lines, in text order."""
        counts = self.count[tids]
        total = int(counts.sum())
        line_start = np.repeat(np.cumsum(counts) - counts, counts)
        return np.repeat(self.start[tids], counts) + (np.arange(total) - line_start)


def _zigzag(x: np.ndarray) -> np.ndarray:
    return ((x << 1) ^ (x >> 63)).view(np.uint64)


def _unzigzag(u: np.ndarray) -> np.ndarray:
    return (u >> np.uint64(1)).view(np.int64) ^ -(u & np.uint64(1)).view(np.int64)


def _cost(u: np.ndarray) -> np.ndarray:
    return np.log2(u.astype(np.float64) + 1.0)


def _column_segments(cols: np.ndarray, num_cols: int):
    """Stable order grouping values by column, and each column's [start, end)."""
    order = np.argsort(cols, kind="stable")
    counts = np.bincount(cols, minlength=num_cols)
    ends = np.cumsum(counts)
    return order, ends - counts, ends


def _encode_numbers(values: np.ndarray, cols: np.ndarray, num_cols: int) -> tuple[bytes, bytes]:
    """Per column: delta or raw (whichever costs fewer bits), zigzag, little-endian byte planes.
    Returns (column meta: one byte per column = delta << 4 | plane count, planes)."""
    order, starts, ends = _column_segments(cols, num_cols)
    v = values[order]
    meta = bytearray(num_cols)
    out = []
    for c in range(num_cols):
        seg = v[starts[c]:ends[c]]
        if seg.size == 0:
            continue
        raw = _zigzag(seg)
        delta = _zigzag(np.diff(seg, prepend=np.int64(0)))
        use_delta = seg.size > 1 and _cost(delta).sum() < _cost(raw).sum()
        u = delta if use_delta else raw
        width = max(1, (int(u.max()).bit_length() + 7) // 8)
        meta[c] = (use_delta << 4) | width
        out.append(np.ascontiguousarray(u.view(np.uint8).reshape(-1, 8)[:, :width].T).tobytes())
    return bytes(meta), b"".join(out)


def _decode_numbers(meta: bytes, planes: bytes, cols: np.ndarray, num_cols: int) -> np.ndarray:
    order, starts, ends = _column_segments(cols, num_cols)
    v = np.empty(cols.size, dtype=np.int64)
    buf = np.frombuffer(planes, dtype=np.uint8)
    pos = 0
    for c in range(num_cols):
        n = int(ends[c] - starts[c])
        if n == 0:
            continue
        width, use_delta = meta[c] & 15, meta[c] >> 4
        if not 1 <= width <= 8 or pos + n * width > buf.size:
            raise CorruptStreamError("logzip: number column is malformed")
        full = np.zeros((n, 8), dtype=np.uint8)
        full[:, :width] = buf[pos:pos + n * width].reshape(width, n).T
        pos += n * width
        seg = _unzigzag(full.view(np.uint64).ravel())
        v[starts[c]:ends[c]] = np.cumsum(seg) if use_delta else seg
    if pos != buf.size:
        raise CorruptStreamError("logzip: number stream has trailing bytes")
    out = np.empty_like(v)
    out[order] = v
    return out


def _digits(v: np.ndarray) -> np.ndarray:
    return np.searchsorted(_POW10, v, side="right") + 1


def encode_block(data: bytes) -> bytes:
    """One block of whole lines -> structured block bytes (or generic if that is smaller)."""
    generic = _BLOCK_HEAD.pack(_BLOCK_MAGIC, GENERIC, 0, 0, 0) + _pack(data)
    if not data:
        return generic
    lines = data.split(b"\n")
    final_nl = lines[-1] == b""
    if final_nl:
        lines.pop()
    cr = np.fromiter((ln.endswith(b"\r") for ln in lines), dtype=bool, count=len(lines))
    if cr.any():
        lines = [ln[:-1] if c else ln for ln, c in zip(lines, cr)]
    has_bad = _BAD.search(data) is not None
    outlier = np.fromiter((len(ln) > MAX_LINE or (has_bad and _BAD.search(ln) is not None)
                           for ln in lines), dtype=bool, count=len(lines))
    normal = [ln for ln, o in zip(lines, outlier) if not o]
    text = b"\n".join(normal)
    hexes = _HEX_RE.findall(text)
    text = _HEX_RE.sub(b"\x02", text)
    decs = _DEC_RE.findall(text)
    skel_lines = _DEC_RE.sub(b"\x01", text).split(b"\n") if normal else []

    tdict: dict[bytes, int] = {}
    tids = np.array([tdict.setdefault(s, len(tdict)) for s in skel_lines], dtype=np.int64)
    tpl = _Templates.build(list(tdict))
    slots = tpl.slots_of(tids)
    is_dec = tpl.slot_dec[slots]
    dec_cols, hex_cols = tpl.slot_cols[slots[is_dec]], tpl.slot_cols[slots[~is_dec]]
    if dec_cols.size != len(decs) or hex_cols.size != len(hexes):
        raise AssertionError("logzip: slot bookkeeping disagrees with the text")  # a bug, not input
    raw = np.array(decs, dtype=np.bytes_) if decs else np.zeros(0, dtype="S1")
    values = raw.astype(np.int64) if decs else np.zeros(0, np.int64)
    pads = (np.char.str_len(raw) - _digits(values)).astype(np.uint8) if decs else np.zeros(0, np.uint8)
    meta, planes = _encode_numbers(values, dec_cols, tpl.num_cols)
    order, _, _ = _column_segments(hex_cols, tpl.num_cols)
    dorder, _, _ = _column_segments(dec_cols, tpl.num_cols)

    line_ids = np.zeros(len(lines), dtype=np.int64)
    line_ids[~outlier] = tids + 1
    id_bytes = max(1, (int(line_ids.max(initial=0)).bit_length() + 7) // 8)
    streams = [
        np.ascontiguousarray(line_ids.view(np.uint8).reshape(-1, 8)[:, :id_bytes].T).tobytes(),
        b"\n".join(tpl.skeletons),
        meta,
        planes,
        pads[dorder].tobytes() if pads.any() else b"",
        b"\n".join(hexes[i] for i in order),
        b"\n".join(ln for ln, o in zip(lines, outlier) if o),
        np.packbits(cr).tobytes() if cr.any() else b"",
    ]
    head = _BLOCK_HEAD.pack(_BLOCK_MAGIC, STRUCTURED, len(lines), final_nl, id_bytes)
    structured = head + b"".join(_pack(s) for s in streams)
    return structured if len(structured) < len(generic) else generic


def decode_block(block: bytes, cap: int) -> bytes:
    """Structured or generic block bytes -> the original bytes (at most ``cap`` of them)."""
    buf = memoryview(block)
    if len(block) < _BLOCK_HEAD.size:
        raise CorruptStreamError("logzip: block is truncated")
    magic, kind, n, final_nl, id_bytes = _BLOCK_HEAD.unpack_from(buf, 0)
    if magic != _BLOCK_MAGIC or kind not in (STRUCTURED, GENERIC) or not 1 <= id_bytes <= 8 and kind == 0:
        raise CorruptStreamError("logzip: bad block header")
    pos = _BLOCK_HEAD.size
    if kind == GENERIC:
        data, pos = _unpack(buf, pos, cap)
        if pos != len(block):
            raise CorruptStreamError("logzip: trailing bytes in block")
        return data
    if n > cap + 1:
        raise CorruptStreamError("logzip: line count exceeds the block size")
    streams = []
    for _ in range(8):
        s, pos = _unpack(buf, pos, cap * 2 + 8 * n + 64)
        streams.append(s)
    if pos != len(block):
        raise CorruptStreamError("logzip: trailing bytes in block")
    ids_raw, dict_raw, meta, planes, pads_raw, hex_raw, out_raw, cr_raw = streams
    try:
        return _render(n, final_nl, id_bytes, ids_raw, dict_raw, meta, planes, pads_raw, hex_raw,
                       out_raw, cr_raw)
    except (ValueError, IndexError, TypeError) as exc:
        raise CorruptStreamError(f"logzip: block is inconsistent: {exc}") from None


def _render(n, final_nl, id_bytes, ids_raw, dict_raw, meta, planes, pads_raw, hex_raw, out_raw, cr_raw):
    if len(ids_raw) != n * id_bytes:
        raise CorruptStreamError("logzip: template id stream has the wrong length")
    full = np.zeros((n, 8), dtype=np.uint8)
    full[:, :id_bytes] = np.frombuffer(ids_raw, np.uint8).reshape(id_bytes, n).T
    line_ids = full.view(np.int64).ravel()
    skeletons = dict_raw.split(b"\n") if dict_raw or line_ids.any() else []
    if line_ids.size and (line_ids.min() < 0 or line_ids.max() > len(skeletons)):
        raise CorruptStreamError("logzip: template id out of range")
    tpl = _Templates.build(skeletons)
    if len(meta) != tpl.num_cols:
        raise CorruptStreamError("logzip: column metadata has the wrong length")
    normal = line_ids > 0
    tids = line_ids[normal] - 1
    slots = tpl.slots_of(tids)
    is_dec = tpl.slot_dec[slots]
    dec_cols, hex_cols = tpl.slot_cols[slots[is_dec]], tpl.slot_cols[slots[~is_dec]]
    values = _decode_numbers(meta, planes, dec_cols, tpl.num_cols)
    pads = np.zeros(values.size, np.int64)
    if pads_raw:
        dorder, _, _ = _column_segments(dec_cols, tpl.num_cols)
        pads[dorder] = np.frombuffer(pads_raw, np.uint8)
    widths = (_digits(values) + pads).tolist()
    merged = np.empty(slots.size, dtype=object)
    merged[is_dec] = [b"%0*d" % (w, v) for w, v in zip(widths, values.tolist())]
    hex_list = hex_raw.split(b"\n") if hex_cols.size else []
    if len(hex_list) != hex_cols.size:
        raise CorruptStreamError("logzip: hex stream has the wrong length")
    horder, _, _ = _column_segments(hex_cols, tpl.num_cols)
    hex_arr = np.empty(hex_cols.size, dtype=object)
    hex_arr[horder] = hex_list
    merged[~is_dec] = hex_arr

    lines = np.empty(n, dtype=object)
    line_slot_start = np.cumsum(tpl.count[tids]) - tpl.count[tids]
    normal_pos = np.flatnonzero(normal)
    for t in np.unique(tids).tolist():
        rows = np.flatnonzero(tids == t)
        k = int(tpl.count[t])
        pieces = tpl.pieces[t]
        if k == 0:
            lines[normal_pos[rows]] = pieces[0]
            continue
        cells = merged[line_slot_start[rows][:, None] + np.arange(k)]
        cols = [[pieces[0]] * rows.size]
        for j in range(k):
            cols += [cells[:, j].tolist(), [pieces[j + 1]] * rows.size]
        lines[normal_pos[rows]] = [b"".join(parts) for parts in zip(*cols)]
    outliers = out_raw.split(b"\n") if (~normal).any() else []
    if len(outliers) != int((~normal).sum()):
        raise CorruptStreamError("logzip: outlier stream has the wrong length")
    lines[~normal] = outliers
    if cr_raw:
        cr = np.unpackbits(np.frombuffer(cr_raw, np.uint8), count=n).astype(bool)
        lines[cr] = [ln + b"\r" for ln in lines[cr]]
    return b"\n".join(lines.tolist()) + (b"\n" if final_nl else b"")
