"""FIFO entropy coders over constriction: ``"ans"`` (stack coder, replayed in reverse) and
``"range"`` (queue coder).

A model turns one ``encode(symbols, **params)`` call into *primitives*: (int32 symbols,
constriction model, parameter arrays...).  The coder pushes primitives in order; the decoder pops
them in the same order.  Compressed data is a sequence of little-endian u32 words.
"""

from __future__ import annotations

from typing import Any

import constriction
import numpy as np

from ..errors import CorruptStreamError
from .lanes import MAX_LANES, LaneDecoder, LaneEncoder
from .models import EntropyModel

CODERS = ("ans", "range")


def check_coder(coder: str, lanes: int = 0) -> None:
    """ValueError unless ``coder`` names a coder and ``lanes`` is 0 (sequential) or a lane
    count (1..MAX_LANES, with ``ans``): what a codec config may hold."""
    if coder not in CODERS:
        raise ValueError(f"unknown entropy coder {coder!r}; choose one of {CODERS}")
    if type(lanes) is not int or not 0 <= lanes <= MAX_LANES or (lanes and coder != "ans"):
        raise ValueError(f"lanes must be an integer in 0..{MAX_LANES}, and lanes > 0 is an ANS format (coder "
                         f"'ans'); got lanes={lanes!r} with coder {coder!r}")


class Encoder:
    """Collects symbols model by model; ``finish()`` returns the compressed bytes.  ``lanes=N``
    (N >= 1) writes the lane format (``entropy/lanes.py``) instead of constriction's
    sequential stream."""

    def __init__(self, coder: str = "ans", lanes: int = 0):
        check_coder(coder, lanes)
        self.coder = coder
        self._ops: list[tuple[np.ndarray, Any, tuple[np.ndarray, ...]]] = []
        self._range = constriction.stream.queue.RangeEncoder() if coder == "range" else None
        self._lanes = LaneEncoder(lanes) if lanes else None

    def encode(self, symbols: np.ndarray, model: EntropyModel, **params: np.ndarray) -> None:
        symbols = np.asarray(symbols)
        if self._lanes is not None:
            model.lane_encode(symbols, self._lanes, **params)
        else:
            model.encode(symbols, self._push, **params)

    def _push(self, symbols: np.ndarray, cmodel: Any, *arrays: np.ndarray) -> None:
        if symbols.size == 0:
            return
        symbols = np.ascontiguousarray(symbols, dtype=np.int32)
        if self._range is not None:
            self._range.encode(symbols, cmodel, *arrays)
        else:
            self._ops.append((symbols, cmodel, arrays))

    def finish(self) -> bytes:
        if self._lanes is not None:
            return self._lanes.finish()
        if self._range is not None:
            words = self._range.get_compressed()
        else:
            ans = constriction.stream.stack.AnsCoder()
            for symbols, cmodel, arrays in reversed(self._ops):
                ans.encode_reverse(symbols, cmodel, *arrays)
            words = ans.get_compressed()
        return np.asarray(words, dtype="<u4").tobytes()


class Decoder:
    """Pops symbols in the order they were encoded; raises CorruptStreamError on bad data.
    ``lanes`` is the lane count the stream's config declares (0: a sequential stream)."""

    def __init__(self, data: bytes, coder: str = "ans", lanes: int = 0):
        check_coder(coder, lanes)
        self._lanes = LaneDecoder(data, lanes) if lanes else None
        if self._lanes is not None:
            return
        if len(data) % 4:
            raise CorruptStreamError("entropy-coded data is not a whole number of 32-bit words")
        words = np.frombuffer(data, dtype="<u4").astype(np.uint32)
        try:
            if coder == "range":
                self._coder = constriction.stream.queue.RangeDecoder(words)
            else:
                self._coder = constriction.stream.stack.AnsCoder(words)
        except (ValueError, RuntimeError) as exc:
            raise CorruptStreamError(f"entropy-coded data is invalid: {exc}") from None

    def decode(self, model: EntropyModel, count: int | None = None, **params: np.ndarray) -> np.ndarray:
        if self._lanes is not None:
            return model.lane_decode(self._lanes, count, **params)
        return model.decode(self._pop, count, **params)

    def finish(self) -> None:
        """Checks that the stream ended where its encoder began: a lane stream's every lane, an
        ANS stream's state with all words read (a range stream cannot tell; no-op)."""
        if self._lanes is not None:
            self._lanes.finish()
        elif isinstance(self._coder, constriction.stream.stack.AnsCoder) and not self._coder.is_empty():
            raise CorruptStreamError("entropy-coded data does not end where its encoder began "
                                     "(truncated, extended or damaged)")

    def _pop(self, cmodel: Any, count: int, *arrays: np.ndarray) -> np.ndarray:
        if count == 0:
            return np.zeros(0, dtype=np.int32)
        try:
            if arrays:
                out = self._coder.decode(cmodel, *arrays)
            else:
                out = self._coder.decode(cmodel, count)
        except (ValueError, RuntimeError, AssertionError) as exc:
            raise CorruptStreamError(f"entropy-coded data is invalid: {exc}") from None
        return np.asarray(out, dtype=np.int32)
