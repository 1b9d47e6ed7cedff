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

On the CPU a prange iteration runs a *group* of ``GROUP`` lanes step by step, so the lanes'
independent dependency chains (a 64-bit division per encoded symbol) overlap in the pipeline;
a CUDA thread runs one lane (a group of 1).  Decoding finds a symbol with a lookup table per row
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


def _encode_tables_group(g, group, lanes, first, rows, symbols, cdf, starts, state, pos, out):
    m = symbols.size
    steps = (m + lanes - 1) // lanes
    for t in range(steps - 1, -1, -1):
        for j in range(g * group, min(lanes, g * group + group)):
            k = _first_index(j, lanes, first) + t * lanes
            if k < m:
                b = starts[rows[k]] + symbols[k]
                c = np.uint64(cdf[b])
                state[j], pos[j] = _put(state[j], c, np.uint64(cdf[b + 1]) - c, out, pos[j])


def _encode_bounds_group(g, group, lanes, first, start, freq, state, pos, out):
    m = start.size
    steps = (m + lanes - 1) // lanes
    for t in range(steps - 1, -1, -1):
        for j in range(g * group, min(lanes, g * group + group)):
            k = _first_index(j, lanes, first) + t * lanes
            if k < m:
                state[j], pos[j] = _put(state[j], np.uint64(start[k]), np.uint64(freq[k]), out, pos[j])


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


def _grouped(run, group):
    """Call a group body over all lanes: ``run(groups, group, lanes, first, ...)``."""
    def call(*args):
        *data, first, state, pos, out = args
        lanes = state.size
        run(-(-lanes // group), group, lanes, int(first), *data, state, pos, out)
    return call


encode_tables = Twins(
    _encode_tables_numpy,
    lambda: _grouped(cpu_parallel(_encode_tables_group, _put=cpu_device(_put), _first_index=cpu_device(_first_index)),
                     GROUP),
    lambda: _grouped(cuda_parallel(_encode_tables_group, _put=cuda_device(_put),
                                   _first_index=cuda_device(_first_index)), 1))
encode_bounds = Twins(
    _encode_numpy,
    lambda: _grouped(cpu_parallel(_encode_bounds_group, _put=cpu_device(_put), _first_index=cpu_device(_first_index)),
                     GROUP),
    lambda: _grouped(cuda_parallel(_encode_bounds_group, _put=cuda_device(_put),
                                   _first_index=cuda_device(_first_index)), 1))


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
    return decode


decode_tables = Twins(
    _decode_tables_numpy,
    lambda: _decode_entry(cpu_parallel(_decode_tables_group, _renorm=cpu_device(_renorm),
                                       _first_index=cpu_device(_first_index)), GROUP),
    lambda: _decode_entry(cuda_parallel(_decode_tables_group, _renorm=cuda_device(_renorm),
                                        _first_index=cuda_device(_first_index)), 1))
