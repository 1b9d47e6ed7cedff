"""The probabilistic circuit's coding loop: the NumPy and CPU twins give the same intervals and
decode the same pixels, every value stays codable under extreme tables, and damaged streams are
flagged without reading outside them."""

import numpy as np
import pytest

from omnicodec.entropy.lanes import LaneDecoder, LaneEncoder
from omnicodec.kernels import pc as kpc
from omnicodec.kernels.rans import TOTAL

torch = pytest.importorskip("torch")

from omnicodec.models import pc  # noqa: E402


def _tables(seed: int, hidden: int = 5, side: int = 6, skew: float = 1.0):
    """Integer tables of a random HCLT on a random tree over side x side pixels; ``skew`` > 1
    sharpens every distribution (down to probabilities far below 2**-20)."""
    rng = np.random.default_rng(seed)
    d = side * side
    parent = np.array([-1] + [int(rng.integers(0, v)) for v in range(1, d)])
    perm = rng.permutation(d)  # the root anywhere, children of any index
    parent = np.array([-1 if parent[i] < 0 else perm[parent[i]] for i in np.argsort(perm)])

    def dist(*shape):
        p = rng.random(shape) ** (8 * skew)
        return torch.from_numpy(np.log(p / p.sum(-1, keepdims=True))).half()

    art = {"config": {"hidden": hidden, "basis": 3, "height": side, "width": side}, "parent": torch.from_numpy(parent),
           "prior": dist(hidden), "trans": dist(d, hidden, hidden), "mix": dist(d, hidden, 3), "basis": dist(3, 256)}
    t = pc.tables(art)
    return tuple(t[k] for k in ("prior", "trans", "up", "emit", "parent", "order"))


def _code(tables, pixels, which, lanes=None):
    start, freq = kpc.bounds[which](pixels, *tables)
    lanes = lanes or len(pixels)
    enc = LaneEncoder(lanes)
    enc.push(kpc.lane_order(start, lanes), kpc.lane_order(freq, lanes))
    return start, freq, enc.finish()


@pytest.mark.parametrize("seed, tiles, lanes, skew", [(0, 1, 1, 1.0), (1, 6, 3, 1.0), (2, 3, 3, 4.0), (5, 4, 1, 1.0)])
def test_twins_agree_and_round_trip(seed, tiles, lanes, skew):
    tables = _tables(seed, skew=skew)
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (tiles, 36)).astype(np.uint8)
    pixels[:, ::3] = rng.choice([0, 255], (tiles, 12))
    s0, f0, data = _code(tables, pixels, "numpy", lanes)
    s1, f1, data1 = _code(tables, pixels, "cpu", lanes)
    assert np.array_equal(s0, s1) and np.array_equal(f0, f1) and data == data1
    assert f0.min() >= 1 and np.all(s0.astype(np.int64) + f0 <= TOTAL)
    for which in ("numpy", "cpu"):
        dec = LaneDecoder(data, lanes)
        out = dec.run(kpc.decode[which], tiles, *tables)
        dec.finish()
        assert np.array_equal(out, pixels)


def test_every_value_keeps_a_nonzero_interval_under_extreme_tables():
    tables = _tables(3, hidden=7, skew=6.0)
    pixels = (np.arange(36)[None] + np.arange(256)[:, None]) % 256  # every value at every pixel
    start, freq = kpc.bounds["cpu"](pixels.astype(np.uint8), *tables)
    assert freq.min() >= 1


def test_the_cost_matches_the_model_likelihood():
    """The coded bits of a tile equal -log2 of the float model's probability to < 0.5%."""
    side = 6
    model = pc.HCLT(pc.PCConfig(hidden=4, basis=3, height=side, width=side))
    model.set_parent(np.array([-1] + list(range(side * side - 1))))
    art = model.export()
    tables = tuple(pc.tables(art)[k] for k in ("prior", "trans", "up", "emit", "parent", "order"))
    pixels = np.random.default_rng(1).integers(0, 256, (4, side * side)).astype(np.uint8)
    _, freq = kpc.bounds["cpu"](pixels, *tables)
    bits = -np.log2(freq / TOTAL).sum()
    with torch.no_grad():
        nll = -model.log_likelihood(torch.from_numpy(pixels).long()).sum().item() / np.log(2)
    assert abs(bits - nll) < 0.005 * nll


def test_damaged_words_are_caught():
    """A flipped word: a lane runs dry, other pixels come out, or the lanes end off their start."""
    from omnicodec.errors import CorruptStreamError

    tables = _tables(4)
    pixels = np.random.default_rng(4).integers(0, 256, (3, 36)).astype(np.uint8)
    _, _, data = _code(tables, pixels, "cpu")
    for pos in range(16, len(data), 4):
        bad = bytearray(data)
        bad[pos] ^= 0x21
        for which in ("numpy", "cpu"):
            lanes = LaneDecoder(bytes(bad), 3)
            try:
                out = lanes.run(kpc.decode[which], 3, *tables)
                lanes.finish()
            except CorruptStreamError:
                continue
            assert not np.array_equal(out, pixels)
