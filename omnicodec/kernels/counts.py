"""The adaptive categorical's count update, between two blocks of the lane format.

``update[twin](counts, contexts, symbols, increment, limit)`` adds ``increment`` to
``counts[contexts[i], symbols[i]]`` for every i, then halves (rounding up) each row this block
touched whose sum exceeds ``limit``.  Integer arithmetic only, so the order of the additions
does not matter and the twins agree exactly: the CPU twin is one compiled pass (a scatter-add
does not parallelize without atomics), the CUDA twin adds with atomics and halves a row per
thread.
"""

from __future__ import annotations

import numpy as np

from . import Twins, cuda_parallel


def _update_numpy(counts, contexts, symbols, increment, limit):
    np.add.at(counts, (contexts, symbols), increment)
    rows = np.unique(contexts)
    heavy = rows[counts[rows].sum(axis=1) > limit]
    counts[heavy] = (counts[heavy] + 1) // 2


def _halve(r, counts, touched, limit):
    if touched[r]:
        total = 0
        for s in range(counts.shape[1]):
            total += counts[r, s]
        if total > limit:
            for s in range(counts.shape[1]):
                counts[r, s] = (counts[r, s] + 1) // 2


def _update_cpu():
    from numba import njit

    halve = njit(cache=True)(_halve)

    @njit(cache=True)
    def update(counts, contexts, symbols, increment, limit):
        touched = np.zeros(counts.shape[0], np.bool_)
        for i in range(symbols.size):
            counts[contexts[i], symbols[i]] += increment
            touched[contexts[i]] = True
        for r in range(counts.shape[0]):
            halve(r, counts, touched, limit)
    return update


def _add(i, counts, contexts, symbols, increment, touched):
    cuda.atomic.add(counts, (contexts[i], symbols[i]), increment)  # noqa: F821 (bound below)
    touched[contexts[i]] = True


def _update_cuda():
    from numba import cuda

    add, halve = cuda_parallel(_add, cuda=cuda), cuda_parallel(_halve)

    def update(counts, contexts, symbols, increment, limit):
        touched = np.zeros(counts.shape[0], np.bool_)
        add(symbols.size, counts, np.ascontiguousarray(contexts, np.int64),
            np.ascontiguousarray(symbols, np.int64), increment, touched)
        halve(counts.shape[0], counts, touched, limit)
    return update


update = Twins(_update_numpy, _update_cpu, _update_cuda)
