import struct
import zlib

import pytest

import omnicodec
from omnicodec import container, limits
from omnicodec.container import Header
from omnicodec.errors import CorruptStreamError, TruncatedStreamError, UnsupportedInputError

from .common import assert_corruption_detected, make_bytes

HEADER = Header(codec="zstd", modality="bytes", config={"level": 3, "long": False},
                meta={"size": 5}, source={"name": "a.txt"}, digest="00" * 32)


def test_pack_unpack_roundtrip():
    sections = {"DATA": b"hello", "AUX1": b"", "IDX ": bytes(range(256))}
    box = container.unpack(container.pack(HEADER, sections))
    assert box.header == HEADER
    assert box.sections == sections


def test_layout_is_documented_bytes():
    blob = container.pack(Header("store", "", {}, {}), {"DATA": b"xyz"})
    magic, version, flags, count, n = struct.unpack_from("<8sHHBB", blob)
    assert blob[14:14 + n] == b'{"codec":"store"}'
    assert (magic, version, flags, count) == (b"\x89OMC\r\n\x1a\n", 2, 0, 1)
    assert zlib.crc32(blob[:14 + n]) == struct.unpack_from("<I", blob, 14 + n)[0]
    assert blob[14 + n + 4:14 + n + 9] == b"DATA\x03" and blob[14 + n + 9:14 + n + 12] == b"xyz"
    assert zlib.crc32(blob[14 + n + 4:14 + n + 12]) == struct.unpack_from("<I", blob, 14 + n + 12)[0]
    assert len(blob) == 14 + n + 4 + 5 + 3 + 4


def test_uvar_is_leb128_and_minimal():
    assert [container.uvar(n) for n in (0, 127, 128, 300)] == [b"\0", b"\x7f", b"\x80\x01", b"\xac\x02"]
    blob = bytearray(container.pack(HEADER, {}))
    blob[12:13] = b"\x80\x00"  # 0 sections, written in two bytes
    with pytest.raises(CorruptStreamError):
        container.unpack(bytes(blob))


def test_tiny_inputs_cost_a_few_dozen_bytes():
    blob = omnicodec.encode(b"hello world\n", "store")
    assert len(blob) <= 12 + 48 and omnicodec.decode(blob).data == b"hello world\n"


def test_version_1_files_still_read():
    """A version-1 file (u32/u64 lengths, every key present) decodes; fixtures pin more."""
    body = b'{"codec":"store","config":{},"digest":null,"meta":{},"modality":"bytes","source":{}}'
    fixed = struct.pack("<8sHHII", container.MAGIC, 1, 0, len(body), 1) + body
    sec = struct.pack("<4sQ", b"DATA", 2) + b"hi"
    blob = fixed + struct.pack("<I", zlib.crc32(fixed)) + sec + struct.pack("<I", zlib.crc32(sec))
    header, item = omnicodec.decode_with_header(blob)
    assert (header.format_version, header.modality, item.data) == (1, "bytes", b"hi")


@pytest.mark.parametrize("body", [b'{"codec":"../x"}', b'{"codec":"zstd","meta":[]}', b'{"codec":"zstd","digest":"xyz"}',
                                  b'{"codec":"zstd","size":NaN}', b'[' * 100000 + b']' * 100000,
                                  b'{"codec":"zstd","source":{"name":3}}', b'{"codec":"zstd","surprise":1}'])
def test_header_schema_is_checked_in_one_place(body):
    head = struct.pack("<8sHH", container.MAGIC, 2, 0) + container.uvar(0) + container.uvar(len(body)) + body
    with pytest.raises(CorruptStreamError, match="header is not valid"):
        container.unpack(head + struct.pack("<I", zlib.crc32(head)))


def test_lossless_stream_without_digest_is_refused():
    box = container.unpack(omnicodec.encode(make_bytes(lines=5), "zstd"))
    box.header.digest = None
    with pytest.raises(CorruptStreamError, match="no digest"):
        omnicodec.decode(container.pack(box.header, box.sections))


def test_every_corruption_is_detected():
    assert_corruption_detected(omnicodec.encode(make_bytes(), "gzip"))


def test_unknown_version_is_refused():
    blob = bytearray(container.pack(HEADER, {}))
    blob[8] = 3
    with pytest.raises(UnsupportedInputError, match="version 3"):
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
    blob = container.pack(HEADER, {"DATA": b"abc"})
    start = container.spans(blob)[1][0]
    bad = blob[:start + 4] + container.uvar(1 << 39) + blob[start + 5:]  # claim a huge section
    with pytest.raises(TruncatedStreamError):
        container.unpack(bad)


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
