"""Logzip's numeric columns: the digit runs of a block, grouped into columns and coded as byte
planes (LogReducer FAST'21, LogShrink ICSE'24, Denum ASE'24).

    values in text order ─→ grouped by column (stable) ─→ per column, whichever of
        raw       zigzag(v)
        delta     zigzag(v - previous value of the column)
        dictionary  0 = a new value, k = the value introduced k distinct values ago
    the bit-cost estimate favours ─→ little-endian byte planes, plane-major per column

Column metadata is 3 bytes per column: ``mode << 4 | planes``, the fixed digit width (0: it
varies, and a padding stream holds each value's leading zeros), the dictionary's planes.
"""

from __future__ import annotations

import numpy as np

from ...errors import CorruptStreamError

RAW_COL, DELTA_COL, DICT_COL = range(3)
META = 3  # bytes of column metadata: mode << 4 | planes, fixed digit width (0: varies), dict planes
_BYTE_LIMITS = np.array([1 << (8 * i) for i in range(1, 8)], dtype=np.uint64)
_POW10 = 10 ** np.arange(1, 19, dtype=np.int64)


def _zigzag(x: np.ndarray) -> np.ndarray:
    return ((x << 1) ^ (x >> 63)).view(np.uint64)


def _unzigzag(u: np.ndarray) -> np.ndarray:
    return (u >> np.uint64(1)).view(np.int64) ^ -(u & np.uint64(1)).view(np.int64)


def _cost(u: np.ndarray) -> np.ndarray:
    return np.log2(u.astype(np.float64) + 1.0)


def column_segments(cols: np.ndarray, num_cols: int):
    """Stable order grouping values by column, and each column's [start, end)."""
    order = np.argsort(cols, kind="stable")
    counts = np.bincount(cols, minlength=num_cols)
    ends = np.cumsum(counts)
    return order, ends - counts, ends


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


def encode_numbers(values: np.ndarray, widths: np.ndarray, cols: np.ndarray,
                    num_cols: int) -> tuple[bytes, bytes, bytes]:
    """Per column: raw, delta or dictionary coding (whichever the bit-cost estimate favours),
    zigzag, byte planes; all columns at once.  Dictionary coding sends repeated values as
    back-references (0 = a new value, k = the value introduced k distinct values ago).  Digit
    widths are stored once per column when constant, else per value.
    Returns (column metadata, planes: codes then dictionary values, zero padding)."""
    if values.size == 0:
        return bytes(META * num_cols), b"", b""
    order, starts, ends = column_segments(cols, num_cols)
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
    meta = np.zeros((num_cols, META), dtype=np.uint8)
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


def decode_numbers(meta_raw: bytes, planes: bytes, pads_raw: bytes, cols: np.ndarray,
                    num_cols: int) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of encode_numbers: (values, digit widths) in text order."""
    order, starts, ends = column_segments(cols, num_cols)
    counts = ends - starts
    col = cols[order]
    k = np.arange(col.size) - np.repeat(starts, counts)
    meta = np.frombuffer(meta_raw, dtype=np.uint8).reshape(num_cols, META).astype(np.int64)
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

