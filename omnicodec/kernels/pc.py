"""The probabilistic circuit's coding loop (``codecs/pc.py``): exact conditionals of a hidden
Chow-Liu tree, pixel by pixel in the tree's depth-first order, with the lane rANS of ``rans``.

Tile j (a 28x28 digit) goes on lane ``j % lanes`` and a lane's tiles follow each other
(``lane_order``), so lanes decode in parallel and the framing (12 bytes a lane) is paid once
per lane, not per digit.  Per tile the loop keeps, for every node, its downward state ``down``
(∝ p(z_v, pixels coded before v outside v's subtree)) and its evidence ``lam`` (∝ p(pixels
coded in v's subtree | z_v)); the path from the root to the current node is a stack:

    visit u (parent p):  pop the stack down to p, each popped node c sending
                         lam[top] ← norm(lam[top] ⊙ trans[c] · lam[c]) to its parent
                         down[u] = norm(norm(down[p] ⊙ lam[p]) · trans[u])   (the root: prior)
    code x_u with        C(k) = k + floor((R(k) >> s) · (2**24 - 256) / (R(256) >> s)),
                         R(k) = Σ_h down[u, h] · emit[u, h, k]   (emit: cumulative 20-bit rows,
                         so R(256) = 2**20 Σ_h down[u, h]; s leaves R(256) 38 bits)
    then                 lam[u] = emit[u, :, x_u + 1] - emit[u, :, x_u]; push u

Exact everywhere: vectors hold integers in float64, ``norm`` scales them by a power of two
until the largest is in [2**23, 2**24) and floors, so every product (< 2**24 · 2**20 · H) and
sum is an integer below 2**53, whatever the order of the sums or an FMA; ``R`` is shifted and
finished in int64.  C is strictly increasing from 0 to 2**24, so every value of 0..255 stays
codable.  The decoder tries 0 (most pixels of a digit) and else bisects C with the lane's slot.

Twins: ``bounds[twin](pixels, prior, trans, up, emit, parent, order) -> (start, freq)``
(uint32 (tiles, D) in coding order; ``lane_order`` arranges them for ``rans.encode_bounds``);
``decode[twin](tiles, prior, trans, up, emit, parent, order, words, state, ptr, stop) ->
(pixels (tiles, D) uint8, bad)`` with the lane state of ``rans`` (lanes: ``state.size``); ``up`` is
``trans`` with each matrix transposed (the CPU twin's upward products read it by rows).  The loop is
sequential within a tile, so ``cuda`` runs the CPU twin.
"""

from __future__ import annotations

import math

import numpy as np

from . import Twins, cpu_device, cpu_parallel
from .rans import PREC, TOTAL, _renorm, renorm_lanes

VALUES = 256
FREQ_BITS = 20  # the cumulative emission rows end at 2**FREQ_BITS (models.pc)
_SPAN = TOTAL - VALUES
_SHIFT_TO = 38  # bits R(256) keeps before the int64 product with _SPAN


def lane_order(a: np.ndarray, lanes: int) -> np.ndarray:
    """Per-tile rows (n, D), n a multiple of ``lanes`` -> the lane format's symbol order with
    tile j on lane j % lanes and a lane's tiles one after another: symbol (k·D + t)·lanes + L
    is step t of tile k·lanes + L."""
    n, d = a.shape
    return np.ascontiguousarray(a.reshape(n // lanes, lanes, d).transpose(0, 2, 1)).ravel()


# ------------------------------------------------------------------------------ numpy twin
def _norm_rows(v: np.ndarray) -> np.ndarray:
    """Rows of integers (float64) scaled by powers of two to a maximum in [2**23, 2**24), floored."""
    m = v.max(axis=-1, keepdims=True)
    e = np.frexp(m)[1] - 24  # m = f * 2**e, f in [0.5, 1)
    return np.floor(np.ldexp(v, -e))


def _cdf_rows(w: np.ndarray, emit: np.ndarray, k: np.ndarray) -> np.ndarray:
    """C(k) for rows of weights ``w`` (n, H), cumulative emission rows ``emit`` (H, 257) and
    symbols ``k`` (n) (int64)."""
    r = np.zeros(len(w))
    total = np.zeros(len(w))
    for h in range(w.shape[1]):  # in order, though each sum is exact anyway
        r = r + w[:, h] * emit[h, k]
        total = total + w[:, h] * emit[h, VALUES]
    s = np.maximum(np.frexp(total)[1] - _SHIFT_TO, 0)
    ri, ti = r.astype(np.int64) >> s, total.astype(np.int64) >> s
    return ri * _SPAN // ti + k


def _pops(parent: np.ndarray, order: np.ndarray) -> list[list[int]]:
    """The nodes whose subtrees end before each step (innermost first)."""
    out, stack = [[] for _ in order], []
    for t, u in enumerate(order.tolist()):
        while stack and stack[-1] != parent[u]:
            out[t].append(stack.pop())
        stack.append(u)
    return out


def _walk_numpy(n, prior, trans, emit, parent, order, code):
    """The shared loop over steps, all ``n`` tiles side by side; ``code(t, u, w)`` codes step
    t's pixel (node u, weights w (n, H)) and returns it (n) int64."""
    d, h = trans.shape[0], trans.shape[1]
    down, lam = np.zeros((d, n, h)), np.zeros((d, n, h))
    for t, (u, pops) in enumerate(zip(order.tolist(), _pops(parent, order))):
        for c in pops:
            top = parent[c]
            lam[top] = _norm_rows(lam[top] * _norm_rows(lam[c] @ trans[c].T))
        if t == 0:
            down[u] = np.broadcast_to(prior, (n, h))
        else:
            p = parent[u]
            down[u] = _norm_rows(_norm_rows(down[p] * lam[p]) @ trans[u])
        x = code(t, u, down[u])
        lam[u] = (emit[u][:, x + 1] - emit[u][:, x]).T


def _bounds_numpy(pixels, prior, trans, up, emit, parent, order):
    n, d = pixels.shape
    start, freq = np.zeros((n, d), np.uint32), np.zeros((n, d), np.uint32)

    def code(t, u, w):
        x = pixels[:, u].astype(np.int64)
        lo, hi = _cdf_rows(w, emit[u], x), _cdf_rows(w, emit[u], x + 1)
        start[:, t], freq[:, t] = lo, hi - lo
        return x

    _walk_numpy(n, prior, trans, emit, parent, order, code)
    return start, freq


def _decode_numpy(n, prior, trans, up, emit, parent, order, words, state, ptr, stop):
    """All lanes side by side, their k-th tiles (k·lanes + lane) at a time."""
    lanes, d = state.size, len(order)
    out = np.zeros((n, d), np.uint8)
    bad = [False]
    for first in range(0, n, lanes):
        bad[0] |= _decode_round(first, min(lanes, n - first), prior, trans, emit, parent, order, words, state,
                                ptr, stop, out)
    return out, bad[0]


def _decode_round(first, m, prior, trans, emit, parent, order, words, state, ptr, stop, out):
    """Tiles first .. first + m - 1 on lanes 0 .. m - 1."""
    bad = [False]
    j = np.arange(m)

    def code(t, u, w):
        x = state[:m].copy()
        slot = (x & np.uint64(TOTAL - 1)).astype(np.int64)
        lo, hi = np.zeros(m, np.int64), np.full(m, VALUES, np.int64)
        while np.any(hi - lo > 1):
            mid = (lo + hi) >> 1
            le = _cdf_rows(w, emit[u], mid) <= slot
            lo, hi = np.where(le, mid, lo), np.where(le, hi, mid)
        c = _cdf_rows(w, emit[u], lo)
        f = _cdf_rows(w, emit[u], lo + 1) - c
        x = f.astype(np.uint64) * (x >> np.uint64(PREC)) + (slot - c).astype(np.uint64)
        bad[0] |= renorm_lanes(x, j, words, state, ptr, stop)
        out[first:first + m, u] = lo
        return lo

    _walk_numpy(m, prior, trans, emit, parent, order, code)
    return bad[0]


# -------------------------------------------------------------------------------- CPU twin
def _norm(v, h):
    """``_norm_rows`` of one row (in place)."""
    m = 0.0
    for i in range(h):
        m = max(m, v[i])
    if m > 0.0:
        s = math.ldexp(1.0, 24 - math.frexp(m)[1])
        for i in range(h):
            v[i] = np.floor(v[i] * s)


def _total(w, h):
    """R(256) >> shift and the shift: every cumulative row ends at 2**FREQ_BITS."""
    acc = 0.0
    for i in range(h):
        acc += w[i]
    shift = max(0, math.frexp(acc)[1] + FREQ_BITS - _SHIFT_TO)  # acc < 2**24 · H: exact
    return (np.int64(acc) << FREQ_BITS) >> shift, shift


def _cdf(w, emit, u, k, h, ti, shift):
    """C(k) given ``_total``'s (R(256) >> shift, shift)."""
    r = 0.0
    for i in range(h):
        r += w[i] * emit[u, i, k]
    return (np.int64(r) >> shift) * _SPAN // ti + k


def _step_in(t, u, prior, trans, up, parent, down, lam, stack, depth, tmp, h):
    """Close the subtrees that end before step t and set ``down[u]``; returns the new depth."""
    if t == 0:
        for i in range(h):
            down[u, i] = prior[i]
        stack[0] = u
        return 1
    p = parent[u]
    while stack[depth - 1] != p:
        c = stack[depth - 1]
        depth -= 1
        top = stack[depth - 1]
        for a in range(h):  # message of c's subtree: trans[c] · lam[c], a row at a time
            tmp[a] = 0.0
        for b in range(h):
            lb = lam[c, b]
            for a in range(h):
                tmp[a] += up[c, b, a] * lb
        _norm(tmp, h)
        for a in range(h):
            lam[top, a] *= tmp[a]
        _norm(lam[top], h)
    for a in range(h):
        tmp[a] = down[p, a] * lam[p, a]
    _norm(tmp, h)
    for b in range(h):
        down[u, b] = 0.0
    for a in range(h):
        ta = tmp[a]
        for b in range(h):
            down[u, b] += ta * trans[u, a, b]
    _norm(down[u], h)
    stack[depth] = u
    return depth + 1


def _bounds_tile(j, pixels, prior, trans, up, emit, parent, order, start, freq):
    d, h = trans.shape[0], trans.shape[1]
    down = np.zeros((d, h))
    lam = np.zeros((d, h))
    stack = np.zeros(d, np.int64)
    tmp = np.zeros(h)
    depth = 0
    for t in range(d):
        u = order[t]
        depth = _step_in(t, u, prior, trans, up, parent, down, lam, stack, depth, tmp, h)
        x = np.int64(pixels[j, u])
        ti, shift = _total(down[u], h)
        lo = _cdf(down[u], emit, u, x, h, ti, shift)
        hi = _cdf(down[u], emit, u, x + 1, h, ti, shift)
        start[j, t] = lo
        freq[j, t] = hi - lo
        for i in range(h):
            lam[u, i] = emit[u, i, x + 1] - emit[u, i, x]


def _decode_lane(j, tiles, prior, trans, up, emit, parent, order, words, state, ptr, stop, out, bad):
    """Lane j's tiles j, j + lanes, ... one after another."""
    lanes = state.size
    d, h = trans.shape[0], trans.shape[1]
    down = np.zeros((d, h))
    lam = np.zeros((d, h))
    stack = np.zeros(d, np.int64)
    tmp = np.zeros(h)
    x = state[j]
    p = ptr[j]
    for tile in range(j, tiles, lanes):
        depth = 0
        for t in range(d):
            u = order[t]
            depth = _step_in(t, u, prior, trans, up, parent, down, lam, stack, depth, tmp, h)
            slot = np.int64(x & np.uint64(TOTAL - 1))
            ti, shift = _total(down[u], h)
            lo, c = 0, np.int64(0)
            hi, chi = 1, _cdf(down[u], emit, u, 1, h, ti, shift)  # most pixels are 0: try it first
            if chi <= slot:
                lo, c = 1, chi
                hi, chi = VALUES, np.int64(TOTAL)
                while hi - lo > 1:
                    mid = (lo + hi) >> 1
                    cm = _cdf(down[u], emit, u, mid, h, ti, shift)
                    if cm <= slot:
                        lo, c = mid, cm
                    else:
                        hi, chi = mid, cm
            x = np.uint64(chi - c) * (x >> np.uint64(PREC)) + np.uint64(slot - c)
            x, p, flag = _renorm(x, words, p, stop[j])
            bad[j] |= flag
            out[tile, u] = lo
            for i in range(h):
                lam[u, i] = emit[u, i, lo + 1] - emit[u, i, lo]
    state[j] = x
    ptr[j] = p


def _helpers():
    norm = cpu_device(_norm, inline=True)
    step_in = cpu_device(_step_in, _norm=norm)
    return {"_cdf": cpu_device(_cdf, inline=True), "_total": cpu_device(_total, inline=True), "_step_in": step_in,
            "_renorm": cpu_device(_renorm)}


def _bounds_cpu():
    run = cpu_parallel(_bounds_tile, **_helpers())

    def bounds(pixels, prior, trans, up, emit, parent, order):
        start, freq = np.zeros(pixels.shape, np.uint32), np.zeros(pixels.shape, np.uint32)
        run(pixels.shape[0], np.ascontiguousarray(pixels), prior, trans, up, emit, parent, order, start, freq)
        return start, freq
    return bounds


def _decode_cpu():
    run = cpu_parallel(_decode_lane, **_helpers())

    def decode(n, prior, trans, up, emit, parent, order, words, state, ptr, stop):
        out = np.zeros((n, len(order)), np.uint8)
        bad = np.zeros(state.size, np.int32)
        run(state.size, n, prior, trans, up, emit, parent, order, words, state, ptr, stop, out, bad)
        return out, bool(bad.any())
    return decode


bounds = Twins(_bounds_numpy, _bounds_cpu, _bounds_cpu)
decode = Twins(_decode_numpy, _decode_cpu, _decode_cpu)
