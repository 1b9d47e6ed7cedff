"""walloc's context statistics: what each latent of an interlaced pass sees of its 4 neighbours.

``neighbours[twin](r, nb, ok, count) -> (total, act, mag)``: r (C, N) int64 latent symbols
(centred), nb (4, n) flat indices of each latent's neighbours in the pass, ok (4, n) which of
them are inside the plane, count (n,) how many are (at least one).  Per channel c and latent i,
over the neighbours k inside:

    total[c, i] = Σ r[c, nb[k, i]]          act[c, i] = max - min of them      (int64)
    mag[c, i]   = Σ |r[c, nb[k, i]]| / count[i]                                (float64)

The mean is one correctly rounded division of two integers, so every twin and every machine
gives the same floats: the encoder and the decoder (``codecs.walloc``) compute the Laplace
scales from them.  The NumPy twin gathers the (C, 4, n) values; the CPU and CUDA twins run a
latent a lane, without the gathered copy (at 64 channels the gather and its masks were a
fifth of a Kodak encode).
"""

from __future__ import annotations

import numpy as np

from . import Twins, cpu_parallel, cuda_parallel


def _neighbours_numpy(r, nb, ok, count):
    values = r[:, nb]
    inside = np.where(ok, values, 0)
    big, small = np.iinfo(np.int64).max, np.iinfo(np.int64).min
    act = np.where(ok, values, small).max(axis=1) - np.where(ok, values, big).min(axis=1)
    return inside.sum(axis=1), act, np.abs(inside).sum(axis=1) / count


def _latent(j, r, nb, ok, count, total, act, mag):
    n = nb.shape[1]
    c = j // n
    i = j - c * n
    t = 0
    a = 0
    hi = -(1 << 62)
    lo = 1 << 62
    for k in range(4):
        if ok[k, i]:
            v = r[c, nb[k, i]]
            t += v
            a += v if v >= 0 else -v
            hi = v if v > hi else hi
            lo = v if v < lo else lo
    total[c, i] = t
    act[c, i] = hi - lo
    mag[c, i] = a / count[i]


def _twin(build):
    def make():
        loop = build(_latent)

        def run(r, nb, ok, count):
            c, n = r.shape[0], nb.shape[1]
            total, act, mag = np.empty((c, n), np.int64), np.empty((c, n), np.int64), np.empty((c, n))
            if c * n:
                loop(c * n, np.ascontiguousarray(r, np.int64), np.ascontiguousarray(nb, np.int64),
                     np.ascontiguousarray(ok), np.ascontiguousarray(count, np.int64), total, act, mag)
            return total, act, mag
        return run
    return make


neighbours = Twins(_neighbours_numpy, _twin(cpu_parallel), _twin(cuda_parallel))
