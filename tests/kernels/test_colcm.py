"""logzip's value context mixer (``kernels.colcm``): the twins write the same bytes, decoding
gives the values back, and a damaged stream is refused or decodes to values that fit."""

from __future__ import annotations

import numpy as np
import pytest

from omnicodec.kernels.colcm import MAX_BITS, code


def _columns(seed: int = 0, n: int = 40):
    """Three columns of ``n`` values on the same lines: small clock steps, wide values of which
    some repeat the first column's (the column before on the line), and dictionary codes with
    their new values."""
    rng = np.random.default_rng(seed)
    steps = rng.integers(0, 4, n)
    wide = np.where(rng.random(n) < 0.3, steps, rng.integers(0, 1 << 61, n))
    codes = np.where(np.arange(n) % 8 == 0, 0, rng.integers(1, 4, n))
    new = rng.integers(0, 60000, int((codes == 0).sum()))
    u = np.concatenate([steps, wide, codes]).astype(np.int64)
    tid = np.tile(rng.integers(0, 5, n), 3)
    ptid = np.tile(np.concatenate([[-1], tid[:n - 1]]), 3)
    ref = np.concatenate([np.full(n, -1), np.arange(n), np.arange(n, 2 * n)])
    rows = np.array([[0, n, 1, 0], [n, n, 8, 0], [2 * n, n, 1, 2]])
    return u, tid, ptid, ref, rows, new.astype(np.int64)


def test_the_twins_agree_and_decode_the_values_back():
    u, tid, ptid, ref, rows, new = _columns()
    stored, ok = code["cpu"](u.copy(), tid, ptid, ref, rows, new.copy(), None, False)
    assert ok and code["numpy"](u.copy(), tid, ptid, ref, rows, new.copy(), None, False) == (stored, True)
    assert len(stored) < 8 * 40 + 40 + 2 * new.size  # smaller than the values' byte planes
    for twin in ("cpu", "numpy"):
        got, got_new = np.zeros_like(u), np.zeros(3 * 40, np.int64)
        assert code[twin](got, tid, ptid, ref, rows, got_new, stored, True) == (new.size, True)
        assert got.tolist() == u.tolist() and got_new[:new.size].tolist() == new.tolist()


def test_the_line_context_is_what_it_learns_from():
    """A column whose value is a function of its line's template: coded with the templates,
    it costs a fraction of what it costs with them hidden (every line template 0)."""
    rng = np.random.default_rng(1)
    tid = rng.integers(0, 6, 3000)
    u = (tid * 37 + 5).astype(np.int64)
    rows = np.array([[0, u.size, 2, 0]])
    none = np.full(u.size, -1)
    seen, _ = code["cpu"](u.copy(), tid, none, none, rows, np.zeros(0, np.int64), None, False)
    hidden, _ = code["cpu"](u.copy(), np.zeros_like(tid), none, none, rows, np.zeros(0, np.int64), None, False)
    assert len(seen) < 0.2 * len(hidden)


@pytest.mark.parametrize("seed", range(12))
def test_a_damaged_stream_is_refused_or_fits_its_columns(seed):
    u, tid, ptid, ref, rows, new = _columns(seed)
    stored, _ = code["cpu"](u.copy(), tid, ptid, ref, rows, new.copy(), None, False)
    rng = np.random.default_rng(seed)
    bad = bytearray(stored)
    if seed % 3 == 0:
        bad = bad[:len(bad) // 2]  # truncated
    elif seed % 3 == 1:
        bad[rng.integers(len(bad))] ^= 1 << int(rng.integers(8))
    else:
        bad = bytearray(rng.integers(0, 256, len(bad), np.uint8).tobytes())
    got, got_new = np.zeros_like(u), np.zeros(3 * 40, np.int64)
    found, ok = code["cpu"](got, tid, ptid, ref, rows, got_new, bytes(bad), True)
    if ok:
        assert int(got[:40].max()) < 256 and int(got[40:80].max()) >> MAX_BITS == 0 and int(got[80:].max()) < 256
        assert found == int((got[80:] == 0).sum()) and int(got_new[:found].max(initial=0)) < 1 << 16
