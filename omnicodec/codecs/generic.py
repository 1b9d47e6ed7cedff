"""General-purpose byte compressors: gzip, bzip2, xz (LZMA2) and zstd, for any file, and
``store`` for what none of them shrinks.

    Bytes -> compressor -> section DATA (a standard .gz / .bz2 / .xz / .zst stream, or the bytes)

As defaults they only take data that a quick zstd probe finds compressible; the rest is stored,
so that an MP4 or a ZIP costs neither time nor bytes.

``level`` is each tool's own level (defaults: gzip -9, bzip2 -9, xz -9e, zstd -19 with long
distance matching).  Decoding is bounded: it stops with an error once the output would exceed
the size recorded in the header, so a decompression bomb cannot exhaust memory.
"""

from __future__ import annotations

import bz2
import lzma
import zlib
from dataclasses import dataclass
from typing import ClassVar

from .. import limits
from ..errors import CorruptStreamError
from ..items import Bytes
from .base import Codec, Streamed, StreamingCodec, option, section, undecodable

_CHUNK = 1 << 20


def compressible(data: bytes, gain: float = 0.01) -> bool:
    """Whether zstd level 1 saves at least ``gain`` on up to three 256 KiB samples of ``data``
    (start, middle, end); small inputs are always worth a try."""
    import zstandard

    if len(data) < 1 << 16:
        return True
    n = 1 << 18
    sample = data if len(data) <= 3 * n else data[:n] + data[len(data) // 2: len(data) // 2 + n] + data[-n:]
    return len(zstandard.ZstdCompressor(level=1).compress(sample)) < (1 - gain) * len(sample)


def zstd_version() -> str:
    import zstandard

    return "zstd " + ".".join(map(str, zstandard.ZSTD_VERSION))


def zstd_frame(data: bytes, size: int, max_window_size: int = 1 << 27) -> bytes:
    """One zstd frame that decodes to exactly ``size`` bytes, at most.  zstandard allocates the
    content size a frame claims before decoding it, so a frame claiming more is refused first."""
    import zstandard

    if zstandard.frame_content_size(data[:18]) not in (size, -1):
        raise CorruptStreamError("zstd frame claims a size other than the one recorded")
    return zstandard.ZstdDecompressor(max_window_size=max_window_size).decompress(data, max_output_size=size)


@dataclass
class _ByteCodec(StreamingCodec):
    """A standard compressor as a streaming codec: files are compressed and decompressed in
    chunks of 1 MiB, with bounded memory (zstd's encoder aside: it reads the whole input, so
    that its frame records the content size)."""

    lossless: ClassVar[bool] = True
    stream_section: ClassVar[str] = "DATA"

    def suits(self, item):
        return compressible(item.data)

    def compressor(self):
        """An object with ``compress(data)`` and ``flush()`` that writes this codec's stream."""
        raise NotImplementedError

    def decompressor(self):
        """An object with ``decompress(data, max_length)``, ``eof``, ``needs_input`` and
        ``unused_data``."""
        raise NotImplementedError

    def encode_to(self, src, spool, progress=None):
        comp, size = self.compressor(), 0
        while chunk := src.read(_CHUNK):
            size += len(chunk)
            spool.write(comp.compress(chunk))
            if progress:
                progress(len(chunk))
        spool.write(comp.flush())
        return Streamed({}, {"size": size})

    def iter_decode(self, sections, meta):
        size = int(meta["size"])
        limits.check_bytes(size)
        data = section(sections, "DATA", self.codec_id)
        d, total = self.decompressor(), 0
        try:
            for start in range(0, len(data), _CHUNK):
                if d.eof:
                    raise CorruptStreamError(f"{self.codec_id}: bytes follow the end of the stream")
                piece = data[start:start + _CHUNK]
                while True:  # at most _CHUNK bytes out per call: a bomb is caught at the size
                    out = d.decompress(piece, _CHUNK)
                    piece, total = b"", total + len(out)
                    if total > size:
                        raise CorruptStreamError(f"{self.codec_id}: payload expands past the recorded size")
                    if out:
                        yield out
                    if d.eof or d.needs_input:
                        break
        except CorruptStreamError:
            raise
        except (OSError, EOFError, zlib.error, lzma.LZMAError, ValueError) as exc:
            raise undecodable(self.codec_id, exc) from None
        if not d.eof or total != size:
            raise CorruptStreamError(f"{self.codec_id}: payload is truncated")
        if d.unused_data:
            raise CorruptStreamError(f"{self.codec_id}: bytes follow the end of the stream")


@dataclass
class Gzip(_ByteCodec):
    codec_id: ClassVar[str] = "gzip"
    description: ClassVar[str] = "gzip (DEFLATE), level 9"
    level: int = option(9, 0, 9)

    def encoder_version(self):
        return f"zlib {zlib.ZLIB_RUNTIME_VERSION}"

    def compressor(self):  # what gzip.compress(data, level, mtime=0) writes, in pieces
        return zlib.compressobj(self.level, zlib.DEFLATED, 31)

    def decompressor(self):
        return _ZlibAdapter()


class _ZlibAdapter:
    """zlib keeps unread input in ``unconsumed_tail`` instead of buffering it; adapt it."""

    def __init__(self):
        self._obj = zlib.decompressobj(wbits=31)
        self.needs_input = True

    @property
    def eof(self):
        return self._obj.eof

    @property
    def unused_data(self):
        return self._obj.unused_data

    def decompress(self, data: bytes, max_length: int) -> bytes:
        out = self._obj.decompress(data or self._obj.unconsumed_tail, max_length)
        self.needs_input = not self._obj.unconsumed_tail
        return out


@dataclass
class Bz2(_ByteCodec):
    codec_id: ClassVar[str] = "bz2"
    description: ClassVar[str] = "bzip2, level 9"
    level: int = option(9, 1, 9)

    def compressor(self):
        return bz2.BZ2Compressor(self.level)

    def decompressor(self):
        return bz2.BZ2Decompressor()


@dataclass
class Xz(_ByteCodec):
    codec_id: ClassVar[str] = "xz"
    description: ClassVar[str] = "xz (LZMA2), preset 9 extreme"
    level: int = option(9, 0, 9)
    extreme: bool = True

    def compressor(self):
        return lzma.LZMACompressor(lzma.FORMAT_XZ, preset=self.level | (lzma.PRESET_EXTREME if self.extreme else 0))

    def decompressor(self):
        return lzma.LZMADecompressor(lzma.FORMAT_XZ)


@dataclass
class Zstd(_ByteCodec):
    codec_id: ClassVar[str] = "zstd"
    description: ClassVar[str] = "Zstandard, level 19 with long-distance matching"
    level: int = option(19, -(1 << 17), 22)  # zstd's fast levels are negative
    long: bool = True

    def encoder_version(self):
        return zstd_version()

    def encode_to(self, src, spool, progress=None):
        """The whole input at once: the parameters follow its size, which the frame records."""
        import zstandard

        chunks = []
        while chunk := src.read(_CHUNK):
            chunks.append(chunk)
            if progress:
                progress(len(chunk))
        data = b"".join(chunks)
        params = zstandard.ZstdCompressionParameters.from_level(
            self.level, source_size=len(data), enable_ldm=self.long,
            window_log=min(27, max(10, len(data).bit_length())) if self.long else 0)
        spool.write(zstandard.ZstdCompressor(compression_params=params).compress(data))
        return Streamed({}, {"size": len(data)})

    def iter_decode(self, sections, meta):
        import zstandard

        size = int(meta["size"])
        limits.check_bytes(size)
        data = section(sections, "DATA", self.codec_id)
        total = 0
        try:
            if zstandard.frame_content_size(data[:18]) != size:
                raise CorruptStreamError(f"{self.codec_id}: frame size disagrees with the header")
            dctx = zstandard.ZstdDecompressor(max_window_size=1 << 31)
            for out in dctx.read_to_iter(_SliceReader(data), read_size=_CHUNK, write_size=_CHUNK):
                total += len(out)
                if total > size:
                    raise CorruptStreamError(f"{self.codec_id}: payload expands past the recorded size")
                yield out
        except zstandard.ZstdError as exc:
            raise undecodable(self.codec_id, exc) from None
        if total != size:
            raise CorruptStreamError(f"{self.codec_id}: payload is truncated")


class _SliceReader:
    """``read(n)`` over anything with ``len`` and slices (bytes, or a lazy container section)."""

    def __init__(self, data):
        self.data, self.pos = data, 0

    def read(self, n: int = -1) -> bytes:
        end = len(self.data) if n < 0 else min(len(self.data), self.pos + n)
        out, self.pos = self.data[self.pos:end], end
        return bytes(out)


@dataclass
class Store(Codec):
    codec_id: ClassVar[str] = "store"
    modality: ClassVar[str] = "bytes"
    lossless: ClassVar[bool] = True
    verbatim: ClassVar[bool] = True
    description: ClassVar[str] = "the bytes as they are (for data no coder shrinks)"

    def encode(self, item):
        return {"DATA": item.data}

    def decode(self, sections, meta):
        data = section(sections, "DATA", self.codec_id)
        if "size" in meta and int(meta["size"]) != len(data):
            raise CorruptStreamError(f"{self.codec_id}: payload size disagrees with header")
        return Bytes(data)
