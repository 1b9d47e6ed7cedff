"""Lane-interleaved rANS (Duda 2013; interleaving as in Giesen 2014, one stream per lane as in
DietGPU and Recoil): ``lanes`` independent coders, symbol i on lane ``i % lanes``, so a decode
parallelises over CPU threads and GPU threads.

    state x in [LOWER, LOWER << 32), 64-bit; 32-bit words; probabilities in PREC = 24 bits
    encode (symbols in reverse):  if x >= (LOWER >> PREC << 32) * f: shed the low word
                                  x = (x // f) << PREC | (x % f) + start
    decode:                       slot = x mod 2**PREC; find s with cdf[s] <= slot < cdf[s+1]
                                  x = f * (x >> PREC) + slot - start; if x < LOWER: read a word

A lane's words come out in decode order: its final state (high word, low word), then the words
shed while encoding, last shed first.  The entropy backend (``entropy/lanes.py``) frames them.
Encoding and decoding run call by call (one call per model call of the codec: a decoder's later
parameters depend on earlier symbols): lane ``state`` and the write (``pos``) or read (``ptr``)
positions carry over between calls, and ``first`` is the global index of a call's first symbol
modulo ``lanes``.  The encoder visits the calls last to first.

On the CPU a prange iteration runs several lanes step by step, so their independent
dependency chains overlap in the pipeline: the encoder four lanes with their states in
registers (``_encode_four``), the decoder a group of ``GROUP`` lanes (a cache line of symbols);
a CUDA thread runs one lane.  Decoding finds a symbol with a lookup table per row
(``LUT_BITS`` of the slot give the range of symbols to bisect, usually one), built by
``lookup_rows``.

Twins (see ``kernels``), all in place on ``state``/``pos``/``out`` or ``state``/``ptr``:

    encode_tables[twin](rows, symbols, cdf, starts, first, state, pos, out)
    encode_bounds[twin](start, freq, first, state, pos, out)
    decode_tables[twin](rows, cdf, starts, lut, words, state, ptr, stop, first) -> (symbols, bad)

Row ``r`` of the flat integer CDF table is ``cdf[starts[r] : starts[r] + K_r + 1]`` (0 first,
2**PREC last, strictly increasing) and ``lut[r * LUT_SIZE : (r + 1) * LUT_SIZE]`` its lookup
table.  ``bad`` says a lane ran out of words (a corrupt stream): a decoder never reads outside
``words``; such a lane is flagged and goes on with a fixed state.
"""

from __future__ import annotations

import numpy as np

from . import Twins, cpu_device, cpu_parallel, cuda_device, cuda_parallel

PREC = 24
TOTAL = 1 << PREC
LOWER = 1 << 31
RENORM = LOWER >> PREC << 32  # x >= RENORM * freq sheds a word before encoding
MASK32 = 0xFFFFFFFF
GROUP = 16  # lanes interleaved by one CPU iteration (a cache line of int32 symbols)
LUT_BITS = 10
LUT_SHIFT = PREC - LUT_BITS
LUT_SIZE = (1 << LUT_BITS) + 1


def lane_sizes(n: int, lanes: int) -> np.ndarray:
    """Symbols on each lane when ``n`` symbols are dealt round-robin from lane 0."""
    j = np.arange(lanes, dtype=np.int64)
    return np.maximum(0, (n - j + lanes - 1) // lanes)


def lookup_rows(cdf: np.ndarray) -> np.ndarray:
    """The decode lookup tables of CDF rows (R, K+1): entry b of a row is the symbol whose
    interval holds slot ``b << LUT_SHIFT``, and the last entry is K-1; flattened (R * LUT_SIZE)."""
    cdf = np.atleast_2d(cdf).astype(np.int64)
    rows, k = cdf.shape[0], cdf.shape[1] - 1
    starts = -(-cdf // (1 << LUT_SHIFT))  # first bucket at or after each edge
    lut = np.repeat(np.tile(np.arange(k, dtype=np.int32), rows), np.diff(starts, axis=1).ravel())
    return np.concatenate([lut.reshape(rows, -1), np.full((rows, 1), k - 1, np.int32)], axis=1).ravel()


def _first_index(j, lanes, first):
    """Index of lane j's first symbol in a call whose first symbol is on lane ``first``."""
    k0 = j - first
    return k0 + lanes if k0 < 0 else k0


# ------------------------------------------------------------------------------------- encode
def _put(x, start, f, out, p):
    """Push one symbol onto state x; returns (x, p)."""
    if x >= np.uint64(RENORM) * f:
        p -= 1
        out[p] = np.uint32(x & np.uint64(MASK32))
        x = x >> np.uint64(32)
    return ((x // f) << np.uint64(PREC)) + (x % f) + start, p


def _interval_tables(k, rows, symbols, cdf, starts):
    """Symbol k's (start, freq) from its row of the table."""
    b = starts[rows[k]] + symbols[k]
    c = np.uint64(cdf[b])
    return c, np.uint64(cdf[b + 1]) - c


def _interval_bounds(k, start, freq, unused0, unused1):
    """Symbol k's (start, freq) as given."""
    return np.uint64(start[k]), np.uint64(freq[k])


def _step(k, m, d0, d1, d2, d3, x, p, out):
    """Encode symbol k onto (x, p) if the call has it."""
    if k < m:
        c, f = _interval(k, d0, d1, d2, d3)  # noqa: F821 (bound: _interval_tables or _bounds)
        return _put(x, c, f, out, p)
    return x, p


def _encode_lane(j, lanes, first, d0, d1, d2, d3, state, pos, out):
    """One lane's symbols of a call, last first (the CUDA twin: a lane per thread)."""
    m = d1.size
    k0 = _first_index(j, lanes, first)
    x, p = state[j], pos[j]
    for t in range((m + lanes - 1) // lanes - 1, -1, -1):
        x, p = _step(k0 + t * lanes, m, d0, d1, d2, d3, x, p, out)
    state[j], pos[j] = x, p


def _encode_four(g, lanes, first, d0, d1, d2, d3, state, pos, out):
    """Lanes 4g..4g+3 step by step with their states in registers, so the four dependency
    chains overlap (the CPU twin; a missing lane gets an index past the call's end)."""
    m = d1.size
    j = 4 * g
    a0 = _first_index(j, lanes, first)
    a1 = _first_index(j + 1, lanes, first) if j + 1 < lanes else m
    a2 = _first_index(j + 2, lanes, first) if j + 2 < lanes else m
    a3 = _first_index(j + 3, lanes, first) if j + 3 < lanes else m
    i1, i2, i3 = min(j + 1, lanes - 1), min(j + 2, lanes - 1), min(j + 3, lanes - 1)
    x0, x1, x2, x3 = state[j], state[i1], state[i2], state[i3]
    p0, p1, p2, p3 = pos[j], pos[i1], pos[i2], pos[i3]
    for t in range((m + lanes - 1) // lanes - 1, -1, -1):
        o = t * lanes
        x0, p0 = _step(a0 + o, m, d0, d1, d2, d3, x0, p0, out)
        x1, p1 = _step(a1 + o, m, d0, d1, d2, d3, x1, p1, out)
        x2, p2 = _step(a2 + o, m, d0, d1, d2, d3, x2, p2, out)
        x3, p3 = _step(a3 + o, m, d0, d1, d2, d3, x3, p3, out)
    state[j], pos[j] = x0, p0
    if j + 1 < lanes:
        state[i1], pos[i1] = x1, p1
    if j + 2 < lanes:
        state[i2], pos[i2] = x2, p2
    if j + 3 < lanes:
        state[i3], pos[i3] = x3, p3


def _encode_numpy(start, freq, first, state, pos, out):
    """Reference: all lanes side by side, one step at a time, last step first."""
    lanes, m = state.size, start.size
    for t in range((m + lanes - 1) // lanes - 1, -1, -1):
        k = t * lanes + (np.arange(lanes) + lanes - first) % lanes
        j = np.flatnonzero(k < m)
        k = k[j]
        f = freq[k].astype(np.uint64)
        x = state[j]
        shed = x >= np.uint64(RENORM) * f
        s = j[shed]
        pos[s] -= 1
        out[pos[s]] = (x[shed] & np.uint64(MASK32)).astype(np.uint32)
        x[shed] >>= np.uint64(32)
        state[j] = ((x // f) << np.uint64(PREC)) + x % f + start[k].astype(np.uint64)


def _encode_tables_numpy(rows, symbols, cdf, starts, first, state, pos, out):
    b = starts[rows] + symbols
    _encode_numpy(cdf[b], cdf[b + 1] - cdf[b], first, state, pos, out)


_NO_TABLE = (np.zeros(1, np.uint32), np.zeros(1, np.int64))


def _encoder(parallel, device, body, interval, group, pad):
    step = device(_step, inline=True, _interval=device(interval, inline=True), _put=device(_put, inline=True))
    run = parallel(body, _step=step, _first_index=device(_first_index))

    def call(*args):
        *data, first, state, pos, out = args
        run(-(-state.size // group), state.size, int(first), *data, *pad, state, pos, out)
    return call


encode_tables = Twins(
    _encode_tables_numpy,
    lambda: _encoder(cpu_parallel, cpu_device, _encode_four, _interval_tables, 4, ()),
    lambda: _encoder(cuda_parallel, cuda_device, _encode_lane, _interval_tables, 1, ()))
encode_bounds = Twins(
    _encode_numpy,
    lambda: _encoder(cpu_parallel, cpu_device, _encode_four, _interval_bounds, 4, _NO_TABLE),
    lambda: _encoder(cuda_parallel, cuda_device, _encode_lane, _interval_bounds, 1, _NO_TABLE))


# ------------------------------------------------------------------------------------- decode
def _renorm(x, words, p, stop):
    """Refill a state below LOWER with one word; returns (x, p, bad)."""
    if x < np.uint64(LOWER):
        if p < stop:
            return (x << np.uint64(32)) | np.uint64(words[p]), p + 1, 0
        return np.uint64(LOWER), p, 1
    return x, p, 0


def _decode_tables_group(g, group, lanes, first, rows, cdf, starts, lut, words, state, ptr, stop, out, bad):
    m = rows.size
    steps = (m + lanes - 1) // lanes
    for t in range(steps):
        for j in range(g * group, min(lanes, g * group + group)):
            k = _first_index(j, lanes, first) + t * lanes
            if k < m:
                r = rows[k]
                b = starts[r]
                x = state[j]
                slot = x & np.uint64(TOTAL - 1)
                i = r * LUT_SIZE + np.int64(slot >> np.uint64(LUT_SHIFT))
                lo = lut[i]
                hi = lut[i + 1] + 1
                while hi - lo > 1:
                    mid = (lo + hi) >> 1
                    if np.uint64(cdf[b + mid]) <= slot:
                        lo = mid
                    else:
                        hi = mid
                c = np.uint64(cdf[b + lo])
                x = (np.uint64(cdf[b + lo + 1]) - c) * (x >> np.uint64(PREC)) + slot - c
                state[j], ptr[j], flag = _renorm(x, words, ptr[j], stop[j])
                bad[j] |= flag
                out[k] = lo


def renorm_lanes(x, j, words, state, ptr, stop) -> bool:
    """NumPy twin of ``_renorm`` for lanes ``j`` side by side: refill, store; True if a lane
    ran out of words."""
    refill = x < np.uint64(LOWER)
    ok = refill & (ptr[j] < stop[j])
    x[ok] = (x[ok] << np.uint64(32)) | words[np.minimum(ptr[j][ok], words.size - 1)].astype(np.uint64)
    x[refill & ~ok] = LOWER
    ptr[j] += ok
    state[j] = x
    return bool(np.any(refill & ~ok))


def _decode_tables_numpy(rows, cdf, starts, lut, words, state, ptr, stop, first):
    """Reference: plain bisection over each row (the lookup table is not used)."""
    lanes, m = state.size, rows.size
    sizes = np.diff(starts, append=cdf.size) - 1
    out = np.zeros(m, np.int32)
    bad = False
    for k0 in range(0, m, lanes):  # one symbol per lane at a time, the lanes side by side
        k = np.arange(k0, min(m, k0 + lanes))
        j = (k + first) % lanes
        r = rows[k]
        x = state[j]
        slot = x & np.uint64(TOTAL - 1)
        lo, hi = np.zeros(k.size, np.int64), sizes[r].astype(np.int64)
        while np.any(hi - lo > 1):
            mid = (lo + hi) >> 1
            le = cdf[starts[r] + mid].astype(np.uint64) <= slot
            lo, hi = np.where(le, mid, lo), np.where(le, hi, mid)
        c = cdf[starts[r] + lo].astype(np.uint64)
        x = (cdf[starts[r] + lo + 1].astype(np.uint64) - c) * (x >> np.uint64(PREC)) + slot - c
        bad |= renorm_lanes(x, j, words, state, ptr, stop)
        out[k] = lo
    return out, bad


def _decode_entry(run, group):
    def decode(rows, cdf, starts, lut, words, state, ptr, stop, first):
        out = np.zeros(rows.size, np.int32)
        bad = np.zeros(state.size, np.int32)
        lanes = state.size
        run(-(-lanes // group), group, lanes, int(first), np.ascontiguousarray(rows, np.int32), cdf, starts,
            lut, words, state, ptr, stop, out, bad)
        return out, bool(bad.any())
    decode.run, decode.group = run, group  # the raw launch, for device-resident benchmarks
    return decode


decode_tables = Twins(
    _decode_tables_numpy,
    lambda: _decode_entry(cpu_parallel(_decode_tables_group, _renorm=cpu_device(_renorm),
                                       _first_index=cpu_device(_first_index)), GROUP),
    lambda: _decode_entry(cuda_parallel(_decode_tables_group, _renorm=cuda_device(_renorm),
                                        _first_index=cuda_device(_first_index)), 1))
