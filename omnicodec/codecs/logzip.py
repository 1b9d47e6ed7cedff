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
import itertools
import lzma
import re
import struct
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..errors import CorruptStreamError
from ..items import Bytes, select_lines
from .base import Codec, section

# variables ------------------------------------------------------------------------------------
DEC, HEX = "\x01", "\x02"
_HEX_RE = re.compile(rb"(?<![0-9A-Za-z])(?=[0-9a-fA-F]*[a-fA-F])(?=[0-9a-fA-F]*[0-9])[0-9a-fA-F]+(?![0-9A-Za-z])")
_DEC_RE = re.compile(rb"[0-9]{1,18}")
_BAD = re.compile(rb"[\x01\x02]")
MAX_LINE = 1 << 16
_TEXT_BYTES = bytes(range(32, 127)) + b"\t\n\r"

# backends -------------------------------------------------------------------------------------
RAW, ZSTD, XZ, BZ2, PPMD = range(5)
PPMD_ORDER = 8


def _ppmd_mem(raw_len: int) -> int:
    """PPMd model memory, a function of the stream length alone (so the decoder knows it):
    small streams do not pay for initialising a large model."""
    return int(min(64 << 20, max(1 << 20, 1 << (16 * raw_len).bit_length())))
_STREAM = struct.Struct("<BQQ")


def _pack(data: bytes) -> bytes:
    """The smallest of the backends for one stream, framed with its id and sizes.

    PPMd (order 8) and LZMA2 win almost every stream (PPMd on text, LZMA on number planes);
    zstd -19 and bzip2 are only tried where they are cheap (small streams)."""
    import pyppmd
    import zstandard

    best = (RAW, data)
    if len(data) > 32:
        candidates = [(PPMD, pyppmd.compress(data, max_order=PPMD_ORDER, mem_size=_ppmd_mem(len(data)))),
                      (XZ, lzma.compress(data, lzma.FORMAT_RAW, filters=_xz_filters(len(data))))]
        if len(data) < 1 << 16:
            candidates += [(ZSTD, zstandard.ZstdCompressor(level=19).compress(data)),
                           (BZ2, bz2.compress(data, 9))]
        for kind, stored in sorted(candidates, key=lambda c: len(c[1])):
            if len(stored) >= len(data):
                break
            if _restore(kind, stored, len(data)) == data:
                best = (kind, stored)
                break
    return _STREAM.pack(best[0], len(data), len(best[1])) + best[1]


def _restore(kind: int, data: bytes, raw_len: int) -> bytes | None:
    """The stream decoded, or None where the backend fails on its own output: pyppmd 1.3's
    PPMd8 writes undecodable streams for some inputs (random bytes once the model memory
    fills), so the encoder keeps only a candidate it has decoded back."""
    try:
        return _decompress(kind, data, raw_len)
    except Exception:  # each backend raises its own type
        return None


def _decompress(kind: int, data: bytes, raw_len: int) -> bytes:
    import pyppmd
    import zstandard

    if kind == RAW:
        return data
    if kind == ZSTD:
        return zstandard.ZstdDecompressor().decompress(data, max_output_size=raw_len)
    if kind == XZ:
        return lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=_xz_filters(raw_len)).decompress(data, raw_len)
    if kind == BZ2:
        return bz2.BZ2Decompressor().decompress(data, raw_len)
    if kind == PPMD:
        return pyppmd.decompress(data, max_order=PPMD_ORDER, mem_size=_ppmd_mem(raw_len))
    raise CorruptStreamError(f"logzip: unknown stream backend {kind}")


def _xz_filters(raw_len: int) -> list[dict]:
    """LZMA2 preset 9 with a dictionary no larger than the stream (a function of its length,
    so the decoder rebuilds the same filter chain); allocating 64 MiB per stream is slow."""
    return [{"id": lzma.FILTER_LZMA2, "preset": 9,
             "dict_size": int(min(64 << 20, max(1 << 16, 1 << raw_len.bit_length())))}]


def _unpack(buf: memoryview, pos: int, cap: int) -> tuple[bytes, int]:
    if pos + _STREAM.size > len(buf):
        raise CorruptStreamError("logzip: block is truncated")
    kind, raw_len, stored = _STREAM.unpack_from(buf, pos)
    pos += _STREAM.size
    if raw_len > cap or pos + stored > len(buf):
        raise CorruptStreamError("logzip: stream length exceeds the block")
    try:
        out = _decompress(kind, bytes(buf[pos:pos + stored]), raw_len)
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


RAW_COL, DELTA_COL, DICT_COL = range(3)
_META = 3  # bytes of column metadata: mode << 4 | planes, fixed digit width (0: varies), dict planes
_BYTE_LIMITS = np.array([1 << (8 * i) for i in range(1, 8)], dtype=np.uint64)


def _nbytes(u: np.ndarray) -> np.ndarray:
    """Bytes needed for each uint64 (at least 1)."""
    return np.searchsorted(_BYTE_LIMITS, u, side="right") + 1


def _seg_cumsum(x: np.ndarray, starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Cumulative sum restarting at every segment (int64 arithmetic wraps consistently)."""
    cs = np.cumsum(x)
    before = np.concatenate([[0], cs])[starts]
    return cs - np.repeat(before, counts)


def _scatter_planes(u, seg, k, n_seg, w_seg) -> bytes:
    """Segment s holds n_seg[s] values as w_seg[s] little-endian byte planes, plane-major."""
    size = n_seg * w_seg
    off = np.cumsum(size) - size
    out = np.zeros(int(size.sum()), dtype=np.uint8)
    raw = u.astype(np.uint64).view(np.uint8).reshape(-1, 8)
    base, n, w = off[seg] + k, n_seg[seg], w_seg[seg]
    for j in range(8):
        m = w > j
        if not m.any():
            break
        out[base[m] + j * n[m]] = raw[m, j]
    return out.tobytes()


def _gather_planes(buf, start, seg, k, n_seg, w_seg) -> tuple[np.ndarray, int]:
    size = n_seg * w_seg
    end = start + int(size.sum())
    if end > buf.size:
        raise CorruptStreamError("logzip: number stream is too short")
    off = start + np.cumsum(size) - size
    full = np.zeros((seg.size, 8), dtype=np.uint8)
    base, n, w = off[seg] + k, n_seg[seg], w_seg[seg]
    for j in range(8):
        m = w > j
        if not m.any():
            break
        full[m, j] = buf[base[m] + j * n[m]]
    return full.view(np.uint64).ravel(), end


def _encode_numbers(values: np.ndarray, widths: np.ndarray, cols: np.ndarray,
                    num_cols: int) -> tuple[bytes, bytes, bytes]:
    """Per column: raw, delta or dictionary coding (whichever the bit-cost estimate favours),
    zigzag, byte planes; all columns at once.  Dictionary coding sends repeated values as
    back-references (0 = a new value, k = the value introduced k distinct values ago).  Digit
    widths are stored once per column when constant, else per value.
    Returns (column metadata, planes: codes then dictionary values, zero padding)."""
    if values.size == 0:
        return bytes(_META * num_cols), b"", b""
    order, starts, ends = _column_segments(cols, num_cols)
    v, w, col = values[order], widths[order], cols[order]
    counts = ends - starts
    pos = np.arange(v.size)
    k = pos - np.repeat(starts, counts)
    raw = _zigzag(v)
    prev = np.concatenate([[0], v[:-1]])
    prev[k == 0] = 0
    delta = _zigzag(v - prev)
    # dictionary codes
    idx = np.lexsort((v, col))  # by column, then value; ties keep text order
    sv, sc = v[idx], col[idx]
    group_start = np.concatenate([[True], (sv[1:] != sv[:-1]) | (sc[1:] != sc[:-1])])
    first = np.empty(v.size, dtype=np.int64)
    first[idx] = idx[group_start][np.cumsum(group_start) - 1]
    new = first == pos
    rank = _seg_cumsum(new.astype(np.int64), starts, counts) - 1
    seen = rank + 1 - new
    codes = np.where(new, 0, seen - rank[first]).astype(np.uint64)
    distinct = np.bincount(col[new], minlength=num_cols)

    def colsum(x):
        return np.bincount(col, weights=x, minlength=num_cols)

    costs = np.stack([colsum(_cost(raw)), colsum(_cost(delta)),
                      colsum(_cost(codes)) + np.bincount(col[new], weights=_cost(raw[new]),
                                                         minlength=num_cols) + 8 * distinct])
    costs[1:, counts <= 1] = np.inf
    costs[2, distinct >= counts * 3 // 4] = np.inf
    mode = costs.argmin(axis=0)
    m = mode[col]
    u = np.where(m == RAW_COL, raw, np.where(m == DELTA_COL, delta, codes))
    wmax = np.zeros(num_cols, dtype=np.int64)
    np.maximum.at(wmax, col, _nbytes(u))
    meta = np.zeros((num_cols, _META), dtype=np.uint8)
    meta[:, 0] = (mode << 4) | np.where(counts > 0, wmax, 0)
    parts = [_scatter_planes(u, col, k, counts, wmax)]
    in_dict = new & (m == DICT_COL)
    if in_dict.any():
        ucol = col[in_dict]
        ucount = np.bincount(ucol, minlength=num_cols)
        ustart = np.cumsum(ucount) - ucount
        uk = np.arange(ucol.size) - ustart[ucol]
        uw = np.zeros(num_cols, dtype=np.int64)
        np.maximum.at(uw, ucol, _nbytes(raw[in_dict]))
        meta[:, 2] = uw
        parts.append(_scatter_planes(raw[in_dict], ucol, uk, ucount, uw))
    lo, hi = np.full(num_cols, 1 << 30), np.zeros(num_cols, dtype=np.int64)
    np.minimum.at(lo, col, w)
    np.maximum.at(hi, col, w)
    fixed = (lo == hi) & (hi < 256)
    meta[:, 1] = np.where(fixed, hi, 0)
    pads = (w - _digits(v))[~fixed[col]].astype(np.uint8)
    return meta.tobytes(), b"".join(parts), pads.tobytes()


def _decode_numbers(meta_raw: bytes, planes: bytes, pads_raw: bytes, cols: np.ndarray,
                    num_cols: int) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of _encode_numbers: (values, digit widths) in text order."""
    order, starts, ends = _column_segments(cols, num_cols)
    counts = ends - starts
    col = cols[order]
    k = np.arange(col.size) - np.repeat(starts, counts)
    meta = np.frombuffer(meta_raw, dtype=np.uint8).reshape(num_cols, _META).astype(np.int64)
    mode, width = meta[:, 0] >> 4, meta[:, 0] & 15
    used = counts > 0
    if np.any(used & ((width < 1) | (width > 8) | (mode > DICT_COL))):
        raise CorruptStreamError("logzip: number column metadata is malformed")
    buf = np.frombuffer(planes, dtype=np.uint8)
    u, pos = _gather_planes(buf, 0, col, k, counts, np.where(used, width, 0))
    m = mode[col]
    values = _unzigzag(u)
    new = u == 0
    is_dict = m == DICT_COL
    if is_dict.any():
        ucol = col[is_dict & new]
        ucount = np.bincount(ucol, minlength=num_cols)
        ustart = np.cumsum(ucount) - ucount
        uw = np.where(ucount > 0, meta[:, 2], 0)
        if np.any((ucount > 0) & ((uw < 1) | (uw > 8))):
            raise CorruptStreamError("logzip: dictionary metadata is malformed")
        uniq, pos = _gather_planes(buf, pos, ucol, np.arange(ucol.size) - ustart[ucol], ucount, uw)
        seen = _seg_cumsum(new.astype(np.int64), starts, counts) - new
        ids = np.where(new, seen, seen - u.astype(np.int64))
        bad = is_dict & ((ids < 0) | (ids >= ucount[col]))
        if bad.any():
            raise CorruptStreamError("logzip: dictionary reference out of range")
        looked = _unzigzag(uniq)[np.where(is_dict, ustart[col] + ids, 0)] if uniq.size else values
        values = np.where(is_dict, looked, values)
    if pos != buf.size:
        raise CorruptStreamError("logzip: number stream has trailing bytes")
    values = np.where(m == DELTA_COL, _seg_cumsum(values, starts, counts), values)
    fixed = meta[:, 1][col]
    varies = fixed == 0
    if len(pads_raw) != int(varies.sum()):
        raise CorruptStreamError("logzip: padding stream has the wrong length")
    widths = fixed.copy()
    widths[varies] = _digits(values[varies]) + np.frombuffer(pads_raw, np.uint8)
    out_v, out_w = np.empty_like(values), np.empty_like(widths)
    out_v[order], out_w[order] = values, widths
    return out_v, out_w


def _digits(v: np.ndarray) -> np.ndarray:
    return np.searchsorted(_POW10, v, side="right") + 1


def _generic(data: bytes) -> bytes:
    import zstandard

    best = _pack(data)
    z19 = zstandard.ZstdCompressor(level=19).compress(data)
    if len(z19) + _STREAM.size < len(best):
        best = _STREAM.pack(ZSTD, len(data), len(z19)) + z19
    return _BLOCK_HEAD.pack(_BLOCK_MAGIC, GENERIC, 0, 0, 0) + best


# A structured block this much smaller than zstd -3 of the same bytes is kept without also
# trying the (slow) generic coders; otherwise the smallest of all is kept, so a block is never
# more than a few bytes larger than zstd -19, PPMd or xz of it.
CLEAR_WIN = 0.6


def encode_block(data: bytes) -> bytes:
    """One block of whole lines -> structured block bytes (or generic if that is smaller)."""
    import zstandard

    if not data:
        return _generic(data)
    structured = _encode_structured(data)
    if len(structured) < CLEAR_WIN * len(zstandard.ZstdCompressor(level=3).compress(data)):
        return structured
    generic = _generic(data)
    return structured if len(structured) < len(generic) else generic


def _encode_structured(data: bytes) -> bytes:
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
    widths = np.char.str_len(raw).astype(np.int64) if decs else np.zeros(0, np.int64)
    meta, planes, pads = _encode_numbers(values, widths, dec_cols, tpl.num_cols)
    order, _, _ = _column_segments(hex_cols, tpl.num_cols)

    line_ids = np.zeros(len(lines), dtype=np.int64)
    line_ids[~outlier] = tids + 1
    id_bytes = max(1, (int(line_ids.max(initial=0)).bit_length() + 7) // 8)
    streams = [
        np.ascontiguousarray(line_ids.view(np.uint8).reshape(-1, 8)[:, :id_bytes].T).tobytes(),
        b"\n".join(tpl.skeletons),
        meta,
        planes,
        pads,
        b"\n".join(hexes[i] for i in order),
        b"\n".join(ln for ln, o in zip(lines, outlier) if o),
        np.packbits(cr).tobytes() if cr.any() else b"",
    ]
    head = _BLOCK_HEAD.pack(_BLOCK_MAGIC, STRUCTURED, len(lines), final_nl, id_bytes)
    return head + b"".join(_pack(s) for s in streams)


def decode_block(block: bytes, cap: int) -> bytes:
    """Structured or generic block bytes -> the original bytes (at most ``cap`` of them)."""
    buf = memoryview(block)
    if len(block) < _BLOCK_HEAD.size:
        raise CorruptStreamError("logzip: block is truncated")
    magic, kind, n, final_nl, id_bytes = _BLOCK_HEAD.unpack_from(buf, 0)
    if magic != _BLOCK_MAGIC or kind not in (STRUCTURED, GENERIC) or (kind == STRUCTURED and not 1 <= id_bytes <= 8):
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
        s, pos = _unpack(buf, pos, 9 * cap + 64)  # no stream can exceed 8 bytes per input byte
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
    if len(meta) != _META * tpl.num_cols:
        raise CorruptStreamError("logzip: column metadata has the wrong length")
    normal = line_ids > 0
    tids = line_ids[normal] - 1
    slots = tpl.slots_of(tids)
    is_dec = tpl.slot_dec[slots]
    dec_cols, hex_cols = tpl.slot_cols[slots[is_dec]], tpl.slot_cols[slots[~is_dec]]
    values, widths = _decode_numbers(meta, planes, pads_raw, dec_cols, tpl.num_cols)
    merged = np.empty(slots.size, dtype=object)
    merged[is_dec] = [b"%0*d" % (w, v) for w, v in zip(widths.tolist(), values.tolist())]
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
    by_tpl = np.argsort(tids, kind="stable")
    tcount = np.bincount(tids, minlength=len(skeletons))
    tend = np.cumsum(tcount)
    for t in np.flatnonzero(tcount).tolist():
        rows = by_tpl[tend[t] - tcount[t]:tend[t]]
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


# blocks, index, codec ---------------------------------------------------------------------------
# first line, newlines, raw size, offset in BLKS, stored size, crc32 of the raw block, ends in \n
_ENTRY = struct.Struct("<QQQQQIB")


@dataclass
class _Block:
    first_line: int
    newlines: int
    raw_size: int
    offset: int
    stored: int
    crc: int
    ends_nl: int


def pack_index(blocks: list[_Block]) -> bytes:
    return struct.pack("<I", len(blocks)) + b"".join(
        _ENTRY.pack(b.first_line, b.newlines, b.raw_size, b.offset, b.stored, b.crc, b.ends_nl)
        for b in blocks)


def unpack_index(raw: bytes, total_size: int, blocks_size: int) -> list[_Block]:
    if len(raw) < 4:
        raise CorruptStreamError("logzip: block index is truncated")
    (count,) = struct.unpack_from("<I", raw)
    if len(raw) != 4 + count * _ENTRY.size:
        raise CorruptStreamError("logzip: block index has the wrong length")
    blocks = [_Block(*_ENTRY.unpack_from(raw, 4 + i * _ENTRY.size)) for i in range(count)]
    line = offset = size = 0
    for b in blocks:
        if (b.first_line, b.offset) != (line, offset) or b.newlines > b.raw_size or b.ends_nl > 1:
            raise CorruptStreamError("logzip: block index is inconsistent")
        line, offset, size = line + b.newlines, offset + b.stored, size + b.raw_size
    if offset != blocks_size or size != total_size:
        raise CorruptStreamError("logzip: block index disagrees with the payload")
    return blocks


def split_blocks(read, block_bytes: int):
    """Yield chunks of about ``block_bytes`` that end at a newline where one exists; the last
    chunk takes whatever remains (so a short input is always one block)."""
    carry = b""
    while True:
        parts, size = [carry], len(carry)
        while size < block_bytes:
            chunk = read(block_bytes - size)
            if not chunk:
                break
            parts.append(chunk)
            size += len(chunk)
        data = b"".join(parts)
        if size < block_bytes:  # end of input
            if data:
                yield data
            return
        cut = data.rfind(b"\n") + 1 or len(data)  # no newline: one very long line spans blocks
        carry = data[cut:]
        yield data[:cut]


def _encode_job(data: bytes) -> tuple[bytes, int, int, int, int]:
    import zlib

    return (encode_block(data), data.count(b"\n"), len(data), zlib.crc32(data),
            int(data.endswith(b"\n")))


@dataclass
class Logzip(Codec):
    """Log-structure compression; see the module docstring."""

    codec_id: ClassVar[str] = "logzip"
    modality: ClassVar[str] = "bytes"
    lossless: ClassVar[bool] = True
    requires: ClassVar[tuple[str, ...]] = ("pyppmd", "zstandard")
    description: ClassVar[str] = "log structure (templates + typed columns), any bytes, lossless"
    streaming: ClassVar[bool] = True
    block_mb: float = 16.0

    def suits(self, item):
        """Text-like input (mostly printable, has line breaks): the default codec for it."""
        head = item.data[: 1 << 16]
        binary = len(head.translate(None, _TEXT_BYTES))
        return b"\n" in head and binary <= 0.05 * len(head)

    def _block_bytes(self) -> int:
        if not 0.0009 < self.block_mb <= 1024:
            raise ValueError("logzip: block_mb must be in (0.001, 1024]")
        return int(self.block_mb * (1 << 20))

    def encode(self, item):
        import io

        self.check_supports(item)
        spool = io.BytesIO()
        index = self.encode_to(io.BytesIO(item.data).read, spool.write)
        return {"INDX": index, "BLKS": spool.getvalue()}

    def encode_to(self, read, write, workers: int | None = None, progress=None) -> bytes:
        """Compress everything ``read(n)`` returns, writing blocks with ``write``; returns the
        block index.  Blocks are compressed by ``workers`` processes (default: all cores), with
        at most two blocks per worker in flight, so memory does not grow with the input."""
        import os
        from collections import deque
        from concurrent.futures import ProcessPoolExecutor

        workers = workers or os.cpu_count() or 1
        chunks = split_blocks(read, self._block_bytes())
        blocks: list[_Block] = []

        def record(result):
            stored, newlines, raw_size, crc, ends_nl = result
            last = blocks[-1] if blocks else None
            first = last.first_line + last.newlines if last else 0
            offset = last.offset + last.stored if last else 0
            blocks.append(_Block(first, newlines, raw_size, offset, len(stored), crc, ends_nl))
            write(stored)
            if progress:
                progress(raw_size)

        head = list(itertools.islice(chunks, 2))
        if len(head) < 2 or workers == 1:  # a single block: no process start-up cost
            for chunk in itertools.chain(head, chunks):
                record(_encode_job(chunk))
            return pack_index(blocks)
        with ProcessPoolExecutor(workers) as pool:
            pending = deque(pool.submit(_encode_job, chunk) for chunk in head)
            for chunk in chunks:
                while len(pending) >= 2 * workers:
                    record(pending.popleft().result())
                pending.append(pool.submit(_encode_job, chunk))
            while pending:
                record(pending.popleft().result())
        return pack_index(blocks)

    def _blocks(self, sections, meta) -> tuple[list[_Block], bytes]:
        from .. import limits

        size = int(meta["size"])
        limits.check_bytes(size)
        data = section(sections, "BLKS", self.codec_id)
        return unpack_index(section(sections, "INDX", self.codec_id), size, len(data)), data

    def _decode_one(self, b: _Block, data: bytes) -> bytes:
        import zlib

        raw = decode_block(data[b.offset:b.offset + b.stored], b.raw_size)
        if len(raw) != b.raw_size or zlib.crc32(raw) != b.crc:
            raise CorruptStreamError("logzip: a block decodes to the wrong content")
        return raw

    def decode(self, sections, meta):
        return Bytes(b"".join(self.iter_decode(sections, meta)))

    def iter_decode(self, sections, meta):
        """Decoded blocks in order (one block in memory at a time)."""
        blocks, data = self._blocks(sections, meta)
        for b in blocks:
            yield self._decode_one(b, data)

    def decode_lines(self, sections, meta, start: int, stop: int) -> bytes:
        """Lines ``start`` (inclusive) to ``stop`` (exclusive), 0-based, each with its newline,
        decoding only the blocks that hold them."""
        if start < 0 or stop < start:
            raise ValueError(f"bad line range {start}:{stop}")
        blocks, data = self._blocks(sections, meta)
        hits = [i for i, b in enumerate(blocks)
                if b.first_line + b.newlines >= start and b.first_line < stop]
        if not hits:
            return b""
        lo, hi = hits[0], hits[-1]
        while lo > 0 and not blocks[lo - 1].ends_nl:  # a line cut across blocks
            lo -= 1
        while hi + 1 < len(blocks) and not blocks[hi].ends_nl:
            hi += 1
        text = b"".join(self._decode_one(b, data) for b in blocks[lo:hi + 1])
        return select_lines(text, blocks[lo].first_line, start, stop)
