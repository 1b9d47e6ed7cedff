"""Integer masses of a Gaussian mixture over codewords (mcquic's fine level, ``codecs/mcquic.py``).

For a position p and a group g with location f (d values), scale factor a and codewords c_k with
integer weights π_k (< 2**30):

    D_k = Σ_j (f_j - c_kj)²          float32, j = 0 .. d-1 in order, from 0
    t_k = (D_k - min_k D_k) · a       float32
    mass_k = floor(π_k · _exp(-t_k))  float64 (``entropy.models._exp``), where t_k < cutoff; else 0

Beyond the cutoff the product is below 1 for any weight below 2**30, so leaving the exponential
out there changes nothing; it saves most of the work once the scales are small.  Only correctly
rounded operations, in one order: both twins give the same integers (the CPU twin is compiled
without fastmath, so LLVM fuses no multiply-add).  NumPy and CPU twins (the CUDA slot runs the
CPU one: decoding is not GPU-bound here).

``masses[twin](loc (G, d, m) float32, scale (G, m) float32, book (G, K, d) float32,
pi (G, K) int64, cutoff) -> (m, G, K) int64``
"""

from __future__ import annotations

import math

import numpy as np

from . import Twins, cpu_device, cpu_parallel
from .mixture import _exp, _ldexp, _mul, _rint


def _masses_numpy(loc, scale, book, pi, cutoff):
    from ..entropy.models import _exp as exp

    g, d, m = loc.shape
    d2 = np.zeros((g, book.shape[1], m), np.float32)
    for j in range(d):
        d2 += np.square(loc[:, j][:, None, :] - book[:, :, j][:, :, None])
    t = (d2 - d2.min(1, keepdims=True)) * scale[:, None, :]
    near = t < cutoff
    out = np.zeros(t.shape, np.int64)
    out[near] = np.floor(np.broadcast_to(pi[:, :, None], t.shape)[near] * exp(-t[near].astype(np.float64)))
    return np.ascontiguousarray(out.transpose(2, 0, 1))


def _distance(loc, book, g, k, p):
    acc = np.float32(0.0)
    for j in range(book.shape[2]):
        diff = loc[g, j, p] - book[g, k, j]
        acc = acc + diff * diff
    return acc


def _masses_body(i, loc, scale, book, pi, cutoff, out):
    groups, codes = book.shape[0], book.shape[1]
    p, g = i // groups, i % groups
    low = _distance(loc, book, g, 0, p)
    for k in range(1, codes):
        low = min(low, _distance(loc, book, g, k, p))
    for k in range(codes):
        t = (_distance(loc, book, g, k, p) - low) * scale[g, p]
        out[p, g, k] = 0
        if t < cutoff:
            out[p, g, k] = np.int64(math.floor(np.float64(pi[g, k]) * _exp(-np.float64(t))))


def _masses_cpu():
    from numba import njit

    jit = njit(cache=True, inline="always")
    helpers = {"_mul": jit(_mul), "_rint": jit(_rint), "_ldexp": jit(_ldexp)}
    run = cpu_parallel(_masses_body, _exp=cpu_device(_exp, **helpers), _distance=cpu_device(_distance, inline=True))

    def masses(loc, scale, book, pi, cutoff):
        g, _, m = loc.shape
        out = np.empty((m, g, book.shape[1]), np.int64)
        run(m * g, loc, scale, book, pi, float(cutoff), out)
        return out
    return masses


masses = Twins(_masses_numpy, _masses_cpu, _masses_cpu)
