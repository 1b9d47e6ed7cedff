"""Logzip's decoding kernels: the NumPy and compiled twins render the same text, and refuse the
same damaged streams, without reading out of bounds."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from omnicodec.codecs.logzip.blocks import _STREAMS, _structure
from omnicodec.errors import CorruptStreamError
from omnicodec.kernels.logs import META, MIXED_COL

from ..codecs.test_logzip import PIECES, access_log, log_like, names_log, packages_log


def render_with(twin: str, block, cap: int, monkeypatch, rows=None) -> bytes | str:
    monkeypatch.setenv("OMNICODEC_KERNELS", twin)
    try:
        return block.render(cap, rows)
    except (CorruptStreamError, ValueError, IndexError, TypeError):
        return "refused"  # the same exceptions decode_block turns into a CorruptStreamError


def samples():
    rng = np.random.default_rng(1)
    yield log_like(400, seed=3)
    yield log_like(50, seed=4).replace(b"\n", b"\r\n", 20)[:-1]  # no final newline, some CRs
    yield b"".join(PIECES[i] for i in rng.integers(0, len(PIECES), 3000))
    yield b"id=deadbeef01 " * 40 + b"\n" + b"\x01 outlier \xff\n" * 3 + b"x" * 70000 + b"\n7\n"
    yield names_log(300).replace(b"\n", b"\r\n", 50) + b"x\x03y\n" + log_like(40, seed=5) + b"no final newline"
    yield packages_log(500).replace(b"\n", b"\r\n", 70) + b"x\x03y  z\n" + b"no final newline"
    yield access_log() + log_like(60, seed=6)  # joint chains (structure 6: the v3-joint fixture's text)


def structured(data: bytes, structure: int):
    """From structure 5 on, the streams with token slots (where it has none, without)."""
    return (_structure(data, structure, tokens=True) if structure >= 5 else None) or _structure(data, structure)


@pytest.mark.parametrize("structure", [1, 2, 4, 5, 6])
@pytest.mark.parametrize("data", list(samples()), ids=range(7))
def test_twins_render_the_same_text(data, structure, monkeypatch):
    block = structured(data, structure)
    for twin in ("numpy", "cpu"):
        assert render_with(twin, block, len(data), monkeypatch) == data


@pytest.mark.parametrize("structure", [1, 2, 4, 5, 6])
@pytest.mark.parametrize("data", list(samples()), ids=range(7))
def test_twins_render_the_lines_picked(data, structure, monkeypatch):
    """A selection of lines (random, none, all but the last, the last alone) renders as those
    lines of the text, each with its line end (the last without one where the text has none),
    in both twins."""
    block = structured(data, structure)
    parts = data.split(b"\n")
    lines = [p + b"\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])
    rng = np.random.default_rng(len(data))
    picks = [rng.random(len(lines)) < 0.3, np.zeros(len(lines), bool), np.arange(len(lines)) < len(lines) - 1,
             np.arange(len(lines)) == len(lines) - 1]
    for rows in picks:
        want = b"".join(line for line, r in zip(lines, rows) if r)
        for twin in ("numpy", "cpu"):
            assert render_with(twin, block, len(data), monkeypatch, rows) == want
    with pytest.raises(ValueError, match="selection"):
        block.render(len(data), np.ones(len(lines) + 1, bool))


@pytest.mark.parametrize("structure", [1, 2, 4, 5])
@pytest.mark.parametrize("seed", range(3))
def test_twins_refuse_the_same_damage(seed, structure, monkeypatch):
    """Each stream of a block cut, extended or with bytes changed: both twins give the same
    text or both refuse; the cap is honoured.  Structure 2 has mixed-radix columns (its clock's
    minutes and seconds), structures 4 and 5 here string slots (words, tokens) and their stream."""
    data = {4: names_log(200, seed=seed), 5: packages_log(300, seed=seed)}.get(structure, log_like(200, seed=seed))
    block = structured(data, structure)
    assert (structure >= 2) == (MIXED_COL << 4 in {b & 0xF0 for b in block.columns[::META]})
    assert (structure >= 4) == (block.words is not None)
    rng = np.random.default_rng(seed)
    outcomes = set()
    for name in _STREAMS + ["words"] * (structure >= 4):
        raw = getattr(block, name)
        for trial in range(12):
            b = bytearray(raw)
            if trial % 3 == 0 and b:
                del b[rng.integers(0, len(b)):]
            elif trial % 3 == 1:
                b += bytes(rng.integers(0, 256, rng.integers(1, 9), dtype=np.uint8))
            elif b:
                for i in rng.integers(0, len(b), 1 + trial // 3):
                    b[i] = rng.integers(0, 256)
            damaged = dataclasses.replace(block, **{name: bytes(b)})
            got = {twin: render_with(twin, damaged, len(data) + 100, monkeypatch) for twin in ("numpy", "cpu")}
            assert got["numpy"] == got["cpu"], (name, trial)
            assert got["cpu"] == "refused" or len(got["cpu"]) <= len(data) + 100
            outcomes.add(got["cpu"] == "refused")
    assert outcomes == {True, False}  # some damage is refused, some renders (caught by the CRC)
