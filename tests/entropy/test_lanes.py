"""The lane format (entropy/lanes.py): round trips of every model across lane counts and
twins, its size against the sequential stream, a pinned digest, and refusal of bad data."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from omnicodec.entropy import (
    AdaptiveCategorical,
    Categorical,
    Decoder,
    Encoder,
    GaussianMixture,
    QuantizedGaussian,
    QuantizedLaplace,
    QuantizedLogistic,
)
from omnicodec.entropy.lanes import quantize_counts, quantize_pmf
from omnicodec.errors import CorruptStreamError


def cases(n: int, seed: int = 0):
    """(model, symbols, params) for every model, on data its model fits."""
    rng = np.random.default_rng(seed)
    mu, sc = rng.normal(0, 5, n), np.exp(rng.uniform(-2, 4, n))
    sym = np.clip(np.rint(mu + sc * rng.normal(size=n)), -255, 255).astype(np.int32)
    m, s, w = rng.normal(0, 5, (n, 3)), np.exp(rng.uniform(-1, 2, (n, 3))), rng.uniform(0, 1, (n, 3))
    pick = rng.integers(0, 3, n)
    mix = np.clip(np.rint(m[np.arange(n), pick] + s[np.arange(n), pick] * rng.normal(size=n)), -60, 60)
    yield Categorical(np.array([5, 1, 0, 3, 100])), rng.choice(5, n, p=[0.05, 0.01, 0.0, 0.03, 0.91]), {}
    for family in (QuantizedGaussian, QuantizedLaplace, QuantizedLogistic):
        yield family(-255, 255), sym, {"means": mu, "scales": sc}
    yield GaussianMixture(-60, 60), mix.astype(np.int32), {"means": m, "scales": s, "weights": w}
    yield AdaptiveCategorical(16, 4), rng.zipf(1.5, n) % 16, {"contexts": rng.integers(0, 4, n)}


def code(lanes: int, n: int = 3000, seed: int = 0):
    """All models into one stream (so calls share lanes); returns (data, cases)."""
    enc = Encoder("ans", lanes=lanes)
    cs = list(cases(n, seed))
    for model, sym, params in cs:
        enc.encode(sym, model, **params)
    return enc.finish(), cs


def decode_all(data: bytes, lanes: int, cs) -> list[np.ndarray]:
    dec = Decoder(data, "ans", lanes=lanes)
    out = [dec.decode(model, len(sym), **params) for model, sym, params in cs]
    dec.finish()
    return out


@pytest.mark.parametrize("lanes", [1, 3, 64])
@pytest.mark.parametrize("twin", ["numpy", "cpu"])
def test_round_trip(lanes, twin, monkeypatch):
    monkeypatch.setenv("OMNICODEC_KERNELS", twin)
    data, cs = code(lanes, n=700 if twin == "numpy" else 3000)
    for (_, sym, _), got in zip(cs, decode_all(data, lanes, cs)):
        assert np.array_equal(got, sym)


def test_twins_write_the_same_bytes(monkeypatch):
    monkeypatch.setenv("OMNICODEC_KERNELS", "numpy")
    a = code(5, n=500)[0]
    monkeypatch.setenv("OMNICODEC_KERNELS", "cpu")
    assert code(5, n=500)[0] == a


def test_size_within_half_a_percent_of_the_sequential_stream():
    """The coding costs < 0.5% over constriction's; the framing 12 bytes a lane on top."""
    for model, sym, params in cases(100_000, seed=1):
        sizes = []
        for lanes in (0, 4):
            enc = Encoder("ans", lanes=lanes)
            enc.encode(sym, model, **params)
            sizes.append(len(enc.finish()))
        assert sizes[1] <= sizes[0] * 1.005 + 12 * 4, (type(model).__name__, sizes)


def test_format_is_pinned():
    """The lane format is a bitstream: a change to any model's lane tables or to the coder
    changes this digest, and then needs a new format (old streams must keep decoding)."""
    data = code(3, n=400, seed=2)[0]
    assert hashlib.sha256(data).hexdigest()[:16] == "544d07babd17ff12"


def test_corrupt_streams_are_refused():
    data, cs = code(4, n=500)
    with pytest.raises(CorruptStreamError, match="lanes"):
        Decoder(data, "ans", lanes=5)
    for bad in (data[:-4], data[:20], data[:4], b"", data[:-1], data + b"\0\0\0\0"):
        with pytest.raises(CorruptStreamError):
            decode_all(bad, 4, cs)
    rng = np.random.default_rng(3)
    caught = 0
    for _ in range(200):  # a flipped bit is refused or, rarely, decodes to other symbols
        flipped = bytearray(data)
        flipped[rng.integers(len(data))] ^= 1 << rng.integers(8)
        try:
            out = decode_all(bytes(flipped), 4, cs)
        except CorruptStreamError:
            caught += 1
            continue
        assert any(not np.array_equal(o, sym) for o, (_, sym, _) in zip(out, cs))
    assert caught >= 190


def test_quantized_tables_keep_every_symbol_codable():
    rng = np.random.default_rng(4)
    pmf = rng.uniform(0, 1, (50, 300)) ** 8
    pmf[:, 7] = 0
    for cdf in (quantize_pmf(pmf), quantize_counts(np.rint(pmf * 1000).astype(np.int64))):
        assert cdf[:, 0].max() == 0 and (cdf[:, -1] == 1 << 24).all() and np.diff(cdf.astype(np.int64)).min() >= 1


def test_lanes_need_ans():
    with pytest.raises(ValueError, match="ANS"):
        Encoder("range", lanes=2)


def test_adaptive_with_a_large_context_space():
    """Many more contexts than symbols in a block (the table keeps only those in use)."""
    rng = np.random.default_rng(5)
    model, ctx = AdaptiveCategorical(4, num_contexts=200_000), rng.integers(0, 200_000, 3000)
    sym = rng.integers(0, 4, 3000)
    enc = Encoder("ans", lanes=8)
    enc.encode(sym, model, contexts=ctx)
    dec = Decoder(enc.finish(), "ans", lanes=8)
    assert np.array_equal(dec.decode(model, 3000, contexts=ctx), sym)
    dec.finish()


def test_random_payloads_are_refused_or_decoded_never_crash():
    """The compiled decoders do no bounds checks of their own: any payload with a plausible
    frame (random words, random lane lengths) must end in CorruptStreamError or in symbols
    of the models' domains, never in a read outside the words."""
    rng = np.random.default_rng(6)
    cs = list(cases(200, seed=7))
    for trial in range(150):
        lanes = int(rng.integers(1, 9))
        counts = rng.integers(2, 40, lanes)
        words = rng.integers(0, 1 << 32, int(counts.sum()), dtype=np.uint64)
        if trial % 3 == 0:  # states in range, so decoding goes on
            first = np.cumsum(counts) - counts
            words[first] = rng.integers(1 << 31, 1 << 32, lanes)
        data = np.concatenate([[lanes], counts, words]).astype("<u4").tobytes()
        try:
            out = decode_all(data, lanes, cs)
        except CorruptStreamError:
            continue
        for o, (model, _, _) in zip(out, cs):
            assert domain(model)[0] <= o.min() and o.max() <= domain(model)[1]


def domain(model) -> tuple[int, int]:
    if isinstance(model, Categorical):
        return 0, model.frequencies.size - 1
    if isinstance(model, AdaptiveCategorical):
        return 0, model.alphabet_size - 1
    return model.lo, model.hi
