"""The wavelet packet analysis's one step: split an axis into its low and high band.

``split[twin](x, filters, offset) -> y``: x (N, L, M) float32, split along its middle axis (L
even) with the two analysis filters ``filters`` (2, T) in periodization mode:

    y[n, b, k, m] = Σ_j filters[b, j] · x[n, (2k + j + offset) mod L, m]        (N, 2, L/2, M)

which is ``models.wavelets.WaveletPacket._split`` along one axis (its channel order (c, band)
is y reshaped to (2N, L/2, M)).  Float32 sums over j in order, as torch's polyphase form; the
two agree to float32 rounding (tested), not bit for bit: only the encoder runs this, and a
stream records the symbols, not how they were computed.

The CPU twin is one compiled pass per split, vectorized along M (the contiguous axis), where
the torch form writes every term's intermediate to memory.  ``WaveletPacket`` splits an image's
columns after one transpose and its rows after another (the splits along different axes
commute), then puts the bands in its order: a 3-level RGB analysis of a Kodak image in about
11 ms instead of 37 (one thread; 6 of them the splits).  The NumPy twin gathers once (the
circular padding) and slices; there is no GPU form (training on a GPU runs the torch form), so
``cuda`` runs the CPU twin.
"""

from __future__ import annotations

import numpy as np

from . import Twins, cpu_device, cpu_parallel


def _split_numpy(x, filters, offset):
    n, length, m = x.shape
    half, taps = length // 2, filters.shape[1]
    f = filters.astype(np.float32)
    reach = taps + abs(offset)
    padded = x[:, np.arange(-reach, length + reach) % length]  # circular, so that every tap is a slice
    y = np.zeros((n, 2, half, m), np.float32)
    term = np.empty((n, half, m), np.float32)
    for j in range(taps):
        src = padded[:, reach + j + offset: reach + j + offset + 2 * half: 2]
        for band in (0, 1):
            if f[band, j] == 0:  # (adding 0 · x changes no sum: the CPU twin skips them too)
                continue
            np.multiply(src, f[band, j], out=term)
            np.add(y[:, band], term, out=y[:, band])
    return y


def _wrap(i, length):
    """i mod length for i within a few lengths of 0, without the integer division."""
    while i < 0:
        i += length
    while i >= length:
        i -= length
    return i


def _row(row, x, filters, offset, y):
    """Row ``row`` (channel c, output k) of the split: both bands of y[c, :, k]."""
    length, m = x.shape[1], x.shape[2]
    half = length // 2
    c, k = row // half, row % half
    lo, hi = y[c, 0, k], y[c, 1, k]
    for j in range(filters.shape[1]):
        src = x[c, wrap(2 * k + j + offset, length)]  # noqa: F821 (bound below)
        a, b = filters[0, j], filters[1, j]
        if a != 0:
            for i in range(m):
                lo[i] += a * src[i]
        if b != 0:
            for i in range(m):
                hi[i] += b * src[i]


def _split_cpu():
    loop = cpu_parallel(_row, wrap=cpu_device(_wrap, inline=True))

    def run(x, filters, offset):
        x = np.ascontiguousarray(x, np.float32)
        y = np.zeros((x.shape[0], 2, x.shape[1] // 2, x.shape[2]), np.float32)
        loop(x.shape[0] * (x.shape[1] // 2), x, np.ascontiguousarray(filters, np.float32), int(offset), y)
        return y
    return run


split = Twins(_split_numpy, _split_cpu, _split_cpu)
