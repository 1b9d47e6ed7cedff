import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import omnicodec
from omnicodec.codecs.base import Bytes
from omnicodec.errors import CorruptStreamError

from ..common import make_bytes
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
    check_fixture(codec_id, make_bytes(lines=40))


@pytest.mark.parametrize("codec_id", IDS)
def test_bomb_is_refused_before_expanding(codec_id):
    codec = omnicodec.get_codec(codec_id)
    sections = codec.encode(Bytes(b"\0" * 100_000))
    with pytest.raises(CorruptStreamError):
        codec.decode(sections, {"size": 1000})
