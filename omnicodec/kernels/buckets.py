"""The quantized families' parameter buckets (``entropy.models``): per symbol, the mean's
rounded center and a bucket = scale level x mean fraction.

``family[twin](means, scales, bounds, steps) -> (center int64, bucket int16)``: with
``q = rint(mean * steps)``, ``center = (q + steps // 2) // steps`` (round half up),
``fraction = q - center * steps + steps // 2`` and ``level`` the number of ``bounds`` below
the scale (numpy's ``searchsorted``), ``bucket = level * steps + fraction``.  One rounding
(``rint`` of a product), then integers and comparisons: every twin gives the same buckets.
"""

from __future__ import annotations

import numpy as np

from . import Twins, cpu_parallel, cuda_parallel


def _family_numpy(means, scales, bounds, steps):
    q = np.rint(means * steps).astype(np.int64)
    center = (q + steps // 2) // steps
    level = np.searchsorted(bounds, scales)
    return center, (level * steps + q - center * steps + steps // 2).astype(np.int16)


def _family_body(i, means, scales, bounds, steps, center, bucket):
    q = np.int64(np.rint(means[i] * steps))
    c = (q + steps // 2) // steps
    lo, hi = 0, bounds.size  # the first bound >= scale
    while lo < hi:
        mid = (lo + hi) >> 1
        if bounds[mid] < scales[i]:
            lo = mid + 1
        else:
            hi = mid
    center[i] = c
    bucket[i] = lo * steps + q - c * steps + steps // 2


def _family_entry(run):
    def family(means, scales, bounds, steps):
        n = means.size
        center, bucket = np.zeros(n, np.int64), np.zeros(n, np.int16)
        run(n, means, scales, bounds, int(steps), center, bucket)
        return center, bucket
    return family


family = Twins(_family_numpy, lambda: _family_entry(cpu_parallel(_family_body)),
               lambda: _family_entry(cuda_parallel(_family_body)))
