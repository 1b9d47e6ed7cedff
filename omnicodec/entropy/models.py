"""Exact integer entropy models with a nonzero-probability guarantee over a declared domain.

Every model turns ``encode(symbols, push, **params)`` into primitives for the coder and mirrors
it in ``decode(pop, count, **params)``; parameters are named arrays (``means=``, ``scales=``),
never positional.  constriction quantizes each distribution to 24-bit fixed point and guarantees
every symbol of the domain a nonzero probability ("leaky" quantization), so any in-domain symbol
can be coded.

Families (``QuantizedGaussian``, ``QuantizedLaplace``, ``QuantizedLogistic``) do not evaluate a
CDF per symbol.  As in learned-compression practice (Ballé et al. 2018), each symbol's
parameters are snapped to a table: the scale to one of 64 log-spaced levels in [0.11, 256] and
the mean to 1/8 of an integer.  Symbols are coded as ``symbol - round(mean)`` with the table of
their (scale level, mean fraction) bucket, bucket by bucket, so the number of Python-level calls
is the number of buckets in use (at most 512), not the number of symbols.  The buckets depend
only on the parameters, so the decoder reproduces them before it decodes a symbol.

Determinism: every probability is built from IEEE-754 operations that are correctly rounded by
definition (+, -, *, /, sqrt, rint, ldexp, comparisons), in a fixed order, so a table is the
same on every CPU and numpy build.  Library transcendentals (``np.exp``, ``np.tanh``) are not
used: their last bit differs between libm and numpy's SIMD kernels, and one flipped bit can
move a 24-bit quantized probability, hence a bitstream.  ``_exp`` below reduces the argument
by ln 2 and evaluates a fixed polynomial instead.  constriction quantizes the float tables with
integer and basic float arithmetic.  ``tests/entropy`` pins the sha256 of every family table and
of a mixture's rows, so a machine that computes a different bit fails the tests instead of
writing files that other machines cannot read.  A bucket index is computed from the parameter
arrays with comparisons against constants built the same way; encoder and decoder must be given
bit-identical parameter arrays (learned codecs quantize them first, see design rule 6).
"""

from __future__ import annotations

from functools import cached_property, lru_cache
from typing import Any, Callable

import constriction
import numpy as np

from ..errors import CorruptStreamError
from ..kernels import kernel
from .lanes import CdfTable, LaneDecoder, LaneEncoder, quantize_counts, quantize_pmf

Push = Callable[..., None]
Pop = Callable[..., np.ndarray]

SCALE_MIN = 0.11
SCALE_LEVELS = 64
_SCALE_RATIO = 1.1308467311536556  # (256 / 0.11) ** (1 / 63), written out so no pow() is involved
SCALES = SCALE_MIN * np.cumprod(np.r_[1.0, np.full(SCALE_LEVELS - 1, _SCALE_RATIO)])
_SCALE_BOUNDS = np.sqrt(SCALES[:-1] * SCALES[1:])
MEAN_STEPS = 8  # mean resolution: 1/8 of a symbol
MAX_FAMILY_WIDTH = 1 << 13  # domain width of a table family (hi - lo + 1)
MAX_ALPHABET = 1 << 12  # adaptive / explicit categorical alphabet


class EntropyModel:
    """Base class; see the module docstring for the encode/decode contract."""

    def encode(self, symbols: np.ndarray, push: Push, **params: np.ndarray) -> None:
        raise NotImplementedError

    def decode(self, pop: Pop, count: int | None, **params: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def lane_encode(self, symbols: np.ndarray, lanes: LaneEncoder, **params: np.ndarray) -> None:
        """The lane format's encode (``entropy/lanes.py``): exact integer CDFs to ``lanes``."""
        raise NotImplementedError

    def lane_decode(self, lanes: LaneDecoder, count: int | None, **params: np.ndarray) -> np.ndarray:
        raise NotImplementedError


def _param(params: dict[str, Any], name: str, model: str) -> np.ndarray:
    if name not in params:
        raise TypeError(f"{model} needs the named parameter array {name}=")
    arr = np.asarray(params.pop(name), dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{model}: {name} must be finite")
    return arr


def _no_more(params: dict[str, Any], model: str) -> None:
    if params:
        raise TypeError(f"{model} got unexpected parameters {sorted(params)}")


def _check_domain(symbols: np.ndarray, lo: int, hi: int, model: str) -> np.ndarray:
    symbols = np.asarray(symbols)
    if symbols.dtype.kind not in "iu":
        raise TypeError(f"{model}: symbols must be integers, got {symbols.dtype}")
    if symbols.size and (symbols.min() < lo or symbols.max() > hi):
        raise ValueError(f"{model}: symbols outside the domain [{lo}, {hi}]")
    return symbols.ravel()


def _count(count: int | None, model: str) -> int:
    if count is None or count < 0:
        raise TypeError(f"{model}.decode needs count=")
    return int(count)


# ------------------------------------------------------------------------------- categorical
class Categorical(EntropyModel):
    """A fixed distribution over ``0..K-1`` from non-negative integer frequencies."""

    def __init__(self, frequencies: np.ndarray):
        f = np.asarray(frequencies)
        if f.ndim != 1 or not 1 <= f.size <= MAX_ALPHABET or f.dtype.kind not in "iu":
            raise ValueError(f"frequencies must be 1..{MAX_ALPHABET} integers")
        if f.min() < 0 or f.sum() <= 0:
            raise ValueError("frequencies must be non-negative with a positive sum")
        self.frequencies = f.astype(np.int64)
        self._cmodel = constriction.stream.model.Categorical(
            self.frequencies.astype(np.float64), perfect=False)

    @classmethod
    def from_symbols(cls, symbols: np.ndarray, alphabet_size: int) -> Categorical:
        """The empirical distribution of ``symbols`` (the caller stores the frequencies)."""
        symbols = _check_domain(symbols, 0, alphabet_size - 1, "Categorical")
        return cls(np.bincount(symbols, minlength=alphabet_size))

    def encode(self, symbols, push, **params):
        _no_more(params, "Categorical")
        symbols = _check_domain(symbols, 0, self.frequencies.size - 1, "Categorical")
        if self.frequencies.size > 1:  # a one-symbol alphabet costs no bits
            push(symbols, self._cmodel)

    def decode(self, pop, count, **params):
        _no_more(params, "Categorical")
        count = _count(count, "Categorical")
        if self.frequencies.size == 1:
            return np.zeros(count, dtype=np.int32)
        return pop(self._cmodel, count)

    @cached_property
    def _table(self) -> CdfTable:
        return CdfTable(quantize_counts(self.frequencies))

    def lane_encode(self, symbols, lanes, **params):
        _no_more(params, "Categorical")
        symbols = _check_domain(symbols, 0, self.frequencies.size - 1, "Categorical")
        if self.frequencies.size > 1:
            lanes.table(self._table, np.zeros(symbols.size, np.int32), symbols)

    def lane_decode(self, lanes, count, **params):
        _no_more(params, "Categorical")
        count = _count(count, "Categorical")
        if self.frequencies.size == 1:
            return np.zeros(count, dtype=np.int32)
        return lanes.table(self._table, np.zeros(count, np.int32))


class AdaptiveCategorical(EntropyModel):
    """A backward-adaptive categorical over ``0..K-1``, optionally conditioned on a context.

    Counts start at 1 and grow by ``increment`` per coded symbol in its context row; rows whose
    total passes ``limit`` are halved (recency).  Adaptation happens between blocks whose length
    doubles from 256 up to a cap, so each block is coded with one vectorized call and the decoder
    needs no per-symbol loop: it decodes a block, then updates exactly as the encoder did.
    ``contexts=`` (ints in ``0..num_contexts-1``, one per symbol) must be known to the decoder
    before it decodes, e.g. derived from an earlier stream.
    """

    def __init__(self, alphabet_size: int, num_contexts: int = 1, increment: int = 24,
                 limit: int = 1 << 16):
        if not 1 <= alphabet_size <= MAX_ALPHABET:
            raise ValueError(f"alphabet_size must be in 1..{MAX_ALPHABET}")
        if num_contexts < 1 or num_contexts * alphabet_size > 1 << 24:
            raise ValueError("num_contexts x alphabet_size must be in 1..2**24")
        self.alphabet_size, self.num_contexts = alphabet_size, num_contexts
        self.increment, self.limit = increment, limit
        self._family = constriction.stream.model.Categorical(perfect=False)

    def _blocks(self, n: int):
        size, cap, start = 256, max(256, (1 << 21) // self.alphabet_size), 0
        while start < n:
            yield start, min(n, start + size)
            start, size = start + size, min(cap, size * 2)

    def _contexts(self, params: dict[str, Any], n: int) -> np.ndarray:
        ctx = params.pop("contexts", None)
        _no_more(params, "AdaptiveCategorical")
        if ctx is None:
            return np.zeros(n, dtype=np.int64)
        ctx = np.asarray(ctx).astype(np.int64).ravel()
        if ctx.size != n or (n and (ctx.min() < 0 or ctx.max() >= self.num_contexts)):
            raise ValueError("contexts must be one int in 0..num_contexts-1 per symbol")
        return ctx

    def _update(self, counts: np.ndarray, ctx: np.ndarray, sym: np.ndarray) -> None:
        np.add.at(counts, (ctx, sym), self.increment)
        heavy = counts.sum(axis=1) > self.limit
        if heavy.any():
            counts[heavy] = (counts[heavy] + 1) // 2

    def encode(self, symbols, push, **params):
        symbols = _check_domain(symbols, 0, self.alphabet_size - 1, "AdaptiveCategorical")
        ctx = self._contexts(params, symbols.size)
        counts = np.ones((self.num_contexts, self.alphabet_size), dtype=np.int64)
        if self.alphabet_size == 1:
            return
        for a, b in self._blocks(symbols.size):
            push(symbols[a:b], self._family, counts[ctx[a:b]].astype(np.float64))
            self._update(counts, ctx[a:b], symbols[a:b])

    def decode(self, pop, count, **params):
        n = _count(count, "AdaptiveCategorical")
        ctx = self._contexts(params, n)
        counts = np.ones((self.num_contexts, self.alphabet_size), dtype=np.int64)
        out = np.zeros(n, dtype=np.int32)
        if self.alphabet_size == 1:
            return out
        for a, b in self._blocks(n):
            out[a:b] = pop(self._family, b - a, counts[ctx[a:b]].astype(np.float64))
            self._update(counts, ctx[a:b], out[a:b])
        return out

    # The lane format adapts between the same blocks, but each block's table holds only the
    # contexts it uses, and only the rows a block touched are halved (kernels/counts.py).
    def _lane_blocks(self, ctx: np.ndarray, n: int, code: Callable) -> None:
        """``code(table, rows, a, b)`` codes block a:b and returns its symbols."""
        counts = np.ones((self.num_contexts, self.alphabet_size), dtype=np.int64)
        update = kernel("counts", "update")
        for a, b in self._blocks(n):
            used, rows = _compact(ctx[a:b], self.num_contexts)
            symbols = code(CdfTable(quantize_counts(counts[used])), rows, a, b)
            update(counts, ctx[a:b], symbols, self.increment, self.limit)

    def lane_encode(self, symbols, lanes, **params):
        symbols = _check_domain(symbols, 0, self.alphabet_size - 1, "AdaptiveCategorical")
        ctx = self._contexts(params, symbols.size)
        if self.alphabet_size > 1:
            self._lane_blocks(ctx, symbols.size,
                              lambda table, rows, a, b: lanes.table(table, rows, symbols[a:b]) or symbols[a:b])

    def lane_decode(self, lanes, count, **params):
        n = _count(count, "AdaptiveCategorical")
        ctx = self._contexts(params, n)
        out = np.zeros(n, dtype=np.int32)

        def code(table, rows, a, b):
            out[a:b] = lanes.table(table, rows)
            return out[a:b]
        if self.alphabet_size > 1:
            self._lane_blocks(ctx, n, code)
        return out


# ------------------------------------------------------------------------------------ families
_LN2_HI = 6.93147180369123816490e-01  # ln 2 split so that k * _LN2_HI is exact for |k| < 2**11
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e+00
_EXP_TAYLOR = [1.0 / np.prod(np.arange(1.0, n + 1.0)) for n in range(14)]  # exact factorials


def _exp(x: np.ndarray) -> np.ndarray:
    """e**x from correctly rounded operations only: x = k ln 2 + r with |r| <= ln 2 / 2, then
    e**r by its Taylor series to degree 13 (truncation < 6e-18) and an exact scaling by 2**k.
    Within 1 ulp of libm's exp over [-745, 0] (tests/entropy); the callers pass x <= 0, and x
    is clipped to [-746, 709]."""
    x = np.clip(np.asarray(x, dtype=np.float64), -746.0, 709.0)
    k = np.rint(x * _INV_LN2)
    r = (x - k * _LN2_HI) - k * _LN2_LO
    poly = np.full_like(r, _EXP_TAYLOR[13])
    for c in _EXP_TAYLOR[12::-1]:
        poly = poly * r + c
    return np.ldexp(poly, k.astype(np.int64))


def _erfc(x: np.ndarray) -> np.ndarray:
    """Complementary error function, relative error < 1.2e-7 everywhere (Chebyshev fit,
    Numerical Recipes 6.2)."""
    z = np.abs(x)
    t = 1.0 / (1.0 + 0.5 * z)
    poly = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (
        -0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (
            -0.82215223 + t * 0.17087277))))))))
    r = t * _exp(-z * z + poly)
    return np.where(x >= 0, r, 2.0 - r)


def _gaussian_cdf(x):
    return 0.5 * _erfc(-x * 0.7071067811865476)


def _laplace_cdf(x):
    e = 0.5 * _exp(-np.abs(x))
    return np.where(x < 0, e, 1.0 - e)


def _logistic_cdf(x):
    e = _exp(-np.abs(x))  # 1 / (1 + e**-x), without overflow on either side
    return np.where(x < 0, e / (1.0 + e), 1.0 / (1.0 + e))


def _pmf_from_cdf(cdf: Callable, edges: np.ndarray) -> np.ndarray:
    """Bin probabilities given interior bin edges (last axis); outer bins take the tails."""
    c = cdf(edges)
    zeros = np.zeros(c.shape[:-1] + (1,))
    pmf = np.diff(np.concatenate([zeros, c, zeros + 1.0], axis=-1), axis=-1)
    return np.maximum(pmf, 0.0)


def bucket_pmf(kind: str, width: int, bucket: int) -> np.ndarray:
    """Probabilities of the residuals r in [-(width-1), width-1] for one (scale, mean) bucket."""
    scale = SCALES[bucket // MEAN_STEPS]
    center = (bucket % MEAN_STEPS - MEAN_STEPS // 2) / MEAN_STEPS
    r = np.arange(-(width - 1), width, dtype=np.float64)
    return _pmf_from_cdf(_CDFS[kind], (r[1:] - 0.5 - center) / scale)


@lru_cache(maxsize=8 * SCALE_LEVELS * MEAN_STEPS)
def _bucket_model(kind: str, width: int, bucket: int):
    return constriction.stream.model.Categorical(bucket_pmf(kind, width, bucket), perfect=False)


@lru_cache(maxsize=8 * SCALE_LEVELS * MEAN_STEPS)
def _bucket_cdf(kind: str, width: int, bucket: int) -> np.ndarray:
    return quantize_pmf(bucket_pmf(kind, width, bucket))[0]


def _bucket_table(kind: str, width: int, buckets: np.ndarray) -> tuple[CdfTable, np.ndarray]:
    """The lane table of the buckets in use, and each symbol's row in it."""
    used, rows = _compact(buckets, SCALE_LEVELS * MEAN_STEPS)
    return CdfTable(np.stack([_bucket_cdf(kind, width, b) for b in used.tolist()])), rows


def _compact(ids: np.ndarray, space: int) -> tuple[np.ndarray, np.ndarray]:
    """(the distinct ids in 0..space-1, each id's index among them): np.unique's answer in
    O(len + space) instead of a sort (a sort where the space is much larger than the ids)."""
    if space > 4 * ids.size + 4096:
        used, index = np.unique(ids, return_inverse=True)
        return used, index.astype(np.int32)
    used = np.flatnonzero(np.bincount(ids, minlength=space))
    index = np.zeros(space, np.int32)
    index[used] = np.arange(used.size, dtype=np.int32)
    return used, index[ids]


_CDFS = {"gaussian": _gaussian_cdf, "laplace": _laplace_cdf, "logistic": _logistic_cdf}


class _QuantizedFamily(EntropyModel):
    kind = ""

    def __init__(self, lo: int, hi: int):
        if not (isinstance(lo, (int, np.integer)) and isinstance(hi, (int, np.integer))):
            raise TypeError("lo and hi must be integers")
        if not 1 <= hi - lo + 1 <= MAX_FAMILY_WIDTH:
            raise ValueError(f"domain width must be in 1..{MAX_FAMILY_WIDTH}")
        self.lo, self.hi = int(lo), int(hi)

    def _buckets(self, params: dict[str, Any], n: int | None) -> tuple[np.ndarray, np.ndarray]:
        name = type(self).__name__
        means = _param(params, "means", name).ravel()
        scales = _param(params, "scales", name).ravel()
        _no_more(params, name)
        if means.shape != scales.shape or (n is not None and means.size != n):
            raise ValueError(f"{name}: means and scales need one value per symbol")
        # int16 buckets: a radix argsort
        return kernel("buckets", "family", size=means.size)(means, scales, _SCALE_BOUNDS, MEAN_STEPS)

    def _groups(self, buckets: np.ndarray):
        """(the symbols' order grouped by bucket, stable, and each bucket's (start, stop) in it
        with its model): the encoder codes slices of one sorted array, not a fancy index per
        bucket; the decoder scatters per bucket (one scatter of the whole call measured 7%
        slower at 10^6 symbols)."""
        order = np.argsort(buckets, kind="stable")
        counts = np.bincount(buckets, minlength=SCALE_LEVELS * MEAN_STEPS)
        ends = np.cumsum(counts)
        width = self.hi - self.lo + 1
        used = np.flatnonzero(counts)
        spans = zip((ends[used] - counts[used]).tolist(), ends[used].tolist(), used.tolist())
        return order, [(a, b, _bucket_model(self.kind, width, bucket)) for a, b, bucket in spans]

    def encode(self, symbols, push, **params):
        symbols = _check_domain(symbols, self.lo, self.hi, type(self).__name__)
        center, buckets = self._buckets(params, symbols.size)
        offset = self.hi - self.lo  # residual -> table index
        if offset == 0:  # a one-value domain costs no bits
            return
        # centers outside the domain are clipped so that every residual stays in the table
        residual = np.clip(symbols - np.clip(center, self.lo, self.hi), -offset, offset)
        order, groups = self._groups(buckets)
        grouped = (residual[order] + offset).astype(np.int32)
        for a, b, cmodel in groups:
            push(grouped[a:b], cmodel)

    def decode(self, pop, count, **params):
        center, buckets = self._buckets(params, count)
        center = np.clip(center, self.lo, self.hi)
        offset = self.hi - self.lo
        out = np.full(center.size, self.lo, dtype=np.int64)
        if offset == 0:
            return out.astype(np.int32)
        order, groups = self._groups(buckets)
        for a, b, cmodel in groups:
            idx = order[a:b]
            out[idx] = pop(cmodel, b - a) - offset + center[idx]
        return self._in_domain(out)

    def _in_domain(self, out: np.ndarray) -> np.ndarray:
        if out.size and (out.min() < self.lo or out.max() > self.hi):
            raise CorruptStreamError(f"{type(self).__name__}: decoded symbols leave the domain")
        return out.astype(np.int32)

    def lane_encode(self, symbols, lanes, **params):
        symbols = _check_domain(symbols, self.lo, self.hi, type(self).__name__)
        center, buckets = self._buckets(params, symbols.size)
        offset = self.hi - self.lo
        if offset and symbols.size:
            table, rows = _bucket_table(self.kind, offset + 1, buckets)
            lanes.table(table, rows, symbols - np.clip(center, self.lo, self.hi) + offset)

    def lane_decode(self, lanes, count, **params):
        center, buckets = self._buckets(params, count)
        center = np.clip(center, self.lo, self.hi)
        offset = self.hi - self.lo
        if not offset or not center.size:
            return np.full(center.size, self.lo, dtype=np.int32)
        table, rows = _bucket_table(self.kind, offset + 1, buckets)
        return self._in_domain(lanes.table(table, rows).astype(np.int64) - offset + center)


class QuantizedGaussian(_QuantizedFamily):
    """Gaussian N(mean, scale^2) integrated over unit bins, symbols in [lo, hi]."""

    kind = "gaussian"


class QuantizedLaplace(_QuantizedFamily):
    """Laplace(mean, b=scale) integrated over unit bins, symbols in [lo, hi]."""

    kind = "laplace"


class QuantizedLogistic(_QuantizedFamily):
    """Logistic(mean, s=scale) integrated over unit bins, symbols in [lo, hi]."""

    kind = "logistic"


def _sum_in_order(terms: list[np.ndarray]) -> np.ndarray:
    """terms[0] + terms[1] + ... left to right: numpy's reductions may pair terms differently
    on another build, and float addition is not associative."""
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total


class GaussianMixture(EntropyModel):
    """A K-component Gaussian mixture per symbol over [lo, hi]: ``means=``, ``scales=``,
    ``weights=`` of shape (n, K).  Each row's bin probabilities are evaluated without bucketing,
    in chunks, from the same correctly rounded operations as the family tables and with the
    components summed in a fixed order, then coded with constriction's categorical family."""

    _CHUNK_CELLS = 1 << 22

    def __init__(self, lo: int, hi: int):
        if not 1 <= hi - lo + 1 <= MAX_FAMILY_WIDTH:
            raise ValueError(f"domain width must be in 1..{MAX_FAMILY_WIDTH}")
        self.lo, self.hi = int(lo), int(hi)
        self._family = constriction.stream.model.Categorical(perfect=False)

    def _params(self, params: dict[str, Any], n: int | None):
        """(means, scales, normalized weights), each (n, K) float64 and C-contiguous."""
        means = np.atleast_2d(_param(params, "means", "GaussianMixture"))
        scales = np.atleast_2d(_param(params, "scales", "GaussianMixture"))
        weights = np.atleast_2d(_param(params, "weights", "GaussianMixture"))
        _no_more(params, "GaussianMixture")
        if not means.shape == scales.shape == weights.shape or (n is not None and len(means) != n):
            raise ValueError("GaussianMixture: means, scales, weights must all be (n, K)")
        if np.any(scales <= 0) or np.any(weights < 0):
            raise ValueError("GaussianMixture: scales must be > 0 and weights >= 0")
        weights = weights / np.maximum(_sum_in_order(list(weights.T)), 1e-300)[:, None]
        return tuple(np.ascontiguousarray(x) for x in (means, scales, weights))

    def _rows(self, params: dict[str, Any], n: int | None):
        means, scales, weights = self._params(params, n)
        edges = np.arange(self.lo, self.hi, dtype=np.float64) + 0.5
        step = max(1, self._CHUNK_CELLS // (edges.size * means.shape[1] + 1))
        for a in range(0, len(means), step):
            m, s, w = (x[a:a + step, :, None] for x in (means, scales, weights))
            cdf = lambda e: _sum_in_order([w[:, k] * _gaussian_cdf((e - m[:, k]) / s[:, k])  # noqa: E731
                                           for k in range(w.shape[1])])
            yield a, min(a + step, len(means)), _pmf_from_cdf(cdf, edges[None, :])

    def encode(self, symbols, push, **params):
        symbols = _check_domain(symbols, self.lo, self.hi, "GaussianMixture")
        if self.hi == self.lo:
            return
        for a, b, pmf in self._rows(params, symbols.size):
            push(symbols[a:b] - self.lo, self._family, pmf)

    def decode(self, pop, count, **params):
        if self.hi == self.lo:
            return np.full(_count(count, "GaussianMixture"), self.lo, dtype=np.int32)
        out = [pop(self._family, b - a, pmf) + self.lo for a, b, pmf in self._rows(params, count)]
        return np.concatenate(out).astype(np.int32) if out else np.zeros(0, np.int32)

    def lane_encode(self, symbols, lanes, **params):
        symbols = _check_domain(symbols, self.lo, self.hi, "GaussianMixture")
        means, scales, weights = self._params(params, symbols.size)
        if self.hi > self.lo and symbols.size:
            k = self.hi - self.lo + 1
            lanes.push(*kernel("mixture", "bounds")(symbols - self.lo, means, scales, weights, self.lo, k))

    def lane_decode(self, lanes, count, **params):
        means, scales, weights = self._params(params, count)
        if self.hi == self.lo or not len(means):
            return np.full(len(means), self.lo, dtype=np.int32)
        return lanes.mixture(means, scales, weights, self.lo, self.hi - self.lo + 1) + self.lo
