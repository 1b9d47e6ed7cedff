"""pc: what it refuses, its PNG fallback, grids of digits, the coded size against the model's
likelihood, and damage behind a valid container.  The learned-codec kit (test_learned.py) runs
its checklist, fixture, weights errors and cross-process decoding on grids of digits."""

import numpy as np
import pytest

import omnicodec
from omnicodec import container
from omnicodec.errors import CorruptStreamError, UnsupportedInputError

from ..common import make_digits, make_image

torch = pytest.importorskip("torch")  # the neural extra; `make test` installs it


@pytest.mark.parametrize("item", [make_image(28, 28, "RGB"), make_image(28, 27, "L"), make_image(56, 28, "LA"),
                                  make_image(28, 28, "I;16")])
def test_anything_but_grey_grids_of_digits_is_refused_with_advice(item):
    with pytest.raises(UnsupportedInputError, match="28x28.*png or jxl-lossless"):
        omnicodec.encode(item, "pc")


def test_the_coder_is_not_an_option():
    from omnicodec.codecs.pc import PC

    for config in ({"coder": "range"}, {"lanes": 4}):
        with pytest.raises(ValueError, match="lane format"):
            PC(**config)


def test_what_the_model_codes_worse_than_png_is_stored_as_png():
    flat = omnicodec.Image(np.full((28, 56), 77, np.uint8), "L")
    blob = omnicodec.encode(flat, "pc")
    box = container.unpack(blob)
    assert list(box.sections) == ["PNGF"]
    assert omnicodec.decode(blob).digest() == flat.digest()
    assert len(blob) < len(omnicodec.encode(flat, "png")) + 200  # the PNG plus pc's longer header
    digits = make_digits(1, 2)
    assert list(container.unpack(omnicodec.encode(digits, "pc")).sections) == ["DATA"]


def test_a_grid_decodes_each_digit_as_alone_and_costs_less_than_separate_files():
    grid = make_digits(2, 3, seed=5)
    blob = omnicodec.encode(grid, "pc")
    assert omnicodec.decode(blob).digest() == grid.digest()
    singles = 0
    for r in range(2):
        for c in range(3):
            tile = omnicodec.Image(np.ascontiguousarray(grid.pixels[28 * r:28 * r + 28, 28 * c:28 * c + 28]), "L")
            own = omnicodec.encode(tile, "pc")
            singles += len(own)
            assert np.array_equal(omnicodec.decode(own).pixels, tile.pixels)
    assert len(blob) < singles - 5 * 100  # one header (about 140 bytes) instead of six


def test_the_payload_costs_what_the_model_says_plus_the_lane_framing():
    from omnicodec.codecs.learned import find_weights, load_artefact
    from omnicodec.codecs.pc import PC, lanes_for
    from omnicodec.models.pc import HCLT

    codec = PC()
    path, sha = find_weights("pc", codec.default_weights())
    art = load_artefact(path, sha, "pc")
    model = HCLT(HCLT.config_from(art["config"]))
    model.load_artefact(art)
    grid = make_digits(4, 5, seed=6)
    data = container.unpack(omnicodec.encode(grid, codec)).sections["DATA"]
    tiles = grid.pixels[:, :, 0].reshape(4, 28, 5, 28).transpose(0, 2, 1, 3).reshape(20, -1)
    with torch.no_grad():
        bits = -model.log_likelihood(torch.from_numpy(tiles).long()).sum().item() / np.log(2)
    lanes = lanes_for(20)
    assert lanes == 10
    framing = 8 * (4 + lanes * 4)  # lane count and lengths; a lane's final state holds ~32 bits of its own
    assert abs(8 * len(data) - framing - bits) < 0.01 * bits + 32 * lanes


def test_damaged_data_behind_a_valid_container_fails_cleanly():
    grid = make_digits(1, 3, seed=7)
    box = container.unpack(omnicodec.encode(grid, "pc"))
    data = box.sections["DATA"]
    for damaged in (data[:-4], data[:len(data) // 2], data[:8] + bytes([data[8] ^ 1]) + data[9:],
                    data[:-8] + bytes(8)):
        box.sections["DATA"] = damaged
        with pytest.raises(CorruptStreamError):
            omnicodec.decode(container.pack(box.header, box.sections))


def test_a_header_that_is_not_a_grid_is_refused_before_decoding():
    box = container.unpack(omnicodec.encode(make_digits(1, 2), "pc"))
    for meta in ({"width": 57, "height": 28, "mode": "L"}, {"width": 56, "height": 28, "mode": "RGB"},
                 {"width": 28 << 16, "height": 28 << 16, "mode": "L"}):
        box.header.meta = meta
        with pytest.raises((CorruptStreamError, UnsupportedInputError)):
            omnicodec.decode(container.pack(box.header, box.sections))
