"""Deflate streams apart and together: the parse inflates as zlib does, the writer puts the
parsed stream back bit for bit, and the corrections give the parse back, for every deflater we
can run (zlib's levels and strategies, stored and fixed blocks, flushes, zopfli, libdeflate,
gzip(1)); the NumPy twin (the uncompiled source) agrees with the CPU one; a damaged recipe is
refused in one error, never read out of bounds."""

from __future__ import annotations

import random
import shutil
import subprocess
import zlib

import imagecodecs
import numpy as np
import pytest

from omnicodec.datasets.recipes import deflate_rebuild, deflate_recipe
from omnicodec.errors import CorruptStreamError
from omnicodec.kernels import deflate

TEXT = b"".join(b"2026-12-07 13:%02d:%02d host%d sshd[%d]: session %s for user u%d\n"
                % (i // 60 % 60, i % 60, i % 7, 4000 + i % 13, b"opened" if i % 3 else b"closed", i % 29)
                for i in range(3000))


def _image_rows(h: int, w: int) -> bytes:
    """PNG-like rows of a noisy photo-like plane (the Sub filter), where optimal parsers take
    many shorter or no matches: what the cost classes are for."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[:h, :w]
    img = (np.sin(x / 9.0) * 60 + np.cos(y / 7.0) * 50 + 128 + rng.normal(0, 6, (h, w))).clip(0, 255).astype(np.uint8)
    return b"".join(b"\1" + np.diff(row, prepend=np.uint8(0)).tobytes() for row in img)


IMAGE = _image_rows(160, 256)


def _flags(recipe: bytes) -> int:
    """A recipe's chain field (the chain and the CLASSED and DEEP flags)."""
    import lzma

    from omnicodec.datasets.recipes import _BODY

    return _BODY.unpack_from(lzma.LZMADecompressor(format=lzma.FORMAT_ALONE).decompress(recipe))[4]


def _classed(recipe: bytes) -> bool:
    from omnicodec.datasets.recipes import CLASSED

    return bool(_flags(recipe) & CLASSED)


def _zlib(data: bytes, level: int = 6, strategy: int = 0, mem: int = 8, flush_at: int | None = None) -> bytes:
    z = zlib.compressobj(level, zlib.DEFLATED, -15, mem, strategy)
    if flush_at is None:
        return z.compress(data) + z.flush()
    return z.compress(data[:flush_at]) + z.flush(zlib.Z_SYNC_FLUSH) + z.compress(data[flush_at:]) + z.flush()


STREAMS = {
    "zlib-1": lambda: _zlib(TEXT, 1), "zlib-6": lambda: _zlib(TEXT), "zlib-9": lambda: _zlib(TEXT, 9),
    "stored": lambda: _zlib(TEXT[:70000], 0), "fixed": lambda: _zlib(TEXT, 6, zlib.Z_FIXED),
    "huffman": lambda: _zlib(TEXT, 6, zlib.Z_HUFFMAN_ONLY), "rle": lambda: _zlib(bytes(5000) + TEXT, 6, zlib.Z_RLE),
    "sync-flush": lambda: _zlib(TEXT, 6, flush_at=1000), "empty": lambda: _zlib(b""),
    "zopfli": lambda: imagecodecs.zopfli_encode(TEXT[:60000])[2:-4],
    "libdeflate-12": lambda: imagecodecs.deflate_encode(TEXT, level=12, raw=True),
}


def _gzip_body(data: bytes) -> bytes:
    """gzip(1)'s own deflate (not zlib's): the member's body."""
    out = subprocess.run(["gzip", "-9", "-n", "-c"], input=data, capture_output=True, check=True).stdout
    return out[10:-8]


@pytest.mark.parametrize("name", sorted(STREAMS))
def test_parse_write_and_the_recipe_give_the_stream_back(name):
    stream = STREAMS[name]()
    raw = zlib.decompress(stream, -15)
    parsed, lengths, dists, blocks, end, ok = deflate.parse["cpu"](stream, 8 * len(stream), len(raw))
    assert ok and parsed.tobytes() == raw and (end + 7) // 8 == len(stream)
    assert int(np.maximum(lengths, 1).sum()) == len(raw)  # every byte a literal or inside a match
    recipe = deflate_recipe(stream, raw)
    assert recipe is not None and deflate_rebuild(raw, recipe) == stream
    assert len(recipe) < max(200, len(stream) // 3)


@pytest.mark.skipif(shutil.which("gzip") is None, reason="gzip(1) is not installed")
def test_gzips_own_deflater_is_remade_cheaply():
    stream = _gzip_body(TEXT)
    recipe = deflate_recipe(stream, TEXT)
    assert recipe is not None and deflate_rebuild(TEXT, recipe) == stream and len(recipe) < len(stream) // 20


def test_a_stream_longer_than_its_data_or_shorter_is_not_parsed():
    stream = _zlib(TEXT)
    assert not deflate.parse["cpu"](stream, 8 * len(stream), len(TEXT) - 1)[-1]  # more bytes than the cap
    assert not deflate.parse["cpu"](stream[:-3], 8 * len(stream) - 24, len(TEXT))[-1]  # truncated
    assert deflate_recipe(stream, TEXT[:-1]) is None and deflate_recipe(stream + b"\0", TEXT) is None


def test_the_numpy_twin_is_the_cpu_twin():
    data = TEXT[:3000]
    stream = _zlib(data, 1)
    parsed = {w: deflate.parse[w](stream, 8 * len(stream), len(data)) for w in ("numpy", "cpu")}
    for a, b in zip(parsed["numpy"], parsed["cpu"]):
        assert np.array_equal(np.asarray(a), np.asarray(b))
    raw, lengths, dists, blocks, end, _ = parsed["cpu"]
    stored = np.zeros(len(lengths), bool)
    (sizes, corrections), = deflate.diff["cpu"](raw, lengths, dists, stored, 128)
    (numpy_sizes, numpy_corrections), = deflate.diff["numpy"](raw, lengths, dists, stored, 128)
    assert np.array_equal(sizes, numpy_sizes) and corrections == numpy_corrections
    for w in ("numpy", "cpu"):
        back = deflate.undiff[w](raw, np.zeros((0, 2), np.int64), sizes, corrections, 128)
        assert back[2] and np.array_equal(back[0], lengths) and np.array_equal(back[1], dists)


@pytest.mark.parametrize("form", ["plain", "classed"])
def test_a_damaged_recipe_is_refused_and_nothing_else(form):
    data = TEXT if form == "plain" else IMAGE
    stream = _zlib(data, 9, flush_at=5000) if form == "plain" else imagecodecs.zopfli_encode(data)[2:-4]
    recipe = deflate_recipe(stream, data)
    assert _classed(recipe) == (form == "classed")
    rng = random.Random(3)
    outcomes = set()
    for i in range(300):
        bad = bytearray(recipe)
        if i % 3 == 0 and form == "classed":  # in the kinds after the LZMA part
            bad = bad[:-8 - i % 5] + bytes(rng.randrange(256) for _ in range(8))
        else:
            for _ in range(rng.randint(1, 3)):
                bad[rng.randrange(len(bad))] = rng.randrange(256)
        try:
            outcomes.add("same" if deflate_rebuild(data, bytes(bad)) == stream else "other")
        except CorruptStreamError:
            outcomes.add("refused")
    assert "refused" in outcomes and "other" not in outcomes  # (xz's own checks, then ours)


@pytest.mark.parametrize("deflater", ["zopfli", "libdeflate-12"])
def test_an_optimal_parsers_kinds_go_by_cost_class_and_cost_less(deflater, monkeypatch):
    """Where a deflater weighs a match's bits against its literals', the recipe splits the
    kinds by that difference under the block's own codes and codes them by their counts:
    smaller than the plain form, and it remakes the stream."""
    from omnicodec.datasets import recipes

    stream = (imagecodecs.zopfli_encode(IMAGE)[2:-4] if deflater == "zopfli"
              else imagecodecs.deflate_encode(IMAGE, level=12, raw=True))
    classed = deflate_recipe(stream, IMAGE)
    monkeypatch.setattr(recipes, "ENCODER", 1)
    plain = deflate_recipe(stream, IMAGE)
    assert _classed(classed) and not _classed(plain) and len(classed) < 0.9 * len(plain)
    assert deflate_rebuild(IMAGE, classed) == stream and deflate_rebuild(IMAGE, plain) == stream


def test_on_long_data_the_chain_is_picked_on_a_sample_and_the_whole_is_walked_once(monkeypatch):
    """The matcher walks the whole data once at the chain its first CHAIN_SAMPLE bytes prefer
    (a walk per chain before): the recipe still remakes the stream, as small as the full
    search's here."""
    from omnicodec.datasets import recipes
    from omnicodec.kernels import deflate as kernels

    stream = imagecodecs.zopfli_encode(IMAGE)[2:-4]
    full = deflate_recipe(stream, IMAGE)
    walked = []
    diff = kernels.diff["cpu"]
    monkeypatch.setattr(kernels, "diff", {w: (lambda raw, *a, **k: walked.append(len(raw)) or diff(raw, *a, **k))
                                          for w in ("numpy", "cpu", "cuda")})
    monkeypatch.setattr(recipes, "CHAIN_SAMPLE", 16384)
    sampled = deflate_recipe(stream, IMAGE)
    assert deflate_rebuild(IMAGE, sampled) == stream and len(sampled) <= len(full) * 1.02
    assert walked.count(len(IMAGE)) == 1 and len(walked) == 3  # (two sample walks, one whole)


def test_the_twins_agree_on_code_lengths_and_classed_corrections():
    data = _image_rows(24, 64)
    stream = imagecodecs.zopfli_encode(data)[2:-4]
    raw, lengths, dists, blocks, _, ok = deflate.parse["cpu"](stream, 8 * len(stream), len(data))
    costs = {w: deflate.code_lengths[w](stream, blocks[:, :3]) for w in ("numpy", "cpu")}
    assert ok and np.array_equal(costs["numpy"], costs["cpu"]) and costs["cpu"][:, :256].any()
    stored = np.zeros(len(lengths), bool)
    layouts = {w: deflate.diff[w](raw, lengths, dists, stored, 128, costs["cpu"], blocks[:, 3]) for w in ("numpy", "cpu")}
    for (a_sizes, a_data), (b_sizes, b_data) in zip(layouts["numpy"], layouts["cpu"]):
        assert np.array_equal(a_sizes, b_sizes) and a_data == b_data
    (sizes, data_), plain = layouts["cpu"]
    assert len(sizes) == deflate.streams(len(deflate.COST_EDGES) + 1) and sorted(data_) == sorted(plain[1])
    for w in ("numpy", "cpu"):
        back = deflate.undiff[w](raw, np.zeros((0, 2), np.int64), sizes, data_, 128, costs["cpu"], blocks[:, 3])
        assert back[2] and np.array_equal(back[0], lengths) and np.array_equal(back[1], dists)


def _far_repeats(size: int, alike: int = 150, times: int = 4) -> bytes:
    """A word of ``size`` bytes that comes back after ``alike`` look-alikes (its first 3 bytes,
    then noise): the nearest match as long lies beyond the matcher's 128-candidate chain."""
    rng = np.random.default_rng(1)
    word = rng.integers(97, 123, size).astype(np.uint8).tobytes()
    parts = []
    for _ in range(times):
        parts.append(word)
        parts += [word[:3] + rng.integers(0, 256, 4).astype(np.uint8).tobytes() for _ in range(alike)]
    return b"".join(parts)


@pytest.mark.parametrize("size", [6, 12])  # ranked in the 3-byte chains; in the LONG-byte ones
def test_deep_ranks_name_matches_beyond_the_chain_without_distances(size):
    """Ranks among the whole window's candidates: an optimal parser's far match costs a rank,
    not an explicit distance, both twins agree, and undiff gives the parse back (only when
    told the ranks are deep)."""
    data = _far_repeats(size)
    stream = imagecodecs.zopfli_encode(data)[2:-4]
    raw, lengths, dists, _, _, ok = deflate.parse["cpu"](stream, 8 * len(stream), len(data))
    stored, none = np.zeros(len(lengths), bool), np.zeros((0, 2), np.int64)
    (sizes, corrections), = deflate.diff["cpu"](raw, lengths, dists, stored, 128)
    (deep_sizes, deep), = deflate.diff["cpu"](raw, lengths, dists, stored, 128, deep=True)
    far = deflate.STREAMS - 1
    assert ok and sizes[far] >= 40 and deep_sizes[far] == 0 and len(deep) < len(corrections)
    (numpy_sizes, numpy_deep), = deflate.diff["numpy"](raw, lengths, dists, stored, 128, deep=True)
    assert np.array_equal(numpy_sizes, deep_sizes) and numpy_deep == deep
    for w in ("numpy", "cpu"):
        back = deflate.undiff[w](raw, none, deep_sizes, deep, 128, deep=True)
        assert back[2] and np.array_equal(back[0], lengths) and np.array_equal(back[1], dists)
    shallow = deflate.undiff["cpu"](raw, none, deep_sizes, deep, 128)
    assert not (shallow[2] and np.array_equal(shallow[1], dists))


def test_an_optimal_parsers_far_matches_cost_a_recipe_less_with_deep_ranks(monkeypatch):
    """At the shorter chain, today's encoder writes deep ranks (the DEEP flag) where the
    one before wrote explicit distances: a smaller recipe that remakes the stream."""
    from omnicodec.datasets import recipes

    data = _far_repeats(12, times=12)
    stream = imagecodecs.zopfli_encode(data)[2:-4]
    monkeypatch.setattr(deflate, "CHAINS", (128,))
    deep = deflate_recipe(stream, data)
    monkeypatch.setattr(recipes, "ENCODER", 2)
    before = deflate_recipe(stream, data)
    assert _flags(deep) & recipes.DEEP and not _flags(before) & recipes.DEEP and len(deep) < 0.9 * len(before)
    assert deflate_rebuild(data, deep) == stream and deflate_rebuild(data, before) == stream


def test_the_matchers_work_is_bounded(monkeypatch):
    """Past its budget the encoder writes no recipe (data of long chains and short matches)."""
    data = np.random.default_rng(0).integers(0, 2, 200_000).astype(np.uint8).tobytes()
    stream = _zlib(data, 9)
    monkeypatch.setattr(deflate, "budget", lambda n: 1000)
    assert deflate_recipe(stream, data) is None
