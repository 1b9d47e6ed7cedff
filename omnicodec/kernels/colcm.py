"""Context mixing of logzip's number columns, a value at a time, with each value's line as
context: ``code[twin](u, tid, ptid, ref, cols, dict_u, stored, decoding) -> (bytes or count,
ok)``.

A number column (``codecs/logzip/columns.py``) is a sequence of unsigned values: raw, delta or
dictionary codes, zigzagged.  As byte planes, a general-purpose compressor sees each byte with
the bytes before it as context; it cannot see which template the line holding a value has,
and in a log that says much about a number: the seconds since the last line are 0 inside a
burst of one template's lines and larger before another's, a process id repeats the one on
the last line of that template.  Here each value is binarized (its bit length ``nb``, 0-62, in
a 7-level binary tree, then the bits below its leading one, most significant first) and each
binary decision is predicted by NIN adaptive counters, each under a context hashed from the
decision's place (the tree node; or the bit length, the depth and the bits above) and one of:

    0  the column                             6  the previous two values (of any column)
    1  the column, this line's template id    7  the previous four values (of any column)
    2  the previous value (of any column)     8  the column, this line's template and the line
    3  the column, the template and the bit      before it's (``ptid``)
       length the column had on the last      9  the value a match over all values so far
       line of this template                     predicts (``_match``), and its length
    4  the column, the two previous bit       10  the column, and the value of the column
       lengths                                    before it on this line (``ref``: an index
    5  the column's last value on a line of       into ``u``, or -1)
       this template (in the tree), or its
       previous value (in the bits)

(values of up to SMALL bits are also context by their whole prefix: inputs 3-5 in the bits).
The contexts without the column let columns learn from each other: a log's many timestamp or
pid columns (one per template prefix) hold the same kind of values.  Three gated linear mixers
in the logistic domain (one weight set per decision kind, one per column and kind, one per
template and kind) average their outputs, an APM (an adaptive map of the probability, by
column and place) refines it, and a binary arithmetic coder (32-bit, 12-bit probabilities:
Mahoney's lpaq1 coder, carry-less) codes the bit.

Everything is integer arithmetic (``_squash``'s interpolation table and its inverse), so the CPU
twin (numba) and the NumPy twin (the same Python source, run uncompiled: slow, the reference in
the tests) give the same bytes on any machine.

``cols`` rows are (first value in ``u``, count, byte width, dictionary byte width or 0), one per
stored column in stored order; ``u``, ``tid``, ``ptid`` and ``ref`` have one entry per value in
stored order (``ref`` pointing to an earlier column); ``dict_u`` (its capacity: the dictionary
columns' counts) receives each dictionary column's new values, which follow its codes in the
coded order (one per code 0).  Encoding
(``decoding`` False) returns the coded bytes; decoding fills ``u`` and ``dict_u`` from ``stored``
and returns how many dictionary values it wrote.  ``ok`` is False where a value does not fit
its column's width or MAX_BITS (a damaged stream: the decoder reads at most 68 decisions a
value, and 0xFF past the end of ``stored``).
"""

from __future__ import annotations

import numpy as np

from . import Twins, cpu_device

NIN = 11  # counters (inputs to the mixers) per decision
TBITS = 22  # log2 of the counters' table, hashed, shared by all inputs: 12 MB
ABITS = 16  # log2 of the APM's contexts
APM_RATE = 6  # its adaptation: 1/64
LIMIT = 60  # a counter's adaptation count: its rate is 1 / (n + 1/2), down to 1/60.5
LR = 60  # the mixers' learning rate (weights in 1/65536, stretch in 1/256, error in 1/4096)
W0 = 9830  # each weight's start: 0.15 (a sum of 1.6 over the inputs: new columns start unsure)
KINDS = 17  # decision kinds: 7 tree levels, then depth 0-4 times small or not for the bits
COLUMN_SETS = 256  # the second mixer's weight sets per kind, by column (its low bits)
TEMPLATE_SETS = 256  # the third's, by the line's template
SMALL = 16  # values of up to this many bits get contexts of their whole prefix
MAX_BITS = 62  # values below 2**62 only (the encoder's caller checks; the decoder refuses more)
MAX_BYTES_PER_VALUE = 110  # the coder's output bound: 68 decisions of at most 12 bits
MEMORY = 24 << 20  # the tables: counters 12 MB, APM 6 MB, match 2 MB, weights and slack
_M32 = 0xFFFFFFFF


def _squash_table() -> np.ndarray:
    """squash(d) = 4096 / (1 + e^(-d/256)) for d = -2047..2047, interpolated from 33 knots."""
    knots = [1, 2, 3, 6, 10, 16, 27, 45, 73, 120, 194, 310, 488, 747, 1101, 1546, 2047, 2549, 2994, 3348,
             3607, 3785, 3901, 3975, 4022, 4050, 4068, 4079, 4085, 4089, 4092, 4093, 4094]
    out = np.zeros(4095, np.int64)
    for i, d in enumerate(range(-2047, 2048)):
        w, k = d & 127, (d >> 7) + 16
        out[i] = (knots[k] * (128 - w) + knots[k + 1] * w + 64) >> 7
    return out


def _stretch_table(squash: np.ndarray) -> np.ndarray:
    """ln(p / (1 - p)) in 1/256 for 12-bit p: squash's inverse."""
    out = np.full(4096, 2047, np.int64)
    pi = 0
    for x in range(-2047, 2048):
        v = int(squash[x + 2047])
        out[pi:v + 1] = x
        pi = max(pi, v + 1)
    return out


_SQUASH = _squash_table()
_STRETCH = _stretch_table(_SQUASH)
_RATE = np.array([0] + [int(65536 / (n + 0.5)) for n in range(1, LIMIT + 1)], np.int64)


def _mix(h, v):
    """A 32-bit hash of ``h`` (32 bits) and ``v`` (its low 32 bits), in int64 arithmetic."""
    h = ((h ^ (v & _M32)) * 0x2F0F3F35) & _M32
    return h ^ (h >> 15)


def _bit(bit, hashes, kind, actx, m, ac, buf, decoding):
    """Predict one decision from the counters at ``hashes`` (mixed by the weight sets of
    ``kind`` and of the column, then the APM at ``actx``), code ``bit`` (or decode it), update;
    returns the bit.  ``m``: the model's tables; ``ac``: x1, x2, x, position in ``buf``, column."""
    tp, tn, weights, apm, st, idx, squash, stretch, rate = m
    cset = KINDS * (1 + (ac[4] & (COLUMN_SETS - 1))) + kind
    tset = KINDS * (1 + COLUMN_SETS + (ac[5] & (TEMPLATE_SETS - 1))) + kind
    dot = 0
    for i in range(NIN):
        j = _mix(hashes[i], i + 1) >> (32 - TBITS)
        idx[i] = j
        st[i] = stretch[int(tp[j]) >> 4]
        dot += (weights[kind, i] + weights[cset, i] + weights[tset, i]) * st[i]
    d = (dot // 3) >> 16
    d = -2047 if d < -2047 else (2047 if d > 2047 else d)
    p0 = squash[d + 2047]
    a = (d + 2048) * 23
    aw = a & 0xFFF
    ai = (a >> 12) + (_mix(actx, 99) >> (32 - ABITS)) * 24
    p = (p0 + 3 * ((int(apm[ai]) * (4096 - aw) + int(apm[ai + 1]) * aw) >> 16)) >> 2
    p = 1 if p < 1 else (4095 if p > 4095 else p)
    x1, x2 = ac[0], ac[1]
    xmid = x1 + ((x2 - x1) >> 12) * p
    if decoding:
        bit = 1 if ac[2] <= xmid else 0
    if bit:
        x2 = xmid
    else:
        x1 = xmid + 1
    while ((x1 ^ x2) & 0xFF000000) == 0:
        if decoding:
            pos = ac[3]
            ac[2] = ((ac[2] << 8) & _M32) | (buf[pos] if pos < buf.size else 255)
            ac[3] = pos + 1
        else:
            buf[ac[3]] = x2 >> 24
            ac[3] += 1
        x1 = (x1 << 8) & _M32
        x2 = ((x2 << 8) & _M32) | 255
    ac[0], ac[1] = x1, x2
    g = (bit << 16) + (bit << APM_RATE) - bit - bit
    apm[ai] += (g - int(apm[ai])) >> APM_RATE
    apm[ai + 1] += (g - int(apm[ai + 1])) >> APM_RATE
    err = ((bit << 12) - p0) * LR
    for i in range(NIN):
        weights[kind, i] += (st[i] * err) >> 16
        weights[cset, i] += (st[i] * err) >> 16
        weights[tset, i] += (st[i] * err) >> 16
        j = idx[i]
        n = int(tn[j]) + 1 if tn[j] < LIMIT else LIMIT
        tn[j] = n
        q = int(tp[j]) + ((((bit << 16) - int(tp[j])) * rate[n]) >> 16)
        tp[j] = 64 if q < 64 else (65472 if q > 65472 else q)
    return bit


def _value(u, c, t, pt, e, r, col, last, base, hashes, m, ac, buf, decoding):
    """Code (or decode) value ``u`` of column key ``c`` on a line of template ``t`` (``pt``: the
    line before's), ``e`` the match's prediction; ``col``: the column's previous two bit lengths
    and last four values; ``last``: per template, the column key (+ 1), the value and the bit
    length of its last value there.  Returns the value, or -1 where a decoded bit length is
    over MAX_BITS."""
    has_last = last[t, 0] == c + 1
    lt_u = last[t, 1] if has_last else -1
    lt_nb = last[t, 2] if has_last else 127
    h2 = _mix(_mix(col[2], col[3]), 7)
    h4 = _mix(_mix(_mix(h2, col[4]), col[5]), 11)
    base[0] = _mix(c, 1)
    base[1] = _mix(_mix(c, 2), t)
    base[2] = _mix(15, col[2])
    base[3] = _mix(_mix(_mix(c, 9), t), lt_nb)
    base[4] = _mix(_mix(_mix(c, 10), col[0]), col[1])
    base[5] = _mix(_mix(c, 3), lt_u if lt_u < 4096 else 4096)
    base[6] = _mix(5, h2)
    base[7] = _mix(6, h4)
    base[8] = _mix(_mix(_mix(c, 7), t), pt)
    base[9] = _mix(12, e)
    base[10] = _mix(_mix(c, 4), col[2] if col[2] < 4096 else 4096)
    base[11] = _mix(_mix(c, 17), r)
    nb = 0 if decoding else 64 - _leading_zeros(u)
    node = 1
    for level in range(6, -1, -1):
        for i in range(10):
            hashes[i] = _mix(base[i], node)
        hashes[10] = _mix(base[11], node)
        b = _bit((nb >> level) & 1, hashes, 6 - level, _mix(c, node), m, ac, buf, decoding)
        node = node * 2 + b
    if decoding:
        nb = node - 128
        if nb > MAX_BITS:
            return -1
    small = nb <= SMALL
    pre = 1
    for depth in range(nb - 1):
        place = _mix(nb, depth)
        key = _mix(place, pre if depth < 3 else 0)
        full = _mix(_mix(nb, depth + 64), pre)
        hashes[0] = _mix(base[0], key)
        hashes[1] = _mix(base[1], key)
        hashes[2] = _mix(base[2], full)
        hashes[3] = _mix(base[1], _mix(full, 3)) if small else _mix(base[1], _mix(place, 4))
        hashes[4] = _mix(base[5], full) if small else _mix(base[0], _mix(place, 5))
        hashes[5] = _mix(base[10], full) if small else _mix(base[0], _mix(place, 6))
        for i in range(6, 10):
            hashes[i] = _mix(base[i], full)
        hashes[10] = _mix(base[11], full)
        kind = 7 + 2 * (depth if depth < 4 else 4) + (1 if small else 0)
        b = _bit(0 if decoding else (u >> (nb - 2 - depth)) & 1, hashes, kind, _mix(c, key), m, ac, buf, decoding)
        pre = pre * 2 + b
    value = (pre if nb > 0 else 0) if decoding else u
    col[1], col[0] = col[0], nb
    col[5], col[4], col[3], col[2] = col[4], col[3], col[2], value & _M32
    last[t, 0], last[t, 1], last[t, 2] = c + 1, value & _M32, nb
    return value


def _leading_zeros(u):
    n = 64
    while u:
        u >>= 1
        n -= 1
    return n


def _match(v, gh, mt, mm):
    """Append ``v`` to the history of all values ``gh``; follow the match (``mm``: history
    length, the position it predicts, its length), or look one up by the last three values."""
    n = mm[0]
    if mm[2] > 0 and gh[mm[1]] == v:
        mm[1] += 1
        mm[2] += 1
    else:
        mm[2] = 0
    gh[n] = v
    n += 1
    mm[0] = n
    if n >= 3:
        h = _mix(_mix(_mix(gh[n - 1], gh[n - 2]), gh[n - 3]), 21) >> 14
        if mm[2] == 0 and mt[h] > 0:
            mm[1] = mt[h]
            mm[2] = 1
        mt[h] = n


def _column(u, first, count, width, c, tid, ptid, ref, work, m, ac, buf, decoding):
    """Code (or decode) ``count`` values of one column (key ``c``) at ``u[first:]``; returns the
    number of zeros among them (a dictionary column's new values), or -1 where one does not fit
    ``width`` bytes.  ``work``: the column's state, per template state, the match's history,
    table and state, and the hashes' scratch."""
    col, last, gh, mt, mm, base, hashes = work
    col[:] = 0
    ac[4] = c
    zeros = 0
    for i in range(first, first + count):
        e = _mix(gh[mm[1]], mm[2] if mm[2] < 15 else 15) if mm[2] > 0 else -1
        t = tid[i] if tid.size else 0
        ac[5] = t
        r = u[ref[i]] & _M32 if tid.size and ref[i] >= 0 else -1
        v = _value(u[i], c, t, ptid[i] if tid.size else 0, e, r, col, last, base, hashes, m, ac, buf, decoding)
        if v < 0 or (width < 8 and v >> (8 * width) != 0):
            return -1
        u[i] = v
        zeros += 1 if v == 0 else 0
        _match(v & _M32, gh, mt, mm)
    return zeros


def _code(u, tid, ptid, ref, cols, dict_u, buf, decoding, squash, stretch, rate):
    """The kernel (see the module docstring): (bytes written, or dictionary values read; ok)."""
    apm = np.empty(24 << ABITS, np.int32)
    for i in range(apm.size):
        apm[i] = squash[min(4094, (i % 24) * 4096 // 23)] * 16
    m = (np.full(1 << TBITS, 32768, np.uint16), np.zeros(1 << TBITS, np.uint8),
         np.full((KINDS * (1 + COLUMN_SETS + TEMPLATE_SETS), NIN), W0, np.int64), apm, np.zeros(NIN, np.int64),
         np.zeros(NIN, np.int64), squash, stretch, rate)
    ac = np.zeros(6, np.int64)
    ac[1] = _M32
    if decoding:
        for i in range(4):
            ac[2] = (ac[2] << 8) | (buf[i] if i < buf.size else 255)
        ac[3] = 4
    templates = 1
    for i in range(tid.size):
        templates = max(templates, tid[i] + 1)
    work = (np.zeros(6, np.int64), np.zeros((templates, 3), np.int64), np.zeros(u.size + dict_u.size + 1, np.int64),
            np.zeros(1 << 18, np.int64), np.zeros(3, np.int64), np.zeros(12, np.int64), np.zeros(NIN, np.int64))
    none = np.zeros(0, np.int64)
    d = 0
    for k in range(cols.shape[0]):
        zeros = _column(u, cols[k, 0], cols[k, 1], cols[k, 2], 2 * k, tid, ptid, ref, work, m, ac, buf, decoding)
        if zeros < 0:
            return 0, False
        if cols[k, 3]:
            if d + zeros > dict_u.size or _column(dict_u, d, zeros, cols[k, 3], 2 * k + 1, none, none, none, work,
                                                  m, ac, buf, decoding) < 0:
                return 0, False
            d += zeros
    if decoding:
        return d, True
    buf[ac[3]] = ac[0] >> 24
    return ac[3] + 1, True


def _entry(fn):
    def run(u, tid, ptid, ref, cols, dict_u, stored, decoding):
        args = (np.ascontiguousarray(tid, np.int64), np.ascontiguousarray(ptid, np.int64),
                np.ascontiguousarray(ref, np.int64),
                np.ascontiguousarray(cols, np.int64).reshape(-1, 4), dict_u)
        if decoding:
            n, ok = fn(u, *args, np.frombuffer(stored, np.uint8).copy(), True, _SQUASH, _STRETCH, _RATE)
            return int(n), bool(ok)
        out = np.zeros(MAX_BYTES_PER_VALUE * (u.size + dict_u.size) + 64, np.uint8)
        n, ok = fn(u, *args, out, False, _SQUASH, _STRETCH, _RATE)
        return out[:n].tobytes(), bool(ok)
    return run


def _cpu():
    mix = cpu_device(_mix, inline=True)
    bit = cpu_device(_bit, _mix=mix)
    value = cpu_device(_value, _bit=bit, _mix=mix, _leading_zeros=cpu_device(_leading_zeros, inline=True))
    column = cpu_device(_column, _value=value, _mix=mix, _match=cpu_device(_match, inline=True, _mix=mix))
    return _entry(cpu_device(_code, _column=column))


code = Twins(_entry(_code), _cpu, _cpu)
