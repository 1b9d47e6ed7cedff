import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import omnicodec
from omnicodec.errors import CorruptStreamError
from omnicodec.items import Bytes

from ..common import VERSIONS, make_bytes
from .checklist import check_fixture, run_checklist

IDS = ["gzip", "bz2", "xz", "zstd"]


@pytest.mark.parametrize("codec_id", IDS)
def test_roundtrip(codec_id):
    run_checklist(codec_id, make_bytes())


@pytest.mark.parametrize("codec_id", IDS)
@settings(max_examples=25, deadline=None)
@given(data=st.binary(max_size=2000))
def test_any_bytes(codec_id, data):
    assert omnicodec.decode(omnicodec.encode(data, codec_id)).data == data


@pytest.mark.parametrize("codec_id", IDS)
def test_fixture(codec_id):
    for version in VERSIONS:
        check_fixture(codec_id, make_bytes(lines=40), version)


@pytest.mark.parametrize("codec_id", IDS)
def test_bomb_is_refused_before_expanding(codec_id):
    codec = omnicodec.get_codec(codec_id)
    sections = codec.encode(Bytes(b"\0" * 100_000))
    with pytest.raises(CorruptStreamError):
        codec.decode(sections, {"size": 1000})


def test_store_keeps_bytes_verbatim_and_detects_damage():
    run_checklist("store", make_bytes())
    for version in ("v2", "v3"):
        check_fixture("store", make_bytes(lines=3), version)
    blob = omnicodec.encode(b"", "store")
    assert omnicodec.decode(blob).data == b"" and len(blob) < 48


def test_incompressible_data_is_not_worth_a_default_coder():
    import numpy as np

    noise = Bytes(np.random.default_rng(1).bytes(1 << 20))
    assert omnicodec.choose_codec(noise).codec_id == "store"
    assert omnicodec.choose_codec(make_bytes(lines=5000)).codec_id == "logzip"


def test_jxl_jpeg_restores_the_jpeg_byte_for_byte():
    import io

    import numpy as np
    from PIL import Image as PILImage

    yy, xx = np.mgrid[0:48, 0:64]
    out = io.BytesIO()
    PILImage.fromarray(np.stack([xx * 3, yy * 4, xx + yy], -1).astype(np.uint8)).save(out, "JPEG", quality=85)
    jpeg = Bytes(out.getvalue())
    run_checklist("jxl-jpeg", jpeg)
    for version in ("v2", "v3"):
        check_fixture("jxl-jpeg", jpeg, version)
    assert len(omnicodec.get_codec("jxl-jpeg").encode(jpeg)["DATA"]) < len(jpeg.data)
    with pytest.raises(Exception, match="JPEG files only"):
        omnicodec.encode(b"not a jpeg", "jxl-jpeg")
