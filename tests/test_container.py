import io
import json
import struct
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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
    assert blob[14:14 + n] == bytes([11, 1, 16 + 0, 16 + 33])  # {"codec": "store"}, both from the table
    assert (magic, version, flags, count) == (b"\x89OMC\r\n\x1a\n", 3, 0, 1)
    assert zlib.crc32(blob[:14 + n]) == struct.unpack_from("<I", blob, 14 + n)[0]
    assert blob[14 + n + 4:14 + n + 9] == b"DATA\x03" and blob[14 + n + 9:14 + n + 12] == b"xyz"
    assert zlib.crc32(blob[14 + n + 4:14 + n + 12]) == struct.unpack_from("<I", blob, 14 + n + 12)[0]
    assert len(blob) == 14 + n + 4 + 5 + 3 + 4


def test_packed_header_is_documented_bytes():
    """Every value type of the packed header, byte for byte (docs/format.md)."""
    header = Header("x264", "", {"preset": "medium", "quality": 50.0, "tune": "film", "crf": 23.5},
                    {"fps": [30000, 1001], "frames": 2, "lag": -3, "ok": True, "none": None, "neg": -2.0},
                    digest="ab" * 32, encoder="x264 164")
    obj = container._unpack_header(container._packed(header))
    assert obj == {k: v for k, v in header.to_json().items() if v not in ("", {}, None)}
    body = container._packed(Header("zstd", "", {"long": False, "x": -0.0}, {"size": 300}))
    t = container.STRINGS.index
    assert body == bytes([11, 3, 16 + t("codec"), 16 + t("zstd"), 16 + t("config"), 11, 2,
                          16 + t("long"), 1, 8, 1, ord("x"), 5]) + struct.pack("<d", -0.0) + bytes(
        [16 + t("meta"), 11, 1, 16 + t("size"), 3, 0xAC, 0x02])
    assert container._packed(Header("zstd", "", {}, {}, digest="ab" * 32))[4:] == bytes(
        [16 + t("digest"), 9, 32]) + b"\xab" * 32


def test_string_table_is_frozen_and_documented():
    """The table is part of format version 3: changing it would misread every version-3 file."""
    import hashlib

    assert len(container.STRINGS) <= 240 and len(set(container.STRINGS)) == len(container.STRINGS)
    assert hashlib.sha256("\n".join(container.STRINGS).encode()).hexdigest() == TABLE_SHA256
    doc = (Path(__file__).parents[1] / "docs" / "format.md").read_text()
    listed = doc.split("<!-- strings -->")[1].split("<!-- /strings -->")[0]
    assert [s.strip("`") for s in listed.split()] == [f"{i}:{s}" for i, s in enumerate(container.STRINGS)]


TABLE_SHA256 = "a9b6aa9a39e10de31115705e8a5bbccd3be56980af4b985ef4a511028b58b897"


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers(-(1 << 70), (1 << 70) - 1)
                    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20)
                    | st.sampled_from(list(container.STRINGS) + ["00", "ab" * 32]),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=20))
def test_packed_values_round_trip(value):
    body = bytearray()
    container._pack_value({"v": value}, body)
    back = container._unpack_header(bytes(body))["v"]
    assert json.dumps(back, sort_keys=True) == json.dumps(value, sort_keys=True)  # 1 != 1.0 != true


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


@pytest.mark.parametrize("body", [bytes([12]), bytes([16 + 239]), bytes([11, 1, 16, 16 + 33, 0]),
                                  bytes([10, 1]) * 40 + bytes([10, 0]), bytes([10, 0xFF, 0xFF, 0x03]),
                                  bytes([8, 2, 0xC3, 0x28]), bytes([11, 2, 16, 16, 16, 16]),
                                  bytes([11, 1, 3, 1, 0]), bytes([5, 0, 0]), bytes([5]) + struct.pack("<d", float("nan")),
                                  bytes([11, 2, 16, 16 + 33, 16 + 6, 3, 1])])
def test_packed_header_is_checked(body):
    head = struct.pack("<8sHH", container.MAGIC, 3, 0) + container.uvar(0) + container.uvar(len(body)) + body
    with pytest.raises(CorruptStreamError, match="header"):
        container.unpack(head + struct.pack("<I", zlib.crc32(head)))


@pytest.mark.parametrize("body", [b'{"codec":"../x"}', b'{"codec":"zstd","meta":[]}', b'{"codec":"zstd","digest":"xyz"}',
                                  b'{"codec":"zstd","size":NaN}', b'[' * 100000 + b']' * 100000,
                                  b'{"codec":"zstd","source":{"name":3}}', b'{"codec":"zstd","surprise":1}',
                                  b'{"codec":"zstd","encoder":"zstd 1.5"}'])
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
    blob[8] = 4
    with pytest.raises(UnsupportedInputError, match="version 4"):
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


# --------------------------------------------------------------------------- lazy reader
FIXTURES = sorted((Path(__file__).parent / "fixtures").glob("*/*/sample.omc"))


class CountingIO(io.FileIO):
    """A raw file that counts the bytes read from it (the buffered reader reads through it)."""

    total = 0

    def readinto(self, buffer):
        n = super().readinto(buffer)
        CountingIO.total += n or 0
        return n


def counting_open(monkeypatch):
    """Make the container open files through CountingIO; returns a function giving the count."""
    CountingIO.total = 0
    monkeypatch.setattr(container, "open", lambda path, mode="rb": io.BufferedReader(CountingIO(path)),
                        raising=False)
    return lambda: CountingIO.total


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: f"{p.parent.parent.name}/{p.parent.name}")
def test_lazy_reader_agrees_with_unpack_on_every_fixture(path):
    blob = path.read_bytes()
    with container.open_sections(path) as box:
        assert box.load() == container.unpack(blob)
        assert [s.span for s in box.sections.values()] == container.spans(blob)[1:]


def test_lazy_sections_read_only_what_is_asked(tmp_path, monkeypatch):
    path = tmp_path / "big.omc"
    payload = bytes(range(256)) * 4096  # 1 MiB
    path.write_bytes(container.pack(HEADER, {"INDX": b"index", "BLKS": payload}))
    read = counting_open(monkeypatch)
    with container.open_sections(path) as box:
        assert box.header == HEADER and list(box.sections) == ["INDX", "BLKS"]
        blks = box.sections["BLKS"]
        assert len(blks) == len(payload) and read() < 64 << 10  # header and framing only
        assert blks[300_000:300_010] == payload[300_000:300_010] and blks[-3:] == payload[-3:]
        assert box.sections["INDX"].read() == b"index"
        assert read() < 200 << 10
        assert b"".join(blks.chunks(100_000)) == payload


def test_lazy_sections_check_their_crc_when_read_to_the_end(tmp_path):
    blob = bytearray(container.pack(HEADER, {"DATA": b"abcdefgh" * 1000}))
    start, end = container.spans(bytes(blob))[1]
    blob[(start + end) // 2] ^= 1
    path = tmp_path / "bad.omc"
    path.write_bytes(bytes(blob))
    with container.open_sections(path) as box:
        data = box.sections["DATA"]
        data[0:10]  # a slice is not checked ...
        with pytest.raises(CorruptStreamError, match="checksum"):
            data.read()  # ... the whole payload is
        with pytest.raises(CorruptStreamError, match="checksum"):
            list(data.chunks(1000))  # and so are in-order reads reaching its end
    empty = tmp_path / "empty.omc"
    blob = bytearray(container.pack(HEADER, {"NONE": b""}))
    blob[-1] ^= 1
    empty.write_bytes(bytes(blob))
    with container.open_sections(empty) as box, pytest.raises(CorruptStreamError, match="checksum"):
        list(box.sections["NONE"].chunks())


def test_lazy_reader_refuses_damaged_files_with_its_own_errors(tmp_path):
    """Every truncation and every flipped byte of a file with two sections is a
    CorruptStreamError (or, for the version field, UnsupportedInputError), never a traceback."""
    blob = container.pack(HEADER, {"INDX": b"ix", "BLKS": b"payload" * 5})
    path = tmp_path / "x.omc"
    for cut in range(len(blob)):
        path.write_bytes(blob[:cut])
        with pytest.raises(TruncatedStreamError):
            container.open_sections(path).load()
    for pos in range(len(blob)):
        bad = bytearray(blob)
        bad[pos] ^= 0x5A
        path.write_bytes(bytes(bad))
        with pytest.raises((CorruptStreamError, UnsupportedInputError)):
            container.open_sections(path).load()


def test_a_file_cut_short_after_it_was_opened_reads_as_truncated(tmp_path):
    path = tmp_path / "x.omc"
    path.write_bytes(container.pack(HEADER, {"DATA": b"x" * 1000}))
    with container.open_sections(path) as box:
        with path.open("r+b") as f:
            f.truncate(100)
        with pytest.raises(TruncatedStreamError):
            box.sections["DATA"][500:600]


def test_a_repairing_read_leaves_out_damaged_payload_sections_but_never_side_data():
    blob = bytearray(container.pack(HEADER, {"DATA": b"a" * 50, "IDX1": b"b" * 50, "pngc": b"c" * 50}))
    spans = container.spans(bytes(blob))
    blob[spans[2][0] + 10] ^= 1  # inside IDX1's payload
    with pytest.raises(CorruptStreamError, match="section 1 checksum"):
        container.unpack(bytes(blob))
    box = container.unpack(bytes(blob), repair=True)
    assert box.damaged == ["IDX1"] and box.sections == {"DATA": b"a" * 50, "pngc": b"c" * 50}
    blob[spans[3][0] + 10] ^= 1  # and side data: never left out silently
    with pytest.raises(CorruptStreamError, match="section 2 checksum"):
        container.unpack(bytes(blob), repair=True)
