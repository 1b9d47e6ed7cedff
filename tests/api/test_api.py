"""The bytes-level API (omnicodec.encode / decode / open / get_codec / choose_codec /
list_codecs): what the CLI and the file layer are built on."""

import numpy as np
import pytest

import omnicodec
from omnicodec import api, container
from omnicodec.errors import CorruptStreamError, UnsupportedInputError

from ..common import make_bytes, make_image


def test_bytes_round_trip_and_default_choices():
    data = make_bytes().data
    assert omnicodec.decode(omnicodec.encode(data)).data == data
    assert api.choose_codec(omnicodec.Bytes(data)).codec_id == "logzip"  # text
    noise = np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes()
    assert api.choose_codec(omnicodec.Bytes(noise)).lossless
    image = make_image()
    assert api.choose_codec(image).lossless and not api.choose_codec(image, 50).lossless


def test_get_codec_merges_quality_and_config_and_refuses_unknown_keys():
    codec = omnicodec.get_codec("avif", 30, speed=4)
    assert codec.get_config() == {"quality": 30.0, "speed": 4}
    with pytest.raises(CorruptStreamError, match="unknown config keys"):
        omnicodec.get_codec("avif", 30, colour="blue")
    with pytest.raises(UnsupportedInputError, match="between 0 and 100"):
        omnicodec.get_codec("webp", 130)


def test_side_data_rides_along_and_bad_tags_are_refused():
    image = make_image()
    image.extra = {"iccp": b"profile bytes"}
    assert omnicodec.decode(omnicodec.encode(image, "png")).extra == {"iccp": b"profile bytes"}
    image.extra = {"ICCP": b"x"}
    with pytest.raises(UnsupportedInputError, match="lower-case"):
        omnicodec.encode(image, "png")


def test_open_reads_the_header_alone(tmp_path):
    blob = bytearray(omnicodec.encode(make_image(), "png"))
    blob[-10] ^= 0xFF  # damage the payload, not the header
    (tmp_path / "a.omc").write_bytes(bytes(blob))
    header = omnicodec.open(tmp_path / "a.omc")
    assert header.codec == "png" and header.modality == "image" and header.meta["width"] == 53
    with pytest.raises(CorruptStreamError):
        omnicodec.decode(bytes(blob))


def test_a_lossless_stream_is_checked_against_its_digest():
    box = container.unpack(omnicodec.encode(make_image(), "png"))
    box.header.digest = "0" * 64
    with pytest.raises(CorruptStreamError, match="digest"):
        omnicodec.decode(container.pack(box.header, box.sections))


def test_list_codecs_says_what_is_available_and_why_not():
    infos = {c.codec_id: c for c in omnicodec.list_codecs()}
    assert infos["png"].available and infos["png"].lossless and infos["png"].modality == "image"
    assert all(c.available == (not c.missing) for c in infos.values())


@pytest.mark.parametrize("codec_id", ["png", "webp", "flac", "ffv1", "gzip", "image-zstd"])
def test_a_payload_that_does_not_decode_says_so_without_object_reprs(codec_id):
    """Library errors named '<_io.BytesIO object at 0x...>' (Pillow, libsndfile) or '<none>'
    (FFmpeg) where the user's file was meant."""
    from ..common import make_audio, make_video

    item = {"flac": make_audio(), "ffv1": make_video(frames=2, h=16, w=16),
            "gzip": make_bytes()}.get(codec_id) or make_image(20, 30)
    box = container.unpack(omnicodec.encode(item, codec_id))
    box.sections["DATA"] = b"GARBAGE" * 30
    with pytest.raises(CorruptStreamError, match="payload does not decode") as err:
        omnicodec.decode(container.pack(box.header, box.sections))
    assert "<" not in str(err.value) and "0x" not in str(err.value) and "Errno" not in str(err.value)
