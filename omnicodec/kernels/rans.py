"""Lane-interleaved rANS (Duda 2013; interleaving as in Giesen 2014, one stream per lane as in
DietGPU and Recoil): ``lanes`` independent coders, symbol i on lane ``i % lanes``, so a decode
parallelises over CPU threads and GPU threads.

    state x in [LOWER, LOWER << 32), 64-bit; 32-bit words; probabilities in PREC = 24 bits
    encode (symbols in reverse):  if x >= (LOWER >> PREC << 32) * f: shed the low word
                                  x = (x // f) << PREC | (x % f) + start
    decode:                       slot = x mod 2**PREC; find s with cdf[s] <= slot < cdf[s+1]
                                  x = f * (x >> PREC) + slot - start; if x < LOWER: read a word

A lane's words come out in decode order: its final state (high word, low word), then the words
shed while encoding, last shed first.  ``encode`` returns the lanes' words concatenated and the
word count of each lane; the entropy backend (``entropy/lanes.py``) frames them.  A decode runs
call by call (a codec's later parameters depend on earlier symbols); the lane states and read
positions carry over between calls, and ``first`` is the global index of a call's first symbol
modulo ``lanes``.

Twins (see ``kernels``): ``encode[twin](start, freq, lanes) -> (words, counts)`` with
``start``/``freq`` uint32 per symbol; ``decode_tables[twin](rows, cdf, starts, sizes, words,
state, ptr, stop, first) -> (symbols, bad)`` where row ``r`` of the flat integer CDF table is
``cdf[starts[r] : starts[r] + sizes[r] + 1]`` (0 first, 2**PREC last, strictly increasing), and
``bad`` says a lane ran out of words (a corrupt stream).  A decoder never reads outside
``words``: a lane whose words run out is flagged and goes on with a fixed state.
"""

from __future__ import annotations

import numpy as np

from . import Twins, cpu_device, cpu_parallel, cuda_device, cuda_parallel

PREC = 24
TOTAL = 1 << PREC
LOWER = 1 << 31
RENORM = LOWER >> PREC << 32  # x >= RENORM * freq sheds a word before encoding
MASK32 = 0xFFFFFFFF


def lane_sizes(n: int, lanes: int) -> np.ndarray:
    """Symbols on each lane when ``n`` symbols are dealt round-robin from lane 0."""
    j = np.arange(lanes, dtype=np.int64)
    return np.maximum(0, (n - j + lanes - 1) // lanes)


def _capacity_ends(n: int, lanes: int) -> np.ndarray:
    """End of each lane's region of the encode buffer: a symbol sheds at most one word, and
    the final state takes two."""
    return np.cumsum(lane_sizes(n, lanes) + 2)


def _gather_lanes(out: np.ndarray, ends: np.ndarray, used: np.ndarray) -> np.ndarray:
    if not used.size:
        return np.zeros(0, np.uint32)
    idx = np.concatenate([np.arange(e - u, e) for e, u in zip(ends.tolist(), used.tolist())])
    return out[idx]


# ------------------------------------------------------------------------------------- encode
def _encode_lane(j, lanes, start, freq, out, ends, used):
    """Encode lane ``j``'s symbols (in reverse) into ``out[..ends[j]]``; ``used[j]`` words."""
    n = start.size
    x = np.uint64(LOWER)
    pos = ends[j]
    if j < n:
        i = j + ((n - 1 - j) // lanes) * lanes
        while i >= 0:
            f = np.uint64(freq[i])
            if x >= np.uint64(RENORM) * f:
                pos -= 1
                out[pos] = np.uint32(x & np.uint64(MASK32))
                x = x >> np.uint64(32)
            x = ((x // f) << np.uint64(PREC)) + (x % f) + np.uint64(start[i])
            i -= lanes
    out[pos - 1] = np.uint32(x & np.uint64(MASK32))
    out[pos - 2] = np.uint32(x >> np.uint64(32))
    used[j] = ends[j] - (pos - 2)


def _encode_numpy(start, freq, lanes):
    n = start.size
    ends = _capacity_ends(n, lanes)
    out = np.zeros(int(ends[-1]), np.uint32)
    pos = ends.copy()
    x = np.full(lanes, LOWER, np.uint64)
    lane = np.arange(lanes)
    for t in range(int(lane_sizes(n, lanes)[0]) - 1, -1, -1):
        i = t * lanes + lane
        act = i < n
        a, i = lane[act], i[act]
        f = freq[i].astype(np.uint64)
        shed = x[a] >= np.uint64(RENORM) * f
        s = a[shed]
        pos[s] -= 1
        out[pos[s]] = (x[s] & np.uint64(MASK32)).astype(np.uint32)
        x[s] >>= np.uint64(32)
        xa = x[a]
        x[a] = ((xa // f) << np.uint64(PREC)) + xa % f + start[i].astype(np.uint64)
    out[pos - 1] = (x & np.uint64(MASK32)).astype(np.uint32)
    out[pos - 2] = (x >> np.uint64(32)).astype(np.uint32)
    used = ends - (pos - 2)
    return _gather_lanes(out, ends, used), used


def _encode_entry(run):
    def encode(start, freq, lanes):
        start = np.ascontiguousarray(start, np.uint32)
        freq = np.ascontiguousarray(freq, np.uint32)
        ends = _capacity_ends(start.size, lanes)
        out = np.zeros(int(ends[-1]), np.uint32)
        used = np.zeros(lanes, np.int64)
        run(lanes, lanes, start, freq, out, ends, used)
        return _gather_lanes(out, ends, used), used
    return encode


encode = Twins(_encode_numpy, lambda: _encode_entry(cpu_parallel(_encode_lane)),
               lambda: _encode_entry(cuda_parallel(_encode_lane)))


# ------------------------------------------------------------------------------------- decode
def _renorm(x, words, p, stop):
    """Refill a state below LOWER with one word; returns (x, p, bad)."""
    if x < np.uint64(LOWER):
        if p < stop:
            return (x << np.uint64(32)) | np.uint64(words[p]), p + 1, 0
        return np.uint64(LOWER), p, 1
    return x, p, 0


def _decode_tables_lane(j, lanes, first, rows, cdf, starts, sizes, words, state, ptr, stop, out, bad):
    m = rows.size
    k = (j + lanes - first) % lanes
    if k < m:
        x = state[j]
        p = ptr[j]
        e = stop[j]
        while k < m:
            r = rows[k]
            b = starts[r]
            slot = x & np.uint64(TOTAL - 1)
            lo = 0
            hi = sizes[r]
            while hi - lo > 1:
                mid = (lo + hi) >> 1
                if np.uint64(cdf[b + mid]) <= slot:
                    lo = mid
                else:
                    hi = mid
            c = np.uint64(cdf[b + lo])
            x = (np.uint64(cdf[b + lo + 1]) - c) * (x >> np.uint64(PREC)) + slot - c
            x, p, flag = _renorm(x, words, p, e)
            bad[j] |= flag
            out[k] = lo
            k += lanes
        state[j] = x
        ptr[j] = p


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


def _decode_tables_numpy(rows, cdf, starts, sizes, words, state, ptr, stop, first):
    lanes, m = state.size, rows.size
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


def _decode_entry(run):
    def decode(rows, cdf, starts, sizes, words, state, ptr, stop, first):
        out = np.zeros(rows.size, np.int32)
        bad = np.zeros(state.size, np.int32)
        run(state.size, state.size, int(first), np.ascontiguousarray(rows, np.int32), cdf, starts,
            sizes, words, state, ptr, stop, out, bad)
        return out, bool(bad.any())
    return decode


decode_tables = Twins(
    _decode_tables_numpy,
    lambda: _decode_entry(cpu_parallel(_decode_tables_lane, _renorm=cpu_device(_renorm))),
    lambda: _decode_entry(cuda_parallel(_decode_tables_lane, _renorm=cuda_device(_renorm))))

