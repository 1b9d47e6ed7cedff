"""The streaming part of the codec contract, on a toy codec that is not logzip: what a
StreamingCodec derives from encode_to / iter_decode, the default decode_lines, the workers
setting, and the file API streaming any such codec without knowing its sections."""

from __future__ import annotations

import dataclasses
import struct
import zlib
from dataclasses import dataclass
from typing import ClassVar

import pytest

import omnicodec
from omnicodec import api, registry
from omnicodec.codecs.base import Streamed, StreamingCodec, section
from omnicodec.errors import CorruptStreamError
from omnicodec.items import Bytes

TEXT = b"".join(b"line %d of the toy %s\n" % (i, b"x" * (i % 7)) for i in range(300)) + b"tail"


@dataclass
class ToyStream(StreamingCodec):
    """Chunks of ``chunk_bytes``, each zlib-compressed and length-prefixed in ``TOYS``; ``TOYN``
    holds the chunk count.  No index: line ranges use the contract's default."""

    codec_id: ClassVar[str] = "toy-stream"
    lossless: ClassVar[bool] = True
    stream_section: ClassVar[str] = "TOYS"
    chunk_bytes: int = 100
    decoded_chunks: ClassVar[list[int]] = []  # how many chunks each iter_decode yielded

    def encode_to(self, src, spool, progress=None):
        count = size = 0
        while chunk := src.read(self.chunk_bytes):
            packed = zlib.compress(chunk)
            spool.write(struct.pack("<I", len(packed)) + packed)
            count, size = count + 1, size + len(chunk)
            if progress:
                progress(len(chunk))
        return Streamed({"TOYN": struct.pack("<I", count)}, {"size": size})

    def iter_decode(self, sections, meta):
        data, pos = section(sections, "TOYS", self.codec_id), 0
        (count,) = struct.unpack("<I", section(sections, "TOYN", self.codec_id)[:])
        self.decoded_chunks.append(0)
        for _ in range(count):
            (length,) = struct.unpack("<I", data[pos:pos + 4])
            yield zlib.decompress(data[pos + 4:pos + 4 + length])
            pos += 4 + length
            self.decoded_chunks[-1] += 1


@pytest.fixture
def toy_registered(monkeypatch):
    """``toy-stream`` in the registry for one test, so the file API can be asked for it."""
    monkeypatch.setitem(registry._CODECS, "toy-stream", f"{__name__}:ToyStream")
    registry.get_codec_class.cache_clear()
    yield
    registry.get_codec_class.cache_clear()


def lines_of(data: bytes, start: int, stop: int) -> bytes:
    lines = data.split(b"\n")
    with_nl = [x + b"\n" for x in lines[:-1]] + [lines[-1]]
    return b"".join(with_nl[start:stop])


def test_encode_and_decode_are_derived_from_the_streaming_methods():
    codec = ToyStream()
    sections = codec.encode(Bytes(TEXT))
    assert list(sections) == ["TOYN", "TOYS"]  # the stream section is written last
    assert struct.unpack("<I", sections["TOYN"])[0] == -(-len(TEXT) // 100)
    assert codec.decode(sections, {"size": len(TEXT)}).data == TEXT


@pytest.mark.parametrize("start, stop", [(0, 1), (3, 9), (100, 101), (298, 400), (299, 300), (300, 301),
                                         (5, 5), (500, 600)])
def test_default_decode_lines(start, stop):
    codec = ToyStream(chunk_bytes=37)  # lines cut across chunks
    sections = codec.encode(Bytes(TEXT))
    assert codec.decode_lines(sections, {"size": len(TEXT)}, start, stop) == lines_of(TEXT, start, stop)


def test_default_decode_lines_stops_after_the_range():
    codec = ToyStream()
    sections = codec.encode(Bytes(TEXT))
    codec.decode_lines(sections, {"size": len(TEXT)}, 2, 4)
    assert ToyStream.decoded_chunks[-1] <= 2 < len(TEXT) // 100
    with pytest.raises(ValueError, match="line range"):
        codec.decode_lines(sections, {"size": len(TEXT)}, 5, 4)


def test_workers_is_a_setting_not_config():
    codec = ToyStream(50, workers=3)
    assert codec.get_config() == {"chunk_bytes": 50}
    assert codec == ToyStream(50) and ToyStream.from_config(codec.get_config()) == codec
    assert dataclasses.replace(codec, workers=1).workers == 1
    with pytest.raises(TypeError):
        ToyStream(50, 3)  # keyword-only
    with pytest.raises(CorruptStreamError, match="unknown config keys"):
        ToyStream.from_config({"chunk_bytes": 50, "workers": 2})  # never read from a stream
    for bad in (0, -1, 1.5, "2", True):
        with pytest.raises(ValueError, match="workers"):
            ToyStream(workers=bad)


def test_progress_hears_of_every_input_byte():
    import io

    seen = []
    streamed = ToyStream().encode_to(io.BytesIO(TEXT), io.BytesIO(), progress=seen.append)
    assert sum(seen) == len(TEXT) == streamed.meta["size"]


def test_file_api_streams_any_streaming_codec(toy_registered, tmp_path):
    """encode_file / decode_file (whole and --lines) know no codec's sections: the toy's are
    spooled, framed and read back like logzip's, and get_codec takes a setting."""
    src = tmp_path / "toy.log"
    src.write_bytes(TEXT)
    path, header = api.encode_file(src, codec="toy-stream")
    assert (header.codec, header.meta, header.config) == ("toy-stream", {"size": len(TEXT)}, {"chunk_bytes": 100})
    assert omnicodec.decode(path.read_bytes()).data == TEXT
    assert path.read_bytes() == omnicodec.encode(TEXT, "toy-stream")  # one stream either way
    out, _ = api.decode_file(path, tmp_path / "back.log")
    assert out.read_bytes() == TEXT
    part, _ = api.decode_file(path, tmp_path / "part.log", lines=(10, 13))
    assert part.read_bytes() == lines_of(TEXT, 10, 13)
    codec = api.get_codec("toy-stream", chunk_bytes=64, workers=1)
    assert (codec.chunk_bytes, codec.workers, codec.get_config()) == (64, 1, {"chunk_bytes": 64})
