"""Gaussian-mixture integer CDFs, evaluated only where a symbol needs them.

A symbol ``s`` in ``0..K-1`` (its value minus the domain's ``lo``) with mixture parameters
``means[i]``, ``scales[i]``, ``weights[i]`` (K components, weights already normalized) has the
24-bit cumulative table

    C(0) = 0,  C(K) = 2**24,  C(s) = s + floor(F(lo + s - 1/2) * (2**24 - K))  for 0 < s < K
    F(e) = w_0 Phi((e - m_0) / s_0) + w_1 Phi(...) + ...      (summed in component order)

so every symbol of the domain has a frequency of at least 1, and no row of K entries is ever
built: the encoder evaluates C at a symbol's two edges, the decoder bisects C (about log2 K
evaluations) with the lane's slot.  Phi is the backend's own (``entropy.models``): correctly
rounded operations only, so every twin computes the same integers (the CUDA twin writes its
products with ``dmul_rn``; see ``kernels``).  F is monotone in e, hence C strictly increasing;
the encoder still refuses a zero frequency rather than write a stream it cannot decode.

Twins: ``bounds[twin](symbols, means, scales, weights, lo, K) -> (start, freq)`` (uint32, for
``rans.encode``); ``decode[twin](means, scales, weights, lo, K, words, state, ptr, stop, first)
-> (symbols, bad)`` with the lane state of ``rans``.
"""

from __future__ import annotations

import math

import numpy as np

from . import Twins, cpu_device, cpu_parallel, cuda_device, cuda_parallel
from .rans import PREC, TOTAL, _first_index, _renorm, renorm_lanes

_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e+00


def _mul(a, b):
    return a * b


_TAYLOR = tuple(1.0 / float(np.prod(np.arange(1.0, n + 1.0))) for n in range(13, -1, -1))  # 1/13! .. 1/0!


def _rint(x):
    return np.rint(x)


def _ldexp(x, k):
    return math.ldexp(x, k)


def _exp(x):
    """Scalar twin of ``entropy.models._exp`` (the same operations in the same order)."""
    x = min(max(x, -746.0), 709.0)
    k = _rint(_mul(x, _INV_LN2))
    r = (x - _mul(k, _LN2_HI)) - _mul(k, _LN2_LO)
    p = _TAYLOR[0]
    for c in _TAYLOR[1:]:
        p = _mul(p, r) + c
    return _ldexp(p, int(k))


def _phi(x):
    """Scalar twin of ``entropy.models._gaussian_cdf``."""
    x = _mul(-x, 0.7071067811865476)
    z = abs(x)
    t = 1.0 / (1.0 + _mul(0.5, z))
    p = _mul(t, 0.17087277) + -0.82215223
    p = _mul(t, p) + 1.48851587
    p = _mul(t, p) + -1.13520398
    p = _mul(t, p) + 0.27886807
    p = _mul(t, p) + -0.18628806
    p = _mul(t, p) + 0.09678418
    p = _mul(t, p) + 0.37409196
    p = _mul(t, p) + 1.00002368
    p = _mul(t, p) + -1.26551223
    r = t * _exp(_mul(-z, z) + p)
    if x < 0:
        r = 2.0 - r
    return 0.5 * r


def _cdf(means, scales, weights, i, s, lo, K):
    """C(s) of symbol i (see the module docstring)."""
    if s <= 0:
        return 0
    if s >= K:
        return TOTAL
    e = float(lo + s) - 0.5
    f = _mul(weights[i, 0], _phi((e - means[i, 0]) / scales[i, 0]))
    for k in range(1, means.shape[1]):
        f = f + _mul(weights[i, k], _phi((e - means[i, k]) / scales[i, k]))
    f = min(max(f, 0.0), 1.0)
    return s + int(math.floor(f * float(TOTAL - K)))


def _rough_phi(x):
    """Phi from the library's erfc: its last bits differ between machines, so it only ever
    guesses (``_cdf`` bound to it is the decoder's rough C)."""
    return 0.5 * math.erfc(-x * 0.7071067811865476)


def _bracket(means, scales, i, lo, K):
    """Symbols (offsets from lo) within 9 scales of some component: where a guess searches
    (beyond, a component's CDF is within 1e-19 of 0 or 1)."""
    a, b = K, 0
    for k in range(means.shape[1]):
        a = min(a, int(max(means[i, k] - 9.0 * scales[i, k] - lo, 0.0)))
        b = max(b, int(min(means[i, k] + 9.0 * scales[i, k] - lo, K - 1.0)) + 1)
    if b <= a:
        return 0, K
    return a, b


def _cdf_numpy(means, scales, weights, i, s, lo, K):
    """NumPy twin of ``_cdf``: C(s) of symbols ``i`` (an index array), vectorized."""
    from ..entropy.models import _gaussian_cdf

    e = (lo + s).astype(np.float64) - 0.5
    f = weights[i, 0] * _gaussian_cdf((e - means[i, 0]) / scales[i, 0])
    for k in range(1, means.shape[1]):
        f = f + weights[i, k] * _gaussian_cdf((e - means[i, k]) / scales[i, k])
    c = s + np.floor(np.clip(f, 0.0, 1.0) * float(TOTAL - K)).astype(np.int64)
    return np.where(s <= 0, 0, np.where(s >= K, TOTAL, c))


# ------------------------------------------------------------------------------------- bounds
def _bounds_numpy(symbols, means, scales, weights, lo, K):
    s, i = np.asarray(symbols, np.int64), np.arange(means.shape[0])
    c0 = _cdf_numpy(means, scales, weights, i, s, lo, K)
    return _checked(c0, _cdf_numpy(means, scales, weights, i, s + 1, lo, K) - c0)


def _checked(start, freq):
    if freq.size and freq.min() < 1:
        raise ValueError("GaussianMixture: a symbol's frequency came out zero (non-monotone CDF)")
    return start.astype(np.uint32), freq.astype(np.uint32)


def _bounds_entry(run):
    def bounds(symbols, means, scales, weights, lo, K):
        n = symbols.size
        start, freq = np.zeros(n, np.int64), np.zeros(n, np.int64)
        run(n, np.ascontiguousarray(symbols, np.int32), means, scales, weights, int(lo), int(K), start, freq)
        return _checked(start, freq)
    return bounds


def _bounds_body(i, symbols, means, scales, weights, lo, K, start, freq):
    s = symbols[i]
    c0 = _cdf(means, scales, weights, i, s, lo, K)
    start[i] = c0
    freq[i] = _cdf(means, scales, weights, i, s + 1, lo, K) - c0


def _cpu_cdf():
    """C(s) compiled for the CPU."""
    from numba import njit

    jit = njit(cache=True, inline="always")
    helpers = {"_mul": jit(_mul), "_rint": jit(_rint), "_ldexp": jit(_ldexp)}
    phi = cpu_device(_phi, _exp=cpu_device(_exp, **helpers), **helpers)
    return cpu_device(_cdf, _phi=phi, **helpers)


def _cuda_cdf():
    """C(s) compiled for CUDA, its products as ``dmul_rn`` (never fused into an FMA) on a GPU."""
    from numba import config

    if config.ENABLE_CUDASIM:
        helpers = {"_mul": _mul, "_rint": _rint, "_ldexp": _ldexp}
    else:
        from numba.cuda import libdevice

        helpers = {"_mul": cuda_device(lambda a, b: libdevice.dmul_rn(a, b)),
                   "_rint": cuda_device(lambda x: libdevice.rint(x)),
                   "_ldexp": cuda_device(lambda x, k: libdevice.ldexp(x, k))}
    phi = cuda_device(_phi, _exp=cuda_device(_exp, **helpers), **helpers)
    return cuda_device(_cdf, _phi=phi, **helpers)


bounds = Twins(_bounds_numpy, lambda: _bounds_entry(cpu_parallel(_bounds_body, _cdf=_cpu_cdf())),
               lambda: _bounds_entry(cuda_parallel(_bounds_body, _cdf=_cuda_cdf())))


# ------------------------------------------------------------------------------------- decode
def _decode_lane(j, lanes, first, means, scales, weights, lo, K, words, state, ptr, stop, out, bad):
    m = means.shape[0]
    k = _first_index(j, lanes, first)
    if k < m:
        x = state[j]
        p = ptr[j]
        e = stop[j]
        while k < m:
            slot = x & np.uint64(TOTAL - 1)
            # guess with the library's erfc (fast, its last bits machine-dependent), then
            # confirm with the exact C; a wrong guess (a slot within ~2 of an edge) only
            # narrows the exact bisection to one side of it
            a, b = _bracket(means, scales, k, lo, K)
            while b - a > 1:
                mid = (a + b) >> 1
                if np.uint64(_rough_cdf(means, scales, weights, k, mid, lo, K)) <= slot:  # noqa: F821 (bound below)
                    a = mid
                else:
                    b = mid
            ca = _cdf(means, scales, weights, k, a, lo, K)
            cb = _cdf(means, scales, weights, k, a + 1, lo, K)
            if np.uint64(ca) <= slot < np.uint64(cb):
                b = a + 1
            elif np.uint64(ca) > slot:
                b, cb, a, ca = a, ca, 0, 0
            else:
                a, ca, b, cb = a + 1, cb, K, TOTAL
            while b - a > 1:
                mid = (a + b) >> 1
                c = _cdf(means, scales, weights, k, mid, lo, K)
                if np.uint64(c) <= slot:
                    a, ca = mid, c
                else:
                    b, cb = mid, c
            x = np.uint64(cb - ca) * (x >> np.uint64(PREC)) + slot - np.uint64(ca)
            x, p, flag = _renorm(x, words, p, e)
            bad[j] |= flag
            out[k] = a
            k += lanes
        state[j] = x
        ptr[j] = p


def _decode_numpy(means, scales, weights, lo, K, words, state, ptr, stop, first):
    lanes, m = state.size, means.shape[0]
    out = np.zeros(m, np.int32)
    bad = False
    for k0 in range(0, m, lanes):
        k = np.arange(k0, min(m, k0 + lanes))
        j = (k + first) % lanes
        x = state[j]
        slot = x & np.uint64(TOTAL - 1)
        a, b = np.zeros(k.size, np.int64), np.full(k.size, K, np.int64)
        ca, cb = np.zeros(k.size, np.int64), np.full(k.size, TOTAL, np.int64)
        while np.any(b - a > 1):
            mid = (a + b) >> 1
            cm = _cdf_numpy(means, scales, weights, k, mid, lo, K)
            live = b - a > 1
            le = live & (cm.astype(np.uint64) <= slot)
            gt = live & ~le
            a, ca = np.where(le, mid, a), np.where(le, cm, ca)
            b, cb = np.where(gt, mid, b), np.where(gt, cm, cb)
        x = (cb - ca).astype(np.uint64) * (x >> np.uint64(PREC)) + slot - ca.astype(np.uint64)
        bad |= renorm_lanes(x, j, words, state, ptr, stop)
        out[k] = a
    return out, bad


def _decode_entry(run):
    def decode(means, scales, weights, lo, K, words, state, ptr, stop, first):
        out = np.zeros(means.shape[0], np.int32)
        bad = np.zeros(state.size, np.int32)
        run(state.size, state.size, int(first), means, scales, weights, int(lo), int(K), words, state,
            ptr, stop, out, bad)
        return out, bool(bad.any())
    decode.run = run  # the raw launch, for device-resident benchmarks
    return decode


decode = Twins(
    _decode_numpy,
    lambda: _decode_entry(cpu_parallel(_decode_lane, _cdf=_cpu_cdf(),
                                       _rough_cdf=cpu_device(_cdf, _phi=cpu_device(_rough_phi), _mul=cpu_device(_mul)),
                                       _bracket=cpu_device(_bracket), _first_index=cpu_device(_first_index),
                                       _renorm=cpu_device(_renorm))),
    lambda: _decode_entry(cuda_parallel(_decode_lane, _cdf=_cuda_cdf(),
                                        _rough_cdf=cuda_device(_cdf, _phi=cuda_device(_rough_phi),
                                                               _mul=cuda_device(_mul)),
                                        _bracket=cuda_device(_bracket), _first_index=cuda_device(_first_index),
                                        _renorm=cuda_device(_renorm))))
