"""Logzip's decoding jobs: a block's number columns back to values, and its lines back to text.

``numbers[twin](meta, planes, pads, cols, num_cols) -> (values, widths)``: the inverse of
``codecs.logzip.columns.encode_numbers`` (that module's docstring has the layout), every value
and its digit width in text order; ``cols`` is the column of every number slot in text order.
A mixed-radix column (MIXED_COL) stores nothing: its values are the remainders of the column
before it (the number slot just before each of its slots), whose stored values are
``previous * radix + value``; chains of them split from the last.

``render[twin](lines, pieces, numbers, hexes, outliers) -> uint8 text``: a block's text.  Every
argument is a small tuple of arrays (see ``render``'s docstring); a line is its template's
pieces with its slots between them (numbers in decimal, zero-padded to their widths; hex tokens
copied), or an outlier line copied, then its line end.

Both jobs check their inputs and raise ValueError on a corrupt stream, before or instead of
reading out of bounds.  The NumPy twins are vectorized (index arrays, chunked); the compiled
twins are sequential loops, one pass over the block, which is what decoding needs: 15 MB of
generated log renders in 0.04 s compiled against 0.2 s vectorized.  There is no GPU form: a
GPU would only receive the same sequential loop, so ``cuda`` runs the CPU twin.
"""

from __future__ import annotations

import numpy as np

from . import Twins, cpu_device, rebind

RAW_COL, DELTA_COL, DICT_COL, MIXED_COL = range(4)
META = 3  # bytes of column metadata: mode << 4 | planes, fixed digit width (0: varies), dict planes
# a MIXED_COL column's radix is (byte 2 + 1) << (byte 0 & 15): up to 2**23, at most 0.4% above
# the value that it must exceed
MAX_VALUE = 10 ** 18  # digit runs are at most 18 digits
CHUNK = 1 << 22  # output bytes per NumPy gather (its index arrays are 8 bytes per output byte)
_POW10 = 10 ** np.arange(1, 19, dtype=np.int64)


def starts(counts: np.ndarray) -> np.ndarray:
    """Where each run of these lengths starts when they are laid back to back."""
    return (np.cumsum(counts) - counts).astype(np.int64)


def within(counts: np.ndarray) -> np.ndarray:
    """0..c-1 for each run length c, back to back."""
    return np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(starts(counts), counts)


def column_segments(cols: np.ndarray, num_cols: int):
    """Stable order grouping values by column, and each column's [start, end).  Column ids
    below 2**16 sort as uint16 (NumPy's radix sort: the same stable order, 10x faster)."""
    order = np.argsort(cols.astype(np.uint16) if num_cols <= 1 << 16 else cols, kind="stable")
    counts = np.bincount(cols, minlength=num_cols)
    ends = np.cumsum(counts)
    return order, ends - counts, ends


def seg_cumsum(x: np.ndarray, first: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Cumulative sum restarting at every segment (int64 arithmetic wraps consistently)."""
    cs = np.cumsum(x)
    before = np.concatenate([[0], cs])[first]
    return cs - np.repeat(before, counts)


def unzigzag(u: np.ndarray) -> np.ndarray:
    return (u >> np.uint64(1)).view(np.int64) ^ -(u & np.uint64(1)).view(np.int64)


def digits(v: np.ndarray) -> np.ndarray:
    """Decimal digits of each value (1 for 0 and below)."""
    return np.searchsorted(_POW10, v, side="right") + 1


# ---------------------------------------------------------------------------- numbers


def gather_planes(buf, start, seg, k, n_seg, w_seg) -> tuple[np.ndarray, int]:
    """The values of segments of n_seg[s] values in w_seg[s] little-endian byte planes from
    ``start`` (segment ``seg``, index ``k`` in it), and where the planes end."""
    size = n_seg * w_seg
    end = start + int(size.sum())
    if end > buf.size:
        raise ValueError("logzip: number stream is too short")
    off = start + np.cumsum(size) - size
    full = np.zeros((seg.size, 8), dtype=np.uint8)
    base, n, w = off[seg] + k, n_seg[seg], w_seg[seg]
    for j in range(8):
        m = w > j
        if not m.any():
            break
        full[m, j] = buf[base[m] + j * n[m]]
    return full.view(np.uint64).ravel(), end


def _numbers_numpy(meta, buf, pads, cols, num_cols, radix):
    order, first, ends = column_segments(cols, num_cols)
    counts = ends - first
    col = cols[order]
    k = np.arange(col.size) - np.repeat(first, counts)
    mode, width = meta[:, 0] >> 4, np.where(radix > 0, 0, meta[:, 0] & 15)
    used = (counts > 0) & (radix == 0)
    if np.any(used & ((width < 1) | (width > 8) | (mode > DICT_COL))):
        raise ValueError("logzip: number column metadata is malformed")
    u, pos = gather_planes(buf, 0, col, k, counts, np.where(used, width, 0))
    m = mode[col]
    values = unzigzag(u)
    new = u == 0
    is_dict = m == DICT_COL
    if is_dict.any():
        ucol = col[is_dict & new]
        ucount = np.bincount(ucol, minlength=num_cols)
        ustart = np.cumsum(ucount) - ucount
        uw = np.where(ucount > 0, meta[:, 2], 0)
        if np.any((ucount > 0) & ((uw < 1) | (uw > 8))):
            raise ValueError("logzip: dictionary metadata is malformed")
        uniq, pos = gather_planes(buf, pos, ucol, np.arange(ucol.size) - ustart[ucol], ucount, uw)
        seen = seg_cumsum(new.astype(np.int64), first, counts) - new
        ids = np.where(new, seen, seen - u.astype(np.int64))
        if np.any(is_dict & ((ids < 0) | (ids >= ucount[col]))):
            raise ValueError("logzip: dictionary reference out of range")
        looked = unzigzag(uniq)[np.where(is_dict, ustart[col] + ids, 0)] if uniq.size else values
        values = np.where(is_dict, looked, values)
    if pos != buf.size:
        raise ValueError("logzip: number stream has trailing bytes")
    values = np.where(m == DELTA_COL, seg_cumsum(values, first, counts), values)
    for c in np.flatnonzero(radix)[::-1].tolist():  # split each chain from its last column
        head = c - 1
        while radix[head]:
            head -= 1
        stored = values[first[head]:ends[head]]
        values[first[c]:ends[c]] = stored % radix[c]
        values[first[head]:ends[head]] = stored // radix[c]
    fixed = meta[:, 1][col]
    varies = fixed == 0
    if pads.size != int(varies.sum()):
        raise ValueError("logzip: padding stream has the wrong length")
    widths = fixed.copy()
    widths[varies] = digits(values[varies]) + pads
    out_v, out_w = np.empty_like(values), np.empty_like(widths)
    out_v[order], out_w[order] = values, widths
    return out_v, out_w


def _read(buf, at, n, w, k):
    """Value k of an area of n values in w little-endian byte planes starting at ``at``."""
    u = np.uint64(0)
    for j in range(w):
        u |= np.uint64(buf[at + j * n + k]) << np.uint64(8 * j)
    return u


def _unzigzag1(u):
    return np.int64(u >> np.uint64(1)) ^ -np.int64(u & np.uint64(1))


def _numbers_loop(meta, buf, pads, cols, num_cols, radix, values, widths):
    """The compiled twin; returns 0, or a number naming what is malformed."""
    counts = np.zeros(num_cols, np.int64)
    for c in cols:
        counts[c] += 1
    code_at = np.zeros(num_cols, np.int64)
    pad_at = np.zeros(num_cols, np.int64)
    chain = np.zeros(num_cols, np.int64)  # mixed-radix columns after each column
    carry = np.zeros(num_cols, np.int64)
    pos = 0
    npads = 0
    for c in range(num_cols - 1, 0, -1):
        if radix[c]:
            chain[c - 1] = chain[c] + 1
    for c in range(num_cols):
        mode, w = meta[c, 0] >> 4, meta[c, 0] & 15
        if radix[c]:
            w = 0
        elif counts[c] and (w < 1 or w > 8 or mode > DICT_COL):
            return 1
        code_at[c] = pos
        if counts[c]:
            pos += counts[c] * w
        pad_at[c] = npads
        if meta[c, 1] == 0:
            npads += counts[c]
    if pos > buf.size:
        return 2
    ucount = np.zeros(num_cols, np.int64)
    dict_at = np.zeros(num_cols, np.int64)
    for c in range(num_cols):
        if counts[c] and meta[c, 0] >> 4 == DICT_COL:
            for k in range(counts[c]):
                if _read(buf, code_at[c], counts[c], meta[c, 0] & 15, k) == 0:
                    ucount[c] += 1
            if meta[c, 2] < 1 or meta[c, 2] > 8:
                if ucount[c]:
                    return 3
        dict_at[c] = pos
        if ucount[c]:
            pos += ucount[c] * meta[c, 2]
    if pos != buf.size:
        return 2
    if npads != pads.size:
        return 5
    seen = np.zeros(num_cols, np.int64)
    prev = np.zeros(num_cols, np.int64)
    k_of = np.zeros(num_cols, np.int64)
    for i in range(cols.size):
        c = cols[i]
        k = k_of[c]
        k_of[c] = k + 1
        if radix[c]:
            v = carry[c]
        else:
            mode = meta[c, 0] >> 4
            u = _read(buf, code_at[c], counts[c], meta[c, 0] & 15, k)
            if mode == DICT_COL:
                if u == 0:
                    ref = seen[c]
                    seen[c] += 1
                else:
                    ref = seen[c] - np.int64(u)
                    if ref < 0 or ref >= ucount[c]:
                        return 4
                v = _unzigzag1(_read(buf, dict_at[c], ucount[c], meta[c, 2], ref))
            else:
                v = _unzigzag1(u)
                if mode == DELTA_COL:
                    v += prev[c]
                    prev[c] = v
            for j in range(c + chain[c], c, -1):  # the mixed-radix columns after this one
                carry[j] = v % radix[j]  # floor division, in numba as in NumPy
                v //= radix[j]
        values[i] = v
        if meta[c, 1]:
            widths[i] = meta[c, 1]
        else:
            d = 1
            p = np.int64(10)
            while d < 19 and v >= p:
                d += 1
                p *= 10  # wraps past 10**18, where the loop has stopped
            widths[i] = d + pads[pad_at[c] + k]
    return 0


_NUMBER_ERRORS = {1: "number column metadata is malformed", 2: "number stream has the wrong length",
                  3: "dictionary metadata is malformed", 4: "dictionary reference out of range",
                  5: "padding stream has the wrong length"}


def follows_previous(cols: np.ndarray, num_cols: int) -> np.ndarray:
    """Which columns may be MIXED_COL columns: column c > 0 with as many slots as column c - 1,
    each right after one of that column's in ``cols`` (text order), so that the two pair up."""
    counts = np.bincount(cols, minlength=num_cols)
    before = np.concatenate([[-1], cols[:-1]])
    apart = np.bincount(cols, weights=before != cols - 1, minlength=num_cols) > 0
    ok = ~apart & (counts == np.concatenate([[-1], counts[:-1]]))
    ok[:1] = False
    return ok


def radixes(meta: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Each column's radix (0: not a MIXED_COL column), checked: a mixed-radix column follows
    its column (``follows_previous``), so the two twins pair the same values."""
    mixed = (meta[:, 0] >> 4) == MIXED_COL
    radix = np.where(mixed, (meta[:, 2] + 1) << (meta[:, 0] & 15), 0)
    if mixed.any() and np.any(mixed & ~follows_previous(cols, mixed.size)):
        raise ValueError("logzip: a mixed-radix column does not follow its column")
    return radix


def _numbers_entry(run):
    def numbers(meta, planes, pads, cols, num_cols):
        meta = np.frombuffer(meta, np.uint8).reshape(num_cols, META).astype(np.int64)
        buf, pad = np.frombuffer(planes, np.uint8), np.frombuffer(pads, np.uint8).astype(np.int64)
        cols = np.asarray(cols, np.int64)
        return run(meta, buf, pad, cols, int(num_cols), radixes(meta, cols))
    return numbers


def _numbers_cpu():
    from numba import njit

    loop = njit(cache=True)(rebind(_numbers_loop, _read=cpu_device(_read, inline=True),
                                   _unzigzag1=cpu_device(_unzigzag1, inline=True)))

    def run(meta, buf, pads, cols, num_cols, radix):
        values, widths = np.empty(cols.size, np.int64), np.empty(cols.size, np.int64)
        err = loop(meta, buf, pads, cols, num_cols, radix, values, widths)
        if err:
            raise ValueError(f"logzip: {_NUMBER_ERRORS[err]}")
        return values, widths
    return _numbers_entry(run)


numbers = Twins(_numbers_entry(_numbers_numpy), _numbers_cpu, _numbers_cpu)


# ---------------------------------------------------------------------------- render


def _copy_numpy(src, first, lengths, out, dst):
    """out[dst[i]:dst[i] + lengths[i]] = src[first[i]:first[i] + lengths[i]] for every i."""
    lo = 0
    while lo < first.size:  # whole slices, about CHUNK output bytes at a time
        hi = max(lo + 1, int(np.searchsorted(dst, dst[lo] + CHUNK)))
        base, end = int(dst[lo]), int(dst[hi - 1] + lengths[hi - 1])
        index = np.repeat(first[lo:hi] - (dst[lo:hi] - base), lengths[lo:hi]) + np.arange(end - base)
        out[base:end] = src[index]
        lo = hi


def _decimal_numpy(values, widths):
    """Each value in decimal, zero-padded to its width, back to back: one (values, width)
    matrix of digits per distinct width, scattered to the values' places."""
    if np.any(widths < digits(values)):
        raise ValueError("logzip: a number does not fit its width")
    out = np.empty(int(widths.sum()), np.uint8)
    dst = starts(widths)
    for w in np.unique(widths).tolist():
        at = np.flatnonzero(widths == w)
        d = min(w, 19)  # digit columns (values < 10**18); wider means leading zeros
        rows = dst[at, None]
        out[rows + np.arange(w - d, w)] = values[at, None] // 10 ** np.arange(d - 1, -1, -1, dtype=np.int64) % 10 + 48
        if w > d:
            out[rows + np.arange(w - d)] = 48
    return out


def _render_numpy(total, lines, pieces, numbers, hexes, outliers):
    tids, normal, cr, final_nl = lines
    text, piece_at, piece_len, first_piece, count = pieces
    values, widths, is_num = numbers
    hex_src, hex_at, hex_len = hexes
    out_src, out_at, out_len = outliers
    digit_bytes = _decimal_numpy(values, widths)
    # the source of every byte: pieces | digits | hex tokens | outlier lines | "\r\n"
    base = np.cumsum([text.size, digit_bytes.size, hex_src.size, out_src.size])
    source = np.concatenate([text, digit_bytes, hex_src, out_src, np.frombuffer(b"\r\n", np.uint8)])
    cell_at, cell_len = np.empty(is_num.size, np.int64), np.empty(is_num.size, np.int64)
    cell_at[is_num], cell_len[is_num] = base[0] + starts(widths), widths
    cell_at[~is_num], cell_len[~is_num] = base[1] + hex_at, hex_len
    n = normal.size
    k = np.zeros(n, dtype=np.int64)
    k[normal] = count[tids]
    piece = np.empty(n, dtype=np.int64)  # each line's first entry in the table of pieces
    piece[normal] = first_piece[tids]
    piece[~normal] = piece_len.size + np.arange(out_at.size)
    table_at = np.concatenate([piece_at, base[2] + out_at])
    table_len = np.concatenate([piece_len, out_len])
    first = starts(2 * k + 2)  # a line is pieces and slots alternating, then its end
    at_ = np.empty(int(2 * k.sum() + 2 * n), dtype=np.int64)
    length = np.empty_like(at_)
    where = np.repeat(first, k + 1) + 2 * within(k + 1)
    entry = np.repeat(piece, k + 1) + within(k + 1)
    at_[where], length[where] = table_at[entry], table_len[entry]
    where = np.repeat(first, k) + 2 * within(k) + 1
    at_[where], length[where] = cell_at, cell_len
    end_len = 1 + cr.astype(np.int64)
    if n and not final_nl:
        end_len[-1] -= 1
    at_[first + 2 * k + 1], length[first + 2 * k + 1] = base[3] + 1 - cr, end_len
    out = np.empty(total, np.uint8)
    if total:
        _copy_numpy(source, at_, length, out, starts(length))
    return out


def _put(out, p, src, at, n):
    """out[p:p + n] = src[at:at + n]; the position after."""
    for q in range(n):
        out[p + q] = src[at + q]
    return p + n


def _render_loop(tids, normal, cr, final_nl, text, piece_at, piece_len, first_piece, count,
                 values, widths, is_num, hex_src, hex_at, hex_len, out_src, out_at, out_len, out):
    p = ti = slot = nv = nh = no = 0
    n = normal.size
    for line in range(n):
        if normal[line]:
            t = tids[ti]
            ti += 1
            f = first_piece[t]
            for j in range(count[t] + 1):
                if j:
                    if is_num[slot]:
                        v, w = values[nv], widths[nv]
                        nv += 1
                        for q in range(w - 1, -1, -1):
                            out[p + q] = 48 + v % 10
                            v //= 10
                        if v:
                            return -1  # wider than its width
                        p += w
                    else:
                        p = _put(out, p, hex_src, hex_at[nh], hex_len[nh])
                        nh += 1
                    slot += 1
                p = _put(out, p, text, piece_at[f + j], piece_len[f + j])
        else:
            p = _put(out, p, out_src, out_at[no], out_len[no])
            no += 1
        if cr[line]:
            out[p] = 13
            p += 1
        if line < n - 1 or final_nl:
            out[p] = 10
            p += 1
    return p


def _render_cpu():
    from numba import njit

    loop = njit(cache=True)(rebind(_render_loop, _put=cpu_device(_put, inline=True)))

    def run(total, lines, pieces, numbers, hexes, outliers):
        out = np.empty(total, np.uint8)
        if loop(*lines, *pieces, *numbers, *hexes, *outliers, out) != total:
            raise ValueError("logzip: a number does not fit its width")
        return out
    return run


def _render_entry(run):
    def render(lines, pieces, numbers, hexes, outliers, cap, rows=None):
        """``lines`` = (template id of each normal line, which lines are normal, which end in
        \\r, whether the last ends in \\n); ``pieces`` = (the templates' text, each piece's start
        and length in it, each template's first piece, its slot count); ``numbers`` = (values,
        widths, which slots are numbers); ``hexes`` and ``outliers`` = (their stream, each
        token's start and length), the hex tokens in text order.  ``cap``: the most bytes the
        text may have.  ``rows`` (bool per line): only those lines, each with its line end,
        back to back (the whole block is checked all the same)."""
        tids, normal, cr, final_nl = lines
        text, piece_at, piece_len, first_piece, count = pieces
        values, widths, is_num = numbers
        hex_src, hex_at, hex_len = hexes
        out_src, out_at, out_len = outliers
        n = normal.size
        if tids.size != int(normal.sum()) or cr.size != n or out_at.size != n - tids.size:
            raise ValueError("logzip: line streams disagree")
        if tids.size and (tids.min() < 0 or tids.max() >= count.size):
            raise ValueError("logzip: template id out of range")
        slots = count[tids]
        if (is_num.size != int(slots.sum()) or values.size != int(is_num.sum())
                or hex_at.size != is_num.size - values.size):
            raise ValueError("logzip: slot streams disagree")
        if values.size and (values.min() < 0 or values.max() >= MAX_VALUE or widths.min() < 1):
            raise ValueError("logzip: a number is out of range")  # the twins check it fits its width
        for src, at, length in ((hex_src, hex_at, hex_len), (out_src, out_at, out_len)):
            if at.size and (at.min() < 0 or length.min() < 0 or (at + length).max() > src.size):
                raise ValueError("logzip: a token lies outside its stream")
        per_template = np.add.reduceat(piece_len, first_piece) if piece_len.size else piece_len
        total = (int(per_template[tids].sum()) + int(widths.sum()) + int(hex_len.sum()) + int(out_len.sum())
                 + int(cr.sum()) + max(0, n - 1 + bool(final_nl)))
        if total > cap:
            raise ValueError("logzip: the block is longer than its index says")
        if rows is not None:
            total, lines, numbers, hexes, outliers = _select(rows, lines, numbers, hexes, outliers, slots,
                                                             per_template)
        return run(total, lines, pieces, numbers, hexes, outliers)
    return render


def _select(rows, lines, numbers, hexes, outliers, slots, per_template):
    """``render``'s arguments (checked) narrowed to the lines ``rows`` picks, and their length."""
    tids, normal, cr, final_nl = lines
    values, widths, is_num = numbers
    hex_src, hex_at, hex_len = hexes
    out_src, out_at, out_len = outliers
    if rows.size != normal.size:
        raise ValueError("logzip: line selection has the wrong length")
    in_slot = np.repeat(rows[normal], slots)
    in_num, in_hex, in_out = in_slot[is_num], in_slot[~is_num], rows[~normal]
    tids, widths, hex_len, out_len = tids[rows[normal]], widths[in_num], hex_len[in_hex], out_len[in_out]
    final_nl = bool(final_nl or (rows.size and not rows[-1]))  # a line before the last has its \n
    n = int(rows.sum())
    total = (int(per_template[tids].sum()) + int(widths.sum()) + int(hex_len.sum()) + int(out_len.sum())
             + int(cr[rows].sum()) + max(0, n - 1 + final_nl))
    return (total, (tids, normal[rows], cr[rows], final_nl), (values[in_num], widths, is_num[in_slot]),
            (hex_src, hex_at[in_hex], hex_len), (out_src, out_at[in_out], out_len))


render = Twins(_render_entry(_render_numpy), lambda: _render_entry(_render_cpu()),
               lambda: _render_entry(_render_cpu()))
