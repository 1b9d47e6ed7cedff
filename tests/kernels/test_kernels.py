"""The kernels' twins agree bit for bit: NumPy reference vs the CPU njit twin here, vs the CUDA
twin under the CUDA simulator (a subprocess, since numba reads NUMBA_ENABLE_CUDASIM when it is
imported) and on a real GPU when one is present (``gpu`` marker)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from omnicodec.entropy.lanes import CdfTable, LaneDecoder, LaneEncoder
from omnicodec.kernels import kernel, twin
from omnicodec.kernels.rans import TOTAL, lookup_rows

ROOT = Path(__file__).resolve().parents[2]


def random_tables(rng, rows: int, k: int) -> CdfTable:
    """Integer CDF rows of k symbols, each frequency >= 1, some rows very skewed."""
    freq = rng.integers(1, 1 << rng.integers(1, 20), (rows, k))
    freq[:, 0] += rng.integers(0, 1 << 22, rows)
    freq = np.maximum(1, freq * (TOTAL - k) // freq.sum(1, keepdims=True))
    freq[:, 0] += TOTAL - freq.sum(1)
    return CdfTable(np.concatenate([np.zeros((rows, 1), np.int64), np.cumsum(freq, 1)], 1))


def run_all(which: list[str], n: int, lanes: int, seed: int) -> dict[str, list[np.ndarray]]:
    """Every job on the same random inputs with each twin in ``which``: their outputs.  The
    coder runs through the lane framing (entropy/lanes.py) with three calls, so lane states
    carry across calls in both directions."""
    rng = np.random.default_rng(seed)
    table = random_tables(rng, 5, 37)
    rows = rng.integers(0, 5, n).astype(np.int32)
    symbols = rng.integers(0, 37, n)
    lo, k, comps = -20, 41, 3
    means = rng.normal(0, 8, (n, comps))
    scales = np.exp(rng.uniform(-2.5, 4, (n, comps)))
    weights = rng.uniform(0, 1, (n, comps))
    weights /= weights.sum(1, keepdims=True)
    mix_symbols = rng.integers(0, k, n).astype(np.int32)
    cut = n // 3
    out: dict[str, list[np.ndarray]] = {}
    old = os.environ.get("OMNICODEC_KERNELS")
    try:
        for w in which:
            os.environ["OMNICODEC_KERNELS"] = w
            bounds = kernel("mixture", "bounds")(mix_symbols, means, scales, weights, lo, k)
            enc = LaneEncoder(lanes)
            enc.table(table, rows[:cut], symbols[:cut])
            enc.push(*bounds)
            enc.table(table, rows[cut:], symbols[cut:])
            data = enc.finish()
            dec = LaneDecoder(data, lanes)
            got = [dec.table(table, rows[:cut]), dec.mixture(means, scales, weights, lo, k), dec.table(table, rows[cut:])]
            dec.finish()
            assert np.array_equal(np.r_[got[0], got[2]], symbols) and np.array_equal(got[1], mix_symbols)
            bounds = np.geomspace(0.11, 256, 63)
            edge = np.r_[bounds, np.nextafter(bounds, 0), 0.0, -1.0, 1e300, 5e-324][: n]  # ties, extremes
            sc = np.r_[edge, scales[edge.size:, 0]]
            center, bucket = kernel("buckets", "family")(means[:, 0] / 3, sc, bounds, 8)
            counts_table = np.ones((4, 37), np.int64)
            kernel("counts", "update")(counts_table, rows % 4, symbols, 24, 400)
            stats = kernel("context", "neighbours")(*context_case(rng_context(seed), 3, 1 + n % 23, 5 + n % 11))
            out[w] = [np.frombuffer(data, np.uint8), *bounds, *got, center, bucket, counts_table, *stats]
    finally:
        if old is None:
            os.environ.pop("OMNICODEC_KERNELS", None)
        else:
            os.environ["OMNICODEC_KERNELS"] = old
    return out


def rng_context(seed: int):
    return np.random.default_rng(1000 + seed)


def context_case(rng, channels: int, h: int, w: int):
    """walloc's context statistics' inputs: latents (channels, h·w) and one interlaced pass of
    an h × w plane (its neighbours' indices, which are inside, how many)."""
    from omnicodec.codecs.walloc import _interlace

    _, passes = _interlace(h, w)
    _, nb, ok, count = passes[rng.integers(len(passes))] if passes else (None, np.zeros((4, 0), np.int64),
                                                                           np.zeros((4, 0), bool), np.zeros(0, np.int64))
    return rng.integers(-127, 128, (channels, h * w)), nb, ok, count


def assert_twins_agree(which: list[str], n: int, lanes: int, seed: int) -> None:
    out = run_all(which, n, lanes, seed)
    ref = out[which[0]]
    for w in which[1:]:
        for i, (a, b) in enumerate(zip(ref, out[w])):
            assert a.dtype == b.dtype and np.array_equal(a, b), f"{w} differs from {which[0]} in output {i}"


@pytest.mark.parametrize("n,lanes,seed", [(0, 3, 0), (1, 1, 1), (2, 5, 2), (3000, 1, 3), (5000, 7, 4), (20000, 64, 5)])
def test_cpu_twin_matches_numpy(n, lanes, seed):
    assert_twins_agree(["numpy", "cpu"], n, lanes, seed)


def test_cuda_twin_matches_numpy_in_the_simulator():
    code = "from tests.kernels.test_kernels import assert_twins_agree as a; a(['numpy', 'cuda'], 300, 6, 7)"
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1", "PYTHONPATH": str(ROOT)}
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]


@pytest.mark.gpu
def test_cuda_twin_matches_cpu_on_a_gpu():
    from numba import cuda

    if not cuda.is_available():
        pytest.skip("no CUDA device")
    assert_twins_agree(["cpu", "cuda"], 200_000, 4096, 8)


def test_mixture_cdf_is_strictly_increasing_over_extreme_parameters():
    """Every symbol keeps a frequency >= 1 (else the encoder could not code it), also for
    scales far beyond and below the data's and means far outside the domain."""
    rng = np.random.default_rng(9)
    n, lo, k = 4000, -300, 601
    means = rng.uniform(-5000, 5000, (n, 2))
    scales = np.exp(rng.uniform(np.log(1e-3), np.log(1e5), (n, 2)))
    weights = rng.uniform(0, 1, (n, 2))
    weights /= weights.sum(1, keepdims=True)
    for s in (0, k // 2, k - 1):
        start, freq = kernel("mixture", "bounds", "cpu")(np.full(n, s, np.int32), means, scales, weights, lo, k)
        assert freq.min() >= 1 and (start.astype(np.int64) + freq).max() <= TOTAL


def test_small_jobs_run_the_numpy_twin_until_a_process_has_given_enough(monkeypatch):
    import sys

    from omnicodec import kernels

    monkeypatch.delenv("OMNICODEC_KERNELS", raising=False)
    monkeypatch.setattr(kernels, "_SEEN", {})
    monkeypatch.delitem(sys.modules, "numba", raising=False)  # as in a fresh process (nothing imports it here)
    quarter = kernels.SMALL_JOB // 4
    assert [kernels.chosen("wavelets", "split", size=quarter) for _ in range(5)] == ["numpy"] * 3 + ["cpu"] * 2
    assert kernels.chosen("buckets", "family", size=quarter) == "numpy"  # counted per kernel
    assert kernels.chosen("buckets", "family") == "cpu" and kernels.chosen("rans", "encode", "numpy", 1 << 30) == "numpy"


def test_twin_choice_is_checked(monkeypatch):
    monkeypatch.setenv("OMNICODEC_KERNELS", "tpu")
    with pytest.raises(ValueError, match="OMNICODEC_KERNELS"):
        twin()
    with pytest.raises(ValueError, match="unknown kernel twin"):
        kernel("rans", "encode", "fpga")


def _buckets_in_child(queue) -> None:
    means, scales = np.linspace(-9, 9, 5000), np.geomspace(0.05, 50, 5000)
    queue.put([a.tolist() for a in kernel("buckets", "family")(means, scales, np.geomspace(0.1, 60, 64), 16)])


def test_a_child_forked_after_numba_ran_is_not_aborted():
    """numba's OpenMP pool kills a forked child that enters it; such children (DataLoader
    workers) get the NumPy twins, which give the same results."""
    import multiprocessing

    means, scales = np.linspace(-9, 9, 5000), np.geomspace(0.05, 50, 5000)
    here = kernel("buckets", "family", "cpu")(means, scales, np.geomspace(0.1, 60, 64), 16)  # the pool runs
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_buckets_in_child, args=(queue,))
    child.start()
    got = queue.get(timeout=30)
    child.join(60)
    assert child.exitcode == 0 and [a.tolist() for a in here] == got


def test_lookup_tables_bracket_every_slot():
    """lut[slot >> LUT_SHIFT] and the next entry bracket the symbol that holds any slot."""
    from omnicodec.kernels.rans import LUT_SHIFT, LUT_SIZE

    table = random_tables(np.random.default_rng(10), 6, 300)
    cdf = table.cdf.reshape(6, -1).astype(np.int64)
    lut = lookup_rows(cdf).reshape(6, LUT_SIZE)
    slots = np.random.default_rng(11).integers(0, TOTAL, 20000)
    for r in range(6):
        sym = np.searchsorted(cdf[r], slots, side="right") - 1
        b = slots >> LUT_SHIFT
        assert (lut[r, b] <= sym).all() and (sym <= lut[r, b + 1]).all()


@pytest.mark.parametrize("h,w", [(2, 2), (1, 9), (7, 1), (9, 14), (33, 20)])
def test_context_statistics_are_those_of_the_neighbours_inside(h, w):
    """Every pass of an odd-sized plane against a loop over the neighbours inside, the mean
    magnitude as the exact quotient; the CPU twin equal to the NumPy one."""
    from omnicodec.codecs.walloc import _interlace

    rng = rng_context(h * w)
    r = rng.integers(-127, 128, (2, h * w))
    for _, nb, ok, count in _interlace(h, w)[1]:
        want = [], [], []
        for c in range(2):
            for i in range(nb.shape[1]):
                v = [int(r[c, nb[k, i]]) for k in range(4) if ok[k, i]]
                assert len(v) == count[i] >= 1
                for out, x in zip(want, (sum(v), max(v) - min(v), sum(map(abs, v)) / len(v))):
                    out.append(x)
        for which in ("numpy", "cpu"):
            got = kernel("context", "neighbours", which)(r, nb, ok, count)
            for g, x in zip(got, want):
                assert np.array_equal(g.ravel(), np.array(x, g.dtype))
