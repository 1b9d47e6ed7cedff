"""Logzip's numeric columns: the digit runs of a block, grouped into columns and coded as byte
planes (LogReducer FAST'21, LogShrink ICSE'24, Denum ASE'24).

    values in text order ─→ grouped by column (stable)
        ─→ mixed radix: a column whose every value comes right after one of the column before
           it, and that wraps around when that one goes up (seconds after minutes, a counter's
           low digits), folds into it as ``before * radix + value`` where that is smaller;
           from structure 6 on, so do columns whose values repeat together (an address's
           octets), where the dictionary of the joined values is smaller
        ─→ per column, whichever of
              raw         zigzag(v)
              delta       zigzag(v - previous value of the column)
              dictionary  0 = a new value, k = the value introduced k distinct values ago
           the bit-cost estimate favours ─→ little-endian byte planes, plane-major per column

Column metadata is 3 bytes per column: ``mode << 4 | planes``, the fixed digit width (0: it
varies, and a padding stream holds each value's leading zeros), the dictionary's planes; a
folded (mixed-radix) column stores no planes, and its radix in bytes 0 and 2
(``kernels.logs``).  Decoding is the kernel job ``omnicodec.kernels.logs.numbers``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ...kernels import kernel
from ...kernels.colcm import MAX_BITS
from ...kernels.logs import (
    DELTA_COL,
    DICT_COL,
    META,
    MIXED_COL,
    RAW_COL,
    column_segments,
    digits,
    follows_previous,
    gather_planes,
    seg_cumsum,
    within,
)

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


def encode_numbers(values: np.ndarray, widths: np.ndarray, cols: np.ndarray, num_cols: int, mixed: bool = False,
                   joint: Callable[[bytes, bytes], int] | None = None) -> tuple[bytes, bytes, bytes]:
    """Per column: raw, delta or dictionary coding (whichever the bit-cost estimate favours),
    zigzag, byte planes; all columns at once.  Dictionary coding sends repeated values as
    back-references (0 = a new value, k = the value introduced k distinct values ago).  Digit
    widths are stored once per column when constant, else per value.  With ``mixed``, columns
    are first folded into the column before them where that is smaller (``fold``).  With
    ``joint``, a cost of (metadata, planes) such as their PPMd size, columns whose values
    repeat together are also folded where that costs less than not (the bit estimates
    misjudge columns that PPMd predicts from each other).
    Returns (column metadata, planes: codes then dictionary values, zero padding)."""
    if values.size == 0:
        return bytes(META * num_cols), b"", b""
    order, starts, ends = column_segments(cols, num_cols)
    meta = np.zeros((num_cols, META), dtype=np.uint8)
    w, col = widths[order], cols[order]
    lo, hi = np.full(num_cols, 1 << 30), np.zeros(num_cols, dtype=np.int64)
    np.minimum.at(lo, col, w)
    np.maximum.at(hi, col, w)
    fixed = (lo == hi) & (hi < 256)
    meta[:, 1] = np.where(fixed, hi, 0)
    pads = (w - digits(values[order]))[~fixed[col]].astype(np.uint8)
    if not mixed:
        return (*_coded(values, cols, np.zeros(num_cols, dtype=np.int64), meta), pads.tobytes())
    radix, folded, any_joint = fold(values, cols, order, starts, ends, joint is not None)
    if any_joint:  # compared on the chains that differ, coded alone
        plain = fold(values, cols, order, starts, ends)[:2]
        linked = (radix > 0) | (plain[0] > 0)
        chain = np.cumsum(~linked)  # columns joined to the one before share its number
        part = np.isin(chain[cols], chain[radix != plain[0]])
        apart = joint(*_coded(plain[1][part], cols[part], plain[0], meta))
        if apart <= joint(*_coded(folded[part], cols[part], radix, meta)):
            radix, folded = plain
    return (*_coded(folded, cols, radix, meta), pads.tobytes())


def _coded(values: np.ndarray, cols: np.ndarray, radix: np.ndarray, meta: np.ndarray) -> tuple[bytes, bytes]:
    """(column metadata, planes) of values whose folded columns (``radix``) are left out."""
    num_cols = radix.size
    kept = radix[cols] == 0
    values, cols = values[kept], cols[kept]
    order, starts, ends = column_segments(cols, num_cols)
    meta = meta.copy()
    coded, planes = _code_columns(values[order], cols[order], starts, ends, num_cols)
    meta[:, 0], meta[:, 2] = coded[:, 0], coded[:, 1]
    for c in np.flatnonzero(radix).tolist():
        e = _exponent(int(radix[c]))
        meta[c, 0], meta[c, 2] = MIXED_COL << 4 | e, (radix[c] >> e) - 1
    return meta.tobytes(), planes


def _code_columns(v, col, starts, ends, num_cols) -> tuple[np.ndarray, bytes]:
    """(bytes 0 and 2 of each column's metadata, the planes) of values grouped by column."""
    counts = ends - starts
    pos = np.arange(v.size)
    k = pos - np.repeat(starts, counts)
    raw = _zigzag(v)
    prev = np.concatenate([[0], v[:-1]])
    prev[k == 0] = 0
    delta = _zigzag(v - prev)
    codes, new = _dict_codes(v, col, starts, counts)
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
    coded = np.zeros((num_cols, 2), dtype=np.uint8)
    coded[:, 0] = (mode << 4) | np.where(counts > 0, wmax, 0)
    parts = [_scatter_planes(u, col, k, counts, wmax)]
    in_dict = new & (m == DICT_COL)
    if in_dict.any():
        ucol = col[in_dict]
        ucount = np.bincount(ucol, minlength=num_cols)
        ustart = np.cumsum(ucount) - ucount
        uk = np.arange(ucol.size) - ustart[ucol]
        uw = np.zeros(num_cols, dtype=np.int64)
        np.maximum.at(uw, ucol, _nbytes(raw[in_dict]))
        coded[:, 1] = uw
        parts.append(_scatter_planes(raw[in_dict], ucol, uk, ucount, uw))
    return coded, b"".join(parts)


def _dict_codes(v, col, starts, counts) -> tuple[np.ndarray, np.ndarray]:
    """Dictionary codes (uint64) of values grouped by column: 0 for a value new to its column,
    k for the value introduced k distinct values ago; and which values are new."""
    pos = np.arange(v.size)
    idx = np.lexsort((v, col))  # by column, then value; ties keep text order
    sv, sc = v[idx], col[idx]
    group_start = np.concatenate([[True], (sv[1:] != sv[:-1]) | (sc[1:] != sc[:-1])])
    first = np.empty(v.size, dtype=np.int64)
    first[idx] = idx[group_start][np.cumsum(group_start) - 1]
    new = first == pos
    rank = seg_cumsum(new.astype(np.int64), starts, counts) - 1
    seen = rank + 1 - new
    return np.where(new, 0, seen - rank[first]).astype(np.uint64), new


def fold(values, cols, order, starts, ends, joint: bool = False) -> tuple[np.ndarray, np.ndarray, bool]:
    """Mixed radix: (each column's radix, 0 where it stays a column of its own; the values with
    every folded column's joined into its chain's first column; whether a joint chain formed).
    Column c folds into column c - 1 where each of its values comes right after one of
    c - 1's (in text order, so the two have as many), where c drops mostly when c - 1 goes up
    (it wraps around, as seconds do when the minute turns), and where the joined values'
    byte planes cost fewer bits.

    With ``joint``, a column that does not wrap (or follows a joint chain) also folds where
    the columns' values repeat together, as an IPv4 address's octets or a version's parts
    do: joined, a dictionary codes each combination once (``_dict_bits``), where apart each
    octet costs its own bits on every line.  A joint chain takes no wrapping column and a
    wrapping chain no joint one; a constant column stays apart (it costs nothing there)."""
    num_cols = starts.size
    counts = ends - starts
    v = values[order]
    radix = np.zeros(num_cols, dtype=np.int64)
    head = np.arange(num_cols)
    bits: dict[int, float] = {}  # the estimate of each chain's joined values so far
    alone: dict[int, float] = {}  # the estimate of a column coded on its own, either way
    chained, joint_chain = np.zeros(num_cols, bool), np.zeros(num_cols, bool)
    cands = np.flatnonzero(follows_previous(cols, num_cols))
    wrapping = set(_wrapping(v, starts, counts, cands))
    for c in cands[counts[cands] > 1].tolist():
        h = head[c - 1]
        as_joint = joint and (joint_chain[h] or (c not in wrapping and not chained[h]))
        if not as_joint and (c not in wrapping or joint_chain[h]):
            continue
        b, stored = v[starts[c]:ends[c]], v[starts[h]:ends[h]]
        r = _radix(int(b.max()) + 1)
        if r > MAX_RADIX or int(stored.max()) >= (1 << 62) // r:
            continue
        joined = stored * r + b
        if as_joint:
            if counts[c] < JOINT_MIN or b.min() == b.max() or stored.min() == stored.max():
                continue
            cost = _dict_bits(joined)
            if not joint_chain[h] and h not in alone:
                alone[h] = _best_bits(stored)
            alone[c] = _best_bits(b)
            apart = (bits[h] if joint_chain[h] else alone[h]) + alone[c]
        else:
            cost = _plane_bits(joined)
            if h not in bits:
                bits[h] = _plane_bits(stored)
            apart = bits[h] + _plane_bits(b)
        if cost < apart:
            v[starts[h]:ends[h]], radix[c], head[c], bits[h] = joined, r, h, cost
            chained[h], joint_chain[h] = True, as_joint
    out = np.empty_like(values)
    out[order] = v
    return radix, out, bool(joint_chain.any())


MAX_RADIX = 256 << 15
JOINT_MIN = 16  # fewer values than this, and a joint fold saves a few bytes at most


def _wrapping(v, starts, counts, cands) -> list[int]:
    """The columns c of ``cands`` (each as long as column c - 1; ``v`` grouped by column) whose
    value drops at least once, and where it drops, column c - 1 mostly goes up."""
    cands = cands[counts[cands] > 1]
    n = counts[cands] - 1  # steps of each candidate
    step = np.repeat(starts[cands - 1], n) + within(n)  # the steps of the columns before
    at = step + np.repeat(starts[cands] - starts[cands - 1], n)  # and of the candidates
    drops = v[at + 1] < v[at]
    owner = np.repeat(np.arange(cands.size), n)
    dropped = np.bincount(owner[drops], minlength=cands.size)
    carried = np.bincount(owner[drops & (v[step + 1] > v[step])], minlength=cands.size)
    return cands[(dropped > 0) & (2 * carried >= dropped)].tolist()


def _radix(n: int) -> int:
    """The smallest radix of the metadata's form, (m + 1) << e with m < 256, that is n or more."""
    e = _exponent(n)
    return -(-n >> e) << e


def _exponent(n: int) -> int:
    return max(0, (n - 1).bit_length() - 8)


def _plane_bits(x: np.ndarray) -> float:
    """Estimated bits of a column's byte planes, raw or delta coded: each plane's order-0
    entropy, plus 8 bits for each distinct byte in it (what an adaptive coder pays to learn it)."""
    best = np.inf
    for u in (_zigzag(x), _zigzag(np.diff(x, prepend=0))):
        w = int(_nbytes(u).max())
        planes = u.view(np.uint8).reshape(-1, 8)[:, :w]
        counts = np.bincount((planes + np.arange(0, 256 * w, 256, dtype=np.int64)).ravel(), minlength=256 * w)
        counts = counts[counts > 0]
        bits = x.size * w * np.log2(x.size) - float((counts * np.log2(counts)).sum()) + 8 * counts.size
        best = min(best, bits)
    return best


def _dict_bits(x: np.ndarray) -> float:
    """Estimated bits of a column in dictionary mode (``_code_columns``): its codes (0 for a
    new value, else how many distinct values ago it came) and its distinct values, each as
    ``_plane_bits`` counts them."""
    codes, new = _dict_codes(x, np.zeros(x.size, np.int64), np.zeros(1, np.int64), np.array([x.size]))
    return _plane_bits(codes.astype(np.int64)) + _plane_bits(x[new])


def _best_bits(x: np.ndarray) -> float:
    return min(_plane_bits(x), _dict_bits(x))


# The number planes through context mixing a value at a time (logzip's structure 9, backend 7
# of backends.py): the values are read back out of the planes, coded with each value's line as
# context (``kernels.colcm``), and the decoder writes the same planes again.

def planes_cm(planes: bytes, meta: bytes, cols: np.ndarray, lines: np.ndarray, tids: np.ndarray) -> bytes | None:
    """The stored bytes of backend 7 for a block's number planes; ``cols`` and ``lines``: the
    column and the line (among the templated lines) of each number in text order; ``tids``:
    each templated line's template.  None where a value is too wide for the model (2**62 or
    more)."""
    rows, tid, ptid, ref = _cm_inputs(meta, cols, lines, tids)
    buf = np.frombuffer(planes, np.uint8)
    u, pos = gather_planes(buf, 0, *_segments(rows[:, 1]), rows[:, 1], rows[:, 2])
    zeros, dicts = _new_values(u, rows)
    dict_u, pos = gather_planes(buf, pos, *_segments(zeros), zeros, rows[dicts, 3])
    if pos != buf.size or (u.size and int(u.max()) >> MAX_BITS) or (dict_u.size and int(dict_u.max()) >> MAX_BITS):
        return None
    stored, ok = kernel("colcm", "code", which=_cm_twin())(u.astype(np.int64), tid, ptid, ref, rows,
                                                          dict_u.astype(np.int64), None, False)
    return stored if ok else None


def planes_uncm(stored: bytes, raw_len: int, meta: bytes, cols: np.ndarray, lines: np.ndarray,
                tids: np.ndarray) -> bytes:
    """The number planes (``raw_len`` bytes) from backend 7's stored bytes: ``planes_cm``'s
    inverse; a ValueError where they do not decode to values that fit the columns' metadata."""
    rows, tid, ptid, ref = _cm_inputs(meta, cols, lines, tids)
    if rows.size and (rows[:, 1] * rows[:, 2]).sum() > raw_len:
        raise ValueError("logzip: number columns exceed their stream")
    u = np.zeros(int(rows[:, 1].sum()), np.int64)
    dict_u = np.zeros(int(rows[rows[:, 3] > 0, 1].sum()), np.int64)
    found, ok = kernel("colcm", "code", which=_cm_twin())(u, tid, ptid, ref, rows, dict_u, stored, True)
    if not ok:
        raise ValueError("logzip: number stream does not decode (backend 7)")
    zeros, dicts = _new_values(u, rows)
    planes = _scatter_planes(u, *_segments(rows[:, 1]), rows[:, 1], rows[:, 2])
    planes += _scatter_planes(dict_u[:found], *_segments(zeros), zeros, rows[dicts, 3])
    if len(planes) != raw_len:
        raise ValueError("logzip: number stream decodes to the wrong length")
    return planes


def _cm_inputs(meta: bytes, cols: np.ndarray, lines: np.ndarray,
               tids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """What ``kernels.colcm`` codes the stored values with: a row per column with stored values
    (first value, count, byte width, dictionary byte width or 0), in stored order, as the
    number kernel reads the planes (``kernels.logs``: folded columns store none); and for each
    stored value its line's template, the template of the templated line before (-1: none),
    and the stored value of the column before it on its line (-1: none)."""
    m = np.frombuffer(meta, np.uint8).reshape(-1, META)
    order, first, ends = column_segments(cols, m.shape[0])
    counts = ends - first
    mode, width = m[:, 0] >> 4, (m[:, 0] & 15).astype(np.int64)
    used = (counts > 0) & (mode != MIXED_COL)
    dwidth = np.where(mode == DICT_COL, m[:, 2], 0).astype(np.int64)[used]
    if np.any((width[used] < 1) | (width[used] > 8) | (mode[used] > DICT_COL) | (dwidth > 8)):
        raise ValueError("logzip: number column metadata is malformed")
    n = counts[used]
    rows = np.stack([np.cumsum(n) - n, n, width[used], dwidth], axis=1).astype(np.int64).reshape(-1, 4)
    stored = order[used[cols[order]]]  # text-order index of each stored value
    line, col = lines[stored], cols[stored]
    before = np.concatenate([[-1], tids[:-1]])
    by_line = np.lexsort((col, line))
    ref = np.full(stored.size, -1, np.int64)
    same = line[by_line][1:] == line[by_line][:-1]
    ref[by_line[1:][same]] = by_line[:-1][same]
    return rows, tids[line], before[line], ref


def _segments(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For values in runs of ``counts``: each value's run and its index in the run."""
    return np.repeat(np.arange(counts.size), counts), within(counts)


def _new_values(u: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(how many new values each dictionary column has: its codes 0; which rows those are)."""
    dicts = np.flatnonzero(rows[:, 3])
    return np.array([int((u[rows[r, 0]:rows[r, 0] + rows[r, 1]] == 0).sum()) for r in dicts.tolist()],
                    np.int64), dicts


def _cm_twin() -> str | None:
    """The compiled twin unless OMNICODEC_KERNELS names another: the NumPy twin of a context
    mixer is plain Python, about 1000 times slower (the kernels' tests compare the two)."""
    import os

    return None if "OMNICODEC_KERNELS" in os.environ else "cpu"
