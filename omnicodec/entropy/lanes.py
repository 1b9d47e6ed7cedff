"""The lane format: the backend's parallel ANS, ``Encoder("ans", lanes=N)``.

``N`` interleaved rANS coders (``kernels/rans.py``): symbol i of the stream, counted across
every ``encode`` call, goes to lane ``i % N``, so each call decodes lane-parallel on CPU
threads or GPU threads, and any twin decodes the same symbols.  Models hand the lanes exact
integer CDFs with 24-bit precision: table rows quantized once (``quantize_pmf`` /
``quantize_counts``: every symbol of a row gets a frequency of at least 1), or, for the
Gaussian mixture, the two CDF edges of each symbol evaluated on the fly
(``kernels/mixture.py``).  Sequential ``ans`` / ``range`` streams are a separate format and
keep decoding through constriction.

Payload layout (little-endian):

    u32 N (1..MAX_LANES) | u32 words[N] (per lane, >= 2) | lane 0's u32 words | lane 1's | ...

A lane's words are its final encoder state (two words) then the words it shed, in decode
order.  The decoder checks the layout before it allocates anything per lane, flags a lane that
runs out of words, and ``finish()`` checks that every lane ended in the encoder's initial
state having read all its words (a bit flip or truncation almost never survives both).
Overhead: 12 bytes per lane.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from ..errors import CorruptStreamError
from ..kernels import kernel
from ..kernels.rans import LOWER, MASK32, TOTAL, lane_sizes, lookup_rows

MAX_LANES = 1 << 16


def quantize_pmf(pmf: np.ndarray) -> np.ndarray:
    """Integer CDF rows (R, K+1), uint32, 0 .. 2**24, from probability rows (R, K): each
    symbol gets ``1 + floor(p / sum * (2**24 - K))``, the remainder goes to the row's first
    most probable symbol.  Only correctly rounded operations and a sequential sum (cumsum), so
    the table is the same on every machine."""
    pmf = np.atleast_2d(np.asarray(pmf, np.float64))
    k = pmf.shape[1]
    total = np.cumsum(pmf, axis=1)[:, -1:]
    freq = 1 + np.floor(pmf / np.maximum(total, 1e-300) * float(TOTAL - k)).astype(np.int64)
    return _cdf_rows(freq, pmf.argmax(axis=1))


def quantize_counts(counts: np.ndarray) -> np.ndarray:
    """Integer CDF rows from integer counts (R, K), exactly (integer arithmetic only)."""
    counts = np.atleast_2d(np.asarray(counts, np.int64))
    k = counts.shape[1]
    total = np.maximum(counts.sum(axis=1, keepdims=True), 1)
    return _cdf_rows(1 + counts * (TOTAL - k) // total, counts.argmax(axis=1))


def _cdf_rows(freq: np.ndarray, top: np.ndarray) -> np.ndarray:
    freq[np.arange(len(freq)), top] += TOTAL - freq.sum(axis=1)
    cdf = np.zeros((freq.shape[0], freq.shape[1] + 1), np.int64)
    np.cumsum(freq, axis=1, out=cdf[:, 1:])
    return cdf.astype(np.uint32)


class CdfTable:
    """Integer CDF rows of equal length, flattened for the kernels, with their decode lookup
    tables (built on first use)."""

    def __init__(self, rows: np.ndarray):
        rows = np.atleast_2d(rows)
        self.cdf = np.ascontiguousarray(rows, np.uint32).ravel()
        self.starts = np.arange(rows.shape[0], dtype=np.int64) * rows.shape[1]

    @cached_property
    def lut(self) -> np.ndarray:
        return lookup_rows(self.cdf.reshape(self.starts.size, -1))


class LaneEncoder:
    """Collects the calls; ``finish()`` codes them on ``lanes`` lanes, last call first."""

    def __init__(self, lanes: int):
        if not 1 <= lanes <= MAX_LANES:
            raise ValueError(f"lanes must be in 1..{MAX_LANES}")
        self.lanes = lanes
        self._calls: list[tuple[int, str, tuple[np.ndarray, ...]]] = []

    def push(self, start: np.ndarray, freq: np.ndarray) -> None:
        """Symbols given by their CDF interval: ``start`` and ``freq`` (uint32) each."""
        start = np.ascontiguousarray(start, np.uint32)
        self._calls.append((start.size, "encode_bounds", (start, np.ascontiguousarray(freq, np.uint32))))

    def table(self, table: CdfTable, rows: np.ndarray, symbols: np.ndarray) -> None:
        """Symbols ``symbols`` of the rows ``rows`` of ``table``."""
        self._calls.append((symbols.size, "encode_tables", (np.ascontiguousarray(rows, np.int32),
                            np.ascontiguousarray(symbols, np.int32), table.cdf, table.starts)))

    def finish(self) -> bytes:
        n = sum(size for size, _, _ in self._calls)
        ends = np.cumsum(lane_sizes(n, self.lanes) + 2)  # a symbol sheds <= 1 word; the state 2
        out = np.zeros(int(ends[-1]), np.uint32)
        pos, state = ends.copy(), np.full(self.lanes, LOWER, np.uint64)
        for size, job, data in reversed(self._calls):
            n -= size
            kernel("rans", job)(*data, n % self.lanes, state, pos, out)
        out[pos - 1] = (state & np.uint64(MASK32)).astype(np.uint32)
        out[pos - 2] = (state >> np.uint64(32)).astype(np.uint32)
        counts = ends - (pos - 2)
        words = out[np.concatenate([np.arange(e - c, e) for e, c in zip(ends.tolist(), counts.tolist())])]
        head = np.concatenate([[self.lanes], counts]).astype("<u4")
        return head.tobytes() + words.astype("<u4").tobytes()


class LaneDecoder:
    """Decodes a lane payload call by call, in the encoder's order."""

    def __init__(self, data: bytes, lanes: int | None = None):
        if len(data) % 4 or len(data) < 4:
            raise CorruptStreamError("lane-coded data is not a whole number of 32-bit words")
        n = int(np.frombuffer(data, "<u4", 1)[0])
        if not 1 <= n <= MAX_LANES or (lanes is not None and n != lanes):
            raise CorruptStreamError(f"lane-coded data declares {n} lanes"
                                     + (f", the stream's config {lanes}" if lanes is not None else ""))
        if len(data) < 4 * (1 + n + 2 * n):
            raise CorruptStreamError("lane-coded data is truncated")
        counts = np.frombuffer(data, "<u4", n, 4).astype(np.int64)
        self.words = np.frombuffer(data, "<u4", offset=4 * (1 + n)).astype(np.uint32)
        if counts.min() < 2 or counts.sum() != self.words.size:
            raise CorruptStreamError("lane-coded data: the lane lengths do not match the data")
        self.stop = np.cumsum(counts)
        first = self.stop - counts
        self.state = (self.words[first].astype(np.uint64) << np.uint64(32)) | self.words[first + 1]
        if np.any(self.state < LOWER) or np.any(self.state >> np.uint64(63)):
            raise CorruptStreamError("lane-coded data: a lane's state is out of range")
        self.ptr = first + 2
        self.lanes, self.pos = n, 0

    def _advance(self, out: tuple[np.ndarray, bool]) -> np.ndarray:
        symbols, bad = out
        if bad:
            raise CorruptStreamError("lane-coded data is invalid: a lane ran out of words")
        self.pos = (self.pos + symbols.size) % self.lanes
        return symbols

    def table(self, table: CdfTable, rows: np.ndarray) -> np.ndarray:
        """Symbols (row indexes into each row of ``table``), one per entry of ``rows``."""
        run = kernel("rans", "decode_tables")
        return self._advance(run(rows, table.cdf, table.starts, table.lut, self.words,
                                 self.state, self.ptr, self.stop, self.pos))

    def mixture(self, means, scales, weights, lo: int, k: int) -> np.ndarray:
        """Symbols minus ``lo`` of per-symbol Gaussian mixtures over ``lo .. lo + k - 1``."""
        run = kernel("mixture", "decode")
        return self._advance(run(means, scales, weights, lo, k, self.words, self.state, self.ptr,
                                 self.stop, self.pos))

    def run(self, fn, *args) -> np.ndarray:
        """What a model's own decode kernel reads: ``fn(*args, words, state, ptr, stop)`` ->
        (symbols, bad), advancing the lanes' state; the call must start on lane 0 (``pc``'s
        one call per stream)."""
        if self.pos:
            raise ValueError("a kernel's decode must start on lane 0")
        return self._advance(fn(*args, self.words, self.state, self.ptr, self.stop))

    def finish(self) -> None:
        """Every lane consumed all its words and returned to the initial state."""
        if np.any(self.ptr != self.stop) or np.any(self.state != LOWER):
            raise CorruptStreamError("lane-coded data is invalid: the lanes do not end where they began")
