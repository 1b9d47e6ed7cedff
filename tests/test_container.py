import struct
import zlib

import pytest

import omnicodec
from omnicodec import container, limits
from omnicodec.container import Header
from omnicodec.errors import CorruptStreamError, TruncatedStreamError, UnsupportedInputError

from .common import assert_corruption_detected, make_bytes

HEADER = Header(codec="zstd", modality="bytes", config={"level": 3, "long": False},
                meta={"size": 5}, source={"name": "a.txt", "ext": ".txt"}, digest="00" * 32)


def test_pack_unpack_roundtrip():
    sections = {"DATA": b"hello", "AUX1": b"", "IDX ": bytes(range(256))}
    box = container.unpack(container.pack(HEADER, sections))
    assert box.header == HEADER
    assert box.sections == sections


def test_layout_is_documented_bytes():
    blob = container.pack(HEADER, {"DATA": b"xyz"})
    magic, version, flags, n, count = struct.unpack_from("<8sHHII", blob)
    assert (magic, version, flags, count) == (b"\x89OMC\r\n\x1a\n", 1, 0, 1)
    assert zlib.crc32(blob[:20 + n]) == struct.unpack_from("<I", blob, 20 + n)[0]
    tag, length = struct.unpack_from("<4sQ", blob, 24 + n)
    assert (tag, length) == (b"DATA", 3) and blob[36 + n:39 + n] == b"xyz"
    assert len(blob) == 20 + n + 4 + 12 + 3 + 4


def test_every_corruption_is_detected():
    assert_corruption_detected(omnicodec.encode(make_bytes(), "gzip"))


def test_unknown_version_is_refused():
    blob = bytearray(container.pack(HEADER, {}))
    blob[8] = 2
    with pytest.raises(UnsupportedInputError, match="version 2"):
        container.unpack(bytes(blob))


def test_trailing_bytes_and_bad_magic():
    blob = container.pack(HEADER, {"DATA": b"x"})
    with pytest.raises(CorruptStreamError, match="unexpected bytes"):
        container.unpack(blob + b"\0")
    with pytest.raises(CorruptStreamError, match="magic"):
        container.unpack(b"PK\x03\x04" + blob[4:])
    with pytest.raises(TruncatedStreamError):
        container.unpack(blob[:10])


def test_oversized_section_is_refused_before_reading(monkeypatch):
    blob = container.pack(HEADER, {"DATA": b"x" * 100})
    monkeypatch.setattr(limits, "MAX_SECTION_BYTES", 50)
    with pytest.raises(CorruptStreamError, match="exceeds the cap"):
        container.unpack(blob)


def test_section_length_past_end_is_truncation():
    blob = bytearray(container.pack(HEADER, {"DATA": b"abc"}))
    n = struct.unpack_from("<I", blob, 12)[0]
    struct.pack_into("<Q", blob, 24 + n + 4, 1 << 39)  # claim a huge section
    with pytest.raises(TruncatedStreamError):
        container.unpack(bytes(blob))


def test_peek_reads_only_the_header(tmp_path):
    path = tmp_path / "x.omc"
    path.write_bytes(container.pack(HEADER, {"DATA": b"x" * 1000}))
    assert omnicodec.open(path) == HEADER


def test_digest_mismatch_is_detected():
    item = make_bytes(lines=5)
    blob = omnicodec.encode(item, "zstd")
    box = container.unpack(blob)
    box.header.digest = "ab" * 32
    with pytest.raises(CorruptStreamError, match="digest"):
        omnicodec.decode(container.pack(box.header, box.sections))


def test_oversized_metadata_is_refused_before_decoding():
    from tests.common import make_image

    blob = omnicodec.encode(make_image(), "png")
    box = container.unpack(blob)
    box.header.meta["width"] = 1 << 20
    box.header.meta["height"] = 1 << 20
    with pytest.raises(CorruptStreamError, match="pixel count"):
        omnicodec.decode(container.pack(box.header, box.sections))
