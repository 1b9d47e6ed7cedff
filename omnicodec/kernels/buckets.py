"""The quantized families' parameter buckets (``entropy.models``): per symbol, the mean's
rounded center and a bucket = scale level x mean fraction.

``family[twin](means, scales, bounds, steps) -> (center int64, bucket int16)``: with
``q = rint(mean * steps)``, ``center = (q + steps // 2) // steps`` (round half up),
``fraction = q - center * steps + steps // 2`` and ``level`` the number of ``bounds`` below
the scale (numpy's ``searchsorted``), ``bucket = level * steps + fraction``.  One rounding
(``rint`` of a product), then integers and comparisons: every twin gives the same buckets.
The compiled twins guess the level from a logarithm (the bounds are geometric) and correct
it by comparisons, so the guess's last bit does not matter; 3x faster than a bisection,
whose branches the CPU cannot predict.
"""

from __future__ import annotations

import math

import numpy as np

from . import Twins, cpu_parallel, cuda_parallel


def _family_numpy(means, scales, bounds, steps):
    q = np.rint(means * steps).astype(np.int64)
    center = (q + steps // 2) // steps
    level = np.searchsorted(bounds, scales)
    return center, (level * steps + q - center * steps + steps // 2).astype(np.int16)


def _family_body(i, means, scales, bounds, steps, shift, inv_log_ratio, center, bucket):
    q = np.int64(np.rint(means[i] * steps))
    c = (q + steps // 2) >> shift  # floor division by the power of two ``steps``
    s = scales[i]
    n = bounds.size
    level = 0  # the number of bounds below s: a logarithm's guess, then exact comparisons
    if s > bounds[0]:
        level = n
        if inv_log_ratio > 0:
            level = min(max(math.ceil(math.log(s / bounds[0]) * inv_log_ratio), 1), n)
        while level > 0 and bounds[level - 1] >= s:
            level -= 1
        while level < n and bounds[level] < s:
            level += 1
    center[i] = c
    bucket[i] = level * steps + q - c * steps + steps // 2


def _family_entry(run):
    def family(means, scales, bounds, steps):
        if steps & (steps - 1):
            raise ValueError("steps must be a power of two")
        n = means.size
        center, bucket = np.zeros(n, np.int64), np.zeros(n, np.int16)
        ratio = bounds[1] / bounds[0] if bounds.size > 1 else 1.0  # geometric bounds: a close guess
        run(n, means, scales, bounds, int(steps), int(steps).bit_length() - 1,
            1.0 / math.log(ratio) if ratio > 1 else 0.0, center, bucket)
        return center, bucket
    return family


family = Twins(_family_numpy, lambda: _family_entry(cpu_parallel(_family_body)),
               lambda: _family_entry(cuda_parallel(_family_body)))
