"""The codeword-mixture masses: the NumPy and CPU twins give the same integers, which are the
mixture's floor(π · e^-t) with the cutoff changing nothing."""

import numpy as np
import pytest

from omnicodec.kernels import codewords

pytest.importorskip("numba")


def _case(seed: int, groups=3, d=4, m=37, k=50):
    rng = np.random.default_rng(seed)
    book = (rng.normal(size=(groups, k, d)) * 0.5).astype(np.float16).astype(np.float32)
    loc = (np.rint(rng.normal(size=(groups, d, m)) * 128) / 256).astype(np.float32)
    loc[0, :, 0] = book[0, 3]  # a location on a codeword, and a tie of two codewords
    book[1, 7] = book[1, 8]
    scale = np.exp(rng.uniform(-2, 6, size=(groups, m))).astype(np.float32)
    pi = rng.integers(0, 1 << 29, size=(groups, k))
    return loc, scale, book, pi


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_twins_agree(seed):
    args = _case(seed)
    want = codewords.masses["numpy"](*args, 24.0)
    got = codewords.masses["cpu"](*args, 24.0)
    assert want.shape == (37, 3, 50) and want.dtype == np.int64
    assert np.array_equal(got, want)
    assert (want > 0).sum(2).min() >= 1  # the nearest codeword always has mass (t = 0)


def test_the_masses_are_the_mixture_and_the_cutoff_changes_nothing():
    loc, scale, book, pi = _case(3)
    out = codewords.masses["numpy"](loc, scale, book, pi, 24.0)
    no_cutoff = codewords.masses["numpy"](loc, scale, book, pi, np.inf)
    assert np.array_equal(out, no_cutoff)
    p, g = 5, 2
    d2 = ((loc[g, :, p][None].astype(np.float64) - book[g]) ** 2).sum(1)
    ref = np.floor(pi[g] * np.exp(-(d2 - d2.min()) * float(scale[g, p])))
    assert np.abs(out[p, g] - ref).max() <= np.maximum(1, 1e-5 * ref).max()
