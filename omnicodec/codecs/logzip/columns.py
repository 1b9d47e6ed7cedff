"""Logzip's numeric columns: the digit runs of a block, grouped into columns and coded as byte
planes (LogReducer FAST'21, LogShrink ICSE'24, Denum ASE'24).

    values in text order ─→ grouped by column (stable) ─→ per column, whichever of
        raw       zigzag(v)
        delta     zigzag(v - previous value of the column)
        dictionary  0 = a new value, k = the value introduced k distinct values ago
    the bit-cost estimate favours ─→ little-endian byte planes, plane-major per column

Column metadata is 3 bytes per column: ``mode << 4 | planes``, the fixed digit width (0: it
varies, and a padding stream holds each value's leading zeros), the dictionary's planes.
Decoding is the kernel job ``omnicodec.kernels.logs.numbers``.
"""

from __future__ import annotations

import numpy as np

from ...kernels.logs import DELTA_COL, DICT_COL, META, RAW_COL, column_segments, digits, seg_cumsum

_BYTE_LIMITS = np.array([1 << (8 * i) for i in range(1, 8)], dtype=np.uint64)


def _zigzag(x: np.ndarray) -> np.ndarray:
    return ((x << 1) ^ (x >> 63)).view(np.uint64)




def _cost(u: np.ndarray) -> np.ndarray:
    return np.log2(u.astype(np.float64) + 1.0)




def _nbytes(u: np.ndarray) -> np.ndarray:
    """Bytes needed for each uint64 (at least 1)."""
    return np.searchsorted(_BYTE_LIMITS, u, side="right") + 1




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
    rank = seg_cumsum(new.astype(np.int64), starts, counts) - 1
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
    pads = (w - digits(v))[~fixed[col]].astype(np.uint8)
    return meta.tobytes(), b"".join(parts), pads.tobytes()
