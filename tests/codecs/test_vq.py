"""vq: the tiles and their sections, the rate ladder, the integer prior against the model's,
repair of damaged tiles (API and CLI) and of lost indices.  The learned-codec kit
(test_learned.py) runs its checklist, fixture, weights errors and cross-process decoding."""

import warnings

import numpy as np
import pytest

import omnicodec
from omnicodec import container
from omnicodec.errors import CorruptStreamError

from ..common import make_image

torch = pytest.importorskip("torch")


def _photo(h: int, w: int, seed: int = 0) -> omnicodec.Image:
    """Smooth shapes and edges, more like a photo than noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    img = np.zeros((h, w, 3))
    for _ in range(12):
        cy, cx, r = rng.random(3) * [1, 1, 0.4]
        color = rng.integers(0, 256, 3)
        inside = (yy - cy) ** 2 + (xx - cx) ** 2 < r**2
        img[inside] = color
    img += 40 * np.sin(xx * 9)[..., None]
    return omnicodec.Image(np.clip(img, 0, 255).astype(np.uint8), "RGB")


def _indices(item, quality: float):
    """(inference model, level, the item's index grid) of vq at ``quality``."""
    from omnicodec.codecs.vq import VQCodec

    codec = VQCodec(quality=quality)
    model = codec.model()
    level = codec.level(model)
    return model, level, model.indices(model.analyse(item.pixels), level)


def _damaged(blob: bytes, tag: str) -> bytes:
    """``blob`` with one byte of section ``tag``'s payload flipped (its CRC then fails)."""
    tags = list(container.unpack(blob).sections)
    start, _ = container.spans(blob)[1 + tags.index(tag)]
    bad = bytearray(blob)
    bad[start + 6] ^= 0x55
    return bytes(bad)


def test_one_section_per_tile_and_the_rate_rises_with_quality():
    from omnicodec.codecs.vq import TILE

    item = _photo(600, 1100)
    sizes = []
    for q in (0, 50, 100):
        blob = omnicodec.encode(item, "vq", q)
        tags = [t for t in container.unpack(blob).sections if t[0] == "I"]
        assert tags == [f"I{t:03X}" for t in range(-(-600 // (16 * TILE)) * -(-1100 // (16 * TILE)))]
        decoded = omnicodec.decode(blob)
        assert decoded.pixels.shape == item.pixels.shape
        sizes.append(len(blob))
    assert sizes[0] < sizes[1] < sizes[2], sizes
    assert sizes[2] * 8 / (600 * 1100) < 0.06  # the extreme range: under 0.06 bpp at the top


def test_the_integer_prior_codes_what_the_trained_prior_predicts():
    """The payload is within 2% (plus the lane framing) of the float model's coding cost."""
    from omnicodec.codecs.learned import find_weights, load_artefact
    from omnicodec.codecs.vq import VQCodec
    from omnicodec.models.vq import VQ

    item = _photo(256, 384, seed=3)
    codec = VQCodec(quality=70)
    _, level, idx = _indices(item, 70)
    art = load_artefact(*find_weights("vq", codec.default_weights()), "vq")
    net = VQ(VQ.config_from(art["config"]), train_parts=False)
    net.load_artefact(art)
    with torch.no_grad():
        bits = net.coding_bits(torch.from_numpy(idx)[None], level).item()
    payload = len(container.unpack(omnicodec.encode(item, codec)).sections["I000"])
    assert abs(payload * 8 - 16 * 8 - bits) < 0.02 * bits + 32, (payload * 8, bits)


def test_a_damaged_tile_fails_and_with_repair_is_restored_from_its_neighbours(tmp_path):
    item = _photo(600, 1100, seed=1)
    blob = omnicodec.encode(item, "vq", 60)
    intact = omnicodec.decode(blob).pixels
    bad = _damaged(blob, "I004")  # row 1, column 1 of a 2 x 3 grid of tiles
    with pytest.raises(CorruptStreamError, match="checksum"):
        omnicodec.decode(bad)
    with pytest.warns(omnicodec.codecs.vq.RepairWarning, match="1 of 6 tiles"):
        repaired = omnicodec.decode(bad, repair=True).pixels
    assert repaired.shape == intact.shape
    # pixels far from the lost tile (x >= 512 + 512 + 64, y < 512 - 64 ...) do not move
    assert np.array_equal(repaired[:448, :448], intact[:448, :448])
    lost = (slice(512, 600), slice(512, 1024))
    assert not np.array_equal(repaired[lost], intact[lost])
    # an intact stream decodes the same with repair asked for, silently
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.array_equal(omnicodec.decode(blob, repair=True).pixels, intact)


def test_repair_restores_lost_indices_better_than_a_guess():
    model, level, idx = _indices(_photo(512, 512, seed=2), 50)
    known = np.random.default_rng(0).random(idx.shape) > 0.2
    guess = np.where(known, idx, 0)
    restored = model.repair(guess, known, level)[0].numpy()  # (dim, h, w) code vectors
    books = model.books[level].numpy()
    assert np.array_equal(restored[:, known].T, books[idx[known]])

    def error(vectors):  # distance of the restored code vectors from the true ones
        return np.linalg.norm(vectors - books[idx[~known]], axis=1).mean()

    blend = error(restored[:, ~known].T)
    assert blend < 0.8 * error(books[np.full(int((~known).sum()), np.bincount(idx.ravel()).argmax())])
    # the prior's expected vector is nearer the lost one than its most probable code
    best = model.masses(guess, known, ~known, level).argmax(1)
    assert blend < error(books[best])


def test_repair_cannot_restore_a_stream_with_every_tile_damaged_or_another_codecs():
    blob = omnicodec.encode(_photo(64, 64), "vq", 50)
    with pytest.raises(CorruptStreamError, match="every tile"):
        omnicodec.decode(_damaged(blob, "I000"), repair=True)
    png = omnicodec.encode(make_image(), "png")
    with pytest.raises(CorruptStreamError, match="cannot be repaired"):
        omnicodec.decode(_damaged(png, list(container.unpack(png).sections)[0]), repair=True)


def test_the_cli_repairs_with_a_one_line_warning(tmp_path, capsys):
    from omnicodec.cli.main import main

    src = tmp_path / "a.omc"
    src.write_bytes(_damaged(omnicodec.encode(_photo(520, 530), "vq", 40), "I001"))
    assert main(["decode", str(src), "-o", str(tmp_path / "plain.png")]) == 1
    assert "checksum" in capsys.readouterr().err and not (tmp_path / "plain.png").exists()
    assert main(["decode", "--repair", str(src), "-o", str(tmp_path / "fixed.png")]) == 0
    err = [line for line in capsys.readouterr().err.splitlines() if "->" not in line]  # less the progress line
    assert err == ["codec: warning: vq: 1 of 4 tiles were damaged and are restored from their neighbours "
                   "(a plausible picture, not the original)"]
    assert omnicodec.read(tmp_path / "fixed.png").pixels.shape == (520, 530, 3)


def test_the_coder_is_not_an_option():
    from omnicodec.codecs.vq import VQCodec

    for config in ({"coder": "range"}, {"lanes": 4}):
        with pytest.raises(ValueError, match="lane format"):
            VQCodec(**config)
