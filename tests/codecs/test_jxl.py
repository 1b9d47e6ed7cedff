"""JPEG XL image codecs: jxl (lossy) and jxl-lossless (8 and 16 bits)."""

from __future__ import annotations

import imagecodecs
import numpy as np
import pytest

import omnicodec
from omnicodec import container
from omnicodec.codecs.jpegxl import codestream_size
from omnicodec.errors import CorruptStreamError, UnsupportedInputError

from ..common import make_image
from .checklist import check_fixture, check_quality_monotone, run_checklist


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA", "I;16", "LA;16", "RGB;16", "RGBA;16"])
def test_lossless_every_mode(mode):
    run_checklist("jxl-lossless", make_image(mode=mode))


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA"])
def test_lossy(mode):
    run_checklist("jxl", make_image(mode=mode), min_psnr=30)


def test_quality_knob():
    check_quality_monotone("jxl", make_image(h=64, w=64))


def test_lossy_refuses_wide_modes():
    with pytest.raises(UnsupportedInputError, match="mode RGB;16"):
        omnicodec.encode(make_image(mode="RGB;16"), "jxl", 50)


@pytest.mark.parametrize("h, w", [(1, 1), (8, 8), (37, 53), (512, 768), (768, 512), (600, 800), (900, 1600),
                                  (1000, 7), (3000, 4000), (270, 480)])
@pytest.mark.parametrize("mode", ["L", "I;16"])  # a bare codestream, and libjxl's container (16-bit)
def test_the_size_header_reads_as_libjxl_wrote_it(h, w, mode):
    pixels = np.zeros((h, w), "uint8" if mode == "L" else "uint16")
    assert codestream_size(imagecodecs.jpegxl_encode(pixels, lossless=True, effort=1)) == (w, h)


def test_a_payload_larger_than_its_header_is_refused_before_decoding(monkeypatch):
    small, big = (omnicodec.encode(make_image(h, w), "jxl-lossless") for h, w in ((8, 8), (4000, 3000)))
    box = container.unpack(small)
    box.sections["DATA"] = container.unpack(big).sections["DATA"]
    monkeypatch.setattr(imagecodecs, "jpegxl_decode", lambda *a, **k: pytest.fail("libjxl was called"))
    with pytest.raises(CorruptStreamError, match="payload is"):
        omnicodec.decode(container.pack(box.header, box.sections))


@pytest.mark.parametrize("codec_id, mode, version", [("jxl", "RGB", "v3"), ("jxl-lossless", "RGB", "v3"),
                                                     ("jxl-lossless", "RGB;16", "v3-16bit")])
def test_fixture(codec_id, mode, version):
    check_fixture(codec_id, make_image(h=24, w=31, mode=mode), version)


def test_jxl_files_out(tmp_path):
    from omnicodec.cli.main import main
    from omnicodec.datasets.files import write_item

    write_item(make_image(40, 56), tmp_path / "p.png")
    assert main(["encode", str(tmp_path / "p.png"), "-o", str(tmp_path / "p.jxl"), "--allow-loss"]) == 0  # lossless
    assert np.array_equal(imagecodecs.jpegxl_decode((tmp_path / "p.jxl").read_bytes()), make_image(40, 56).pixels)
    assert main(["encode", str(tmp_path / "p.png"), "-q", "60", "-o", str(tmp_path / "q.jxl")]) == 0
    assert (tmp_path / "q.jxl").stat().st_size < (tmp_path / "p.jxl").stat().st_size
