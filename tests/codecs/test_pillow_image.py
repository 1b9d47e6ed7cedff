import pytest

import omnicodec
from omnicodec.errors import UnsupportedInputError

from ..common import VERSIONS, make_image
from .checklist import check_fixture, check_quality_monotone, run_checklist

LOSSLESS_MODES = {"png": ["L", "LA", "RGB", "RGBA", "I;16", "LA;16", "RGB;16", "RGBA;16", "P"],
                  "webp-lossless": ["RGB", "RGBA"], "image-zstd": ["RGB", "RGBA;16", "F", "RGB;F", "CMYK"]}
LOSSY = {"jpeg": ["L", "RGB"], "jpeg444": ["RGB"], "webp": ["RGB", "RGBA"], "avif": ["RGB", "RGBA"]}


@pytest.mark.parametrize("codec_id,mode", [(c, m) for c, ms in LOSSLESS_MODES.items() for m in ms])
def test_lossless_roundtrip(codec_id, mode):
    run_checklist(codec_id, make_image(mode=mode))


@pytest.mark.parametrize("codec_id,mode", [(c, m) for c, ms in LOSSY.items() for m in ms])
def test_lossy_roundtrip(codec_id, mode):
    run_checklist(codec_id, make_image(h=40, w=41, mode=mode), min_psnr=30)


@pytest.mark.parametrize("codec_id", list(LOSSY))
def test_quality_knob(codec_id):
    check_quality_monotone(codec_id, make_image(h=64, w=64))


@pytest.mark.parametrize("codec_id", [*LOSSLESS_MODES, *LOSSY])
def test_fixture(codec_id):
    versions = {"image-zstd": ("v2", "v3"), "png": ("v1", "v2-rgb", "v3")}.get(codec_id, VERSIONS)
    for version in versions:
        check_fixture(codec_id, make_image(h=24, w=31, mode="RGB"), version)


def test_unsupported_mode_is_refused():
    with pytest.raises(UnsupportedInputError, match="mode RGBA"):
        omnicodec.encode(make_image(mode="RGBA"), "jpeg", 50)


def test_default_choice_follows_mode():
    assert omnicodec.choose_codec(make_image(mode="L")).codec_id == "jxl-lossless"
    assert omnicodec.choose_codec(make_image(mode="RGB")).codec_id == "jxl-lossless"
    assert omnicodec.choose_codec(make_image(mode="P")).codec_id == "png"
    assert omnicodec.choose_codec(make_image(mode="L"), 50).codec_id == "jpeg444"


@pytest.mark.parametrize("codec_id,mode,version", [("png", "RGBA;16", "v2"), ("image-zstd", "RGB;F", "v2-float")])
def test_fixture_wide_modes(codec_id, mode, version):
    check_fixture(codec_id, make_image(h=12, w=17, mode=mode), version)


def test_png16_payload_size_is_checked_before_decoding():
    from omnicodec import container
    from omnicodec.errors import CorruptStreamError

    box = container.unpack(omnicodec.encode(make_image(mode="RGB;16"), "png"))
    box.header.meta["width"] += 1
    with pytest.raises(CorruptStreamError, match="size disagrees"):
        omnicodec.decode(container.pack(box.header, box.sections))
