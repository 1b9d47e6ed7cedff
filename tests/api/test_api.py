"""The bytes-level API (omnicodec.encode / decode / open / get_codec / choose_codec /
list_codecs): what the CLI and the file layer are built on."""

import re
from pathlib import Path

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
    with pytest.raises(UnsupportedInputError, match=r"avif has no option 'colour' \(its options: quality, speed\)"):
        omnicodec.get_codec("avif", 30, colour="blue")
    with pytest.raises(UnsupportedInputError, match="between 0 and 100"):
        omnicodec.get_codec("webp", 130)


@pytest.mark.parametrize("codec_id, options, message", [
    ("avif", {"speed": "fast"}, "avif option speed: expected an integer, got 'fast'"),
    ("avif", {"speed": 11}, "avif option speed: 11 is outside 0..10"),
    ("zstd", {"level": 3.5}, "expected an integer"),
    ("zstd", {"long": 1}, "expected true/false"),
    ("x265", {"preset": "fastest"}, "'fastest' is not one of ultrafast"),
    ("svtav1", {"preset": 8}, "expected text"),
    ("vorbis", {"bitrate": 64000}, "vorbis has no option 'bitrate'"),
    ("webp-lossless", {"method": 7}, "webp-lossless option method: 7 is outside 0..6"),
])
def test_get_codec_checks_each_option_in_one_line(codec_id, options, message):
    with pytest.raises(UnsupportedInputError, match=re.escape(message)):
        omnicodec.get_codec(codec_id, **options)


def test_parse_options_reads_each_value_as_its_field_type():
    from omnicodec.api import parse_options

    assert parse_options("zstd", ["level=3", "long=no", "workers=2"]) == {"level": 3, "long": False, "workers": 2}
    assert parse_options("svtav1", ["preset=10"]) == {"preset": "10"}
    assert parse_options("webp", ["quality=42"]) == {"quality": 42.0}
    codec = omnicodec.get_codec("xz", **parse_options("xz", ["level=6", "extreme=false"]))
    assert codec.get_config() == {"level": 6, "extreme": False}
    for bad, message in ((["level"], "NAME=VALUE"), (["level=high"], "expected an integer, got 'high'"),
                         (["levle=3"], "zstd has no option 'levle'")):
        with pytest.raises(UnsupportedInputError, match=re.escape(message)):
            parse_options("zstd", bad)


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


def test_arrays_in_file_objects_and_paths_in(tmp_path):
    import io

    grey = make_image(9, 11, mode="L").pixels[:, :, 0]
    blob = omnicodec.encode(grey)  # an (H, W) array: a grey image, lossless by default
    assert np.array_equal(omnicodec.decode(io.BytesIO(blob)).pixels[:, :, 0], grey)
    (tmp_path / "x.omc").write_bytes(blob)
    assert omnicodec.decode_with_header(tmp_path / "x.omc")[0].codec == api.open(tmp_path / "x.omc").codec
    with pytest.raises(UnsupportedInputError, match="wrap audio as omnicodec.Audio"):
        omnicodec.encode(np.zeros(100, np.int16))
    with pytest.raises(TypeError, match="not list"):
        omnicodec.encode([1, 2, 3])
    with pytest.raises(TypeError, match="a path or a binary file object, got str"):
        omnicodec.decode("x.omc")


def test_public_reader_writer_and_the_package_lists_its_api(tmp_path):
    image = make_image(12, 16)
    omnicodec.write(image, tmp_path / "a.png")
    back = omnicodec.read(tmp_path / "a.png")  # the pixels, and the PNG's chunks as side data
    assert back.mode == "RGB" and np.array_equal(back.pixels, image.pixels) and "pngc" in back.extra
    with pytest.raises(UnsupportedInputError, match="a.png"):
        omnicodec.read(tmp_path / "a.png", modality="audio")
    names = dir(omnicodec)
    assert {"encode", "decode", "read", "write", "open", "test_file", "get_codec", "Image"} <= set(names)
    for name in omnicodec.__all__:
        assert getattr(omnicodec, name).__doc__ or name == "__version__", name
    assert (Path(omnicodec.__file__).parent / "py.typed").exists()
