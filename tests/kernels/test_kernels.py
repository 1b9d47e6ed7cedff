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

from omnicodec.kernels import kernel, twin
from omnicodec.kernels.rans import LOWER, TOTAL

ROOT = Path(__file__).resolve().parents[2]


def random_tables(rng, rows: int, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flat integer CDF rows of k symbols, each frequency >= 1, some rows very skewed."""
    freq = rng.integers(1, 1 << rng.integers(1, 20), (rows, k))
    freq[:, 0] += rng.integers(0, 1 << 22, rows)
    freq = np.maximum(1, freq * (TOTAL - k) // freq.sum(1, keepdims=True))
    freq[:, 0] += TOTAL - freq.sum(1)
    cdf = np.concatenate([np.zeros((rows, 1), np.int64), np.cumsum(freq, 1)], 1)
    return cdf.astype(np.uint32).ravel(), np.arange(rows, dtype=np.int64) * (k + 1), np.full(rows, k, np.int32)


def lane_state(words: np.ndarray, counts: np.ndarray):
    stop = np.cumsum(counts)
    ptr = stop - counts
    state = (words[ptr].astype(np.uint64) << np.uint64(32)) | words[ptr + 1].astype(np.uint64)
    return state, ptr + 2, stop


def run_all(which: list[str], n: int, lanes: int, seed: int) -> dict[str, list[np.ndarray]]:
    """Every job on the same random inputs with each twin in ``which``: their outputs."""
    rng = np.random.default_rng(seed)
    cdf, starts, sizes = random_tables(rng, 5, 37)
    rows = rng.integers(0, 5, n).astype(np.int32)
    symbols = rng.integers(0, 37, n)
    b = starts[rows] + symbols
    start, freq = cdf[b], cdf[b + 1] - cdf[b]
    lo, k, comps = -20, 41, 3
    means = rng.normal(0, 8, (n, comps))
    scales = np.exp(rng.uniform(-2.5, 4, (n, comps)))
    weights = rng.uniform(0, 1, (n, comps))
    weights /= weights.sum(1, keepdims=True)
    mix_symbols = rng.integers(0, k, n).astype(np.int32)
    out: dict[str, list[np.ndarray]] = {}
    for w in which:
        words, counts = kernel("rans", "encode", w)(start, freq, lanes)
        state, ptr, stop = lane_state(words, counts)
        half = n // 3  # two calls: lane states carry over
        d1, bad1 = kernel("rans", "decode_tables", w)(rows[:half], cdf, starts, sizes, words, state, ptr, stop, 0)
        d2, bad2 = kernel("rans", "decode_tables", w)(rows[half:], cdf, starts, sizes, words, state, ptr, stop,
                                                       half % lanes)
        end_ok = bool(np.all(state == LOWER) and np.all(ptr == stop))
        mstart, mfreq = kernel("mixture", "bounds", w)(mix_symbols, means, scales, weights, lo, k)
        mwords, mcounts = kernel("rans", "encode", w)(mstart, mfreq, lanes)
        mstate, mptr, mstop = lane_state(mwords, mcounts)
        mdec, mbad = kernel("mixture", "decode", w)(means, scales, weights, lo, k, mwords, mstate, mptr, mstop, 0)
        center, bucket = kernel("buckets", "family", w)(means[:, 0] / 3, scales[:, 0], np.geomspace(0.11, 256, 63), 8)
        counts_table = np.ones((4, 37), np.int64)
        kernel("counts", "update", w)(counts_table, rows % 4, symbols, 24, 400)
        out[w] = [words, counts, np.r_[d1, d2], np.array([bad1, bad2, end_ok]), mstart, mfreq, mwords, mdec,
                  np.array([mbad]), center, bucket, counts_table]
        assert (np.r_[d1, d2] == symbols).all() and end_ok and not bad1 and not bad2
        assert (mdec == mix_symbols).all() and not mbad
    return out


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


def test_twin_choice_is_checked(monkeypatch):
    monkeypatch.setenv("OMNICODEC_KERNELS", "tpu")
    with pytest.raises(ValueError, match="OMNICODEC_KERNELS"):
        twin()
    with pytest.raises(ValueError, match="unknown kernel twin"):
        kernel("rans", "encode", "fpga")
