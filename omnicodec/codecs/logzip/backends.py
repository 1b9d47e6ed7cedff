"""Logzip's stream backends: each stream goes through whichever general-purpose compressor
makes it smallest, framed with the backend's id and both lengths.

Stream frame: ``u8 backend (0 raw, 1 zstd, 2 LZMA2 raw, 3 bzip2, 4 PPMd8 order 8), u64 raw
length, u64 stored length, bytes``.  The LZMA2 dictionary and the PPMd model memory are
functions of the raw length alone, so the decoder rebuilds them from the frame.
"""

from __future__ import annotations

import bz2
import lzma
import struct

from ...errors import CorruptStreamError
from ..generic import zstd_frame

RAW, ZSTD, XZ, BZ2, PPMD = range(5)
PPMD_ORDER = 8
_FRAME = struct.Struct("<BQQ")


def compress_stream(data: bytes, *, zstd_any_size: bool = False) -> bytes:
    """The smallest of the backends for one stream, framed with its id and sizes.

    PPMd (order 8) and LZMA2 win almost every stream (PPMd on text, LZMA on number planes);
    zstd -19 and bzip2 are only tried where they are cheap (small streams), zstd -19 at any size
    with ``zstd_any_size`` (a whole block that has no structure).  Only a candidate that decodes
    back to ``data`` is kept: pyppmd 1.3's PPMd8 writes undecodable streams for some inputs
    (random bytes once the model memory fills)."""
    import pyppmd
    import zstandard

    best = (RAW, data)
    if len(data) > 32:
        candidates = [(PPMD, pyppmd.compress(data, max_order=PPMD_ORDER, mem_size=_ppmd_mem(len(data)))),
                      (XZ, lzma.compress(data, lzma.FORMAT_RAW, filters=_xz_filters(len(data))))]
        if len(data) < 1 << 16:
            candidates += [(ZSTD, zstandard.ZstdCompressor(level=19).compress(data)),
                           (BZ2, bz2.compress(data, 9))]
        for kind, stored in sorted(candidates, key=lambda c: len(c[1])):
            if len(stored) >= len(data):
                break
            if _restores(kind, stored, data):
                best = (kind, stored)
                break
    if zstd_any_size:
        z19 = zstandard.ZstdCompressor(level=19).compress(data)
        if len(z19) < len(best[1]):
            best = (ZSTD, z19)
    return _FRAME.pack(best[0], len(data), len(best[1])) + best[1]


def decompress_stream(buf: memoryview, pos: int, cap: int) -> tuple[bytes, int]:
    """The stream framed at ``buf[pos:]`` (at most ``cap`` bytes once decoded) and the position
    after it; a frame that does not fit, decode, or match its length is a CorruptStreamError."""
    if pos + _FRAME.size > len(buf):
        raise CorruptStreamError("logzip: block is truncated")
    kind, raw_len, stored = _FRAME.unpack_from(buf, pos)
    pos += _FRAME.size
    if raw_len > cap or pos + stored > len(buf):
        raise CorruptStreamError("logzip: stream length exceeds the block")
    try:
        out = _decompress(kind, bytes(buf[pos:pos + stored]), raw_len)
    except CorruptStreamError:
        raise
    except Exception as exc:  # each backend raises its own type
        raise CorruptStreamError(f"logzip: stream does not decode: {exc}") from None
    if len(out) != raw_len:
        raise CorruptStreamError("logzip: stream decodes to the wrong length")
    return out, pos + stored


def _restores(kind: int, stored: bytes, data: bytes) -> bool:
    try:
        return _decompress(kind, stored, len(data)) == data
    except Exception:  # noqa: BLE001 - each backend raises its own type; a failure is a no
        return False


def _decompress(kind: int, data: bytes, raw_len: int) -> bytes:
    import pyppmd

    if kind == RAW:
        return data
    if kind == ZSTD:
        return zstd_frame(data, raw_len)
    if kind == XZ:
        return lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=_xz_filters(raw_len)).decompress(data, raw_len)
    if kind == BZ2:
        return bz2.BZ2Decompressor().decompress(data, raw_len)
    if kind == PPMD:
        # one byte past the declared length at most: a small stream may inflate enormously
        return pyppmd.Ppmd8Decoder(PPMD_ORDER, _ppmd_mem(raw_len)).decode(data, raw_len + 1)
    raise CorruptStreamError(f"logzip: unknown stream backend {kind}")


def _ppmd_mem(raw_len: int) -> int:
    """PPMd model memory, a function of the stream length alone (so the decoder knows it):
    small streams do not pay for initialising a large model."""
    return int(min(64 << 20, max(1 << 20, 1 << (16 * raw_len).bit_length())))


def _xz_filters(raw_len: int) -> list[dict]:
    """LZMA2 preset 9 with a dictionary no larger than the stream (a function of its length,
    so the decoder rebuilds the same filter chain); allocating 64 MiB per stream is slow."""
    return [{"id": lzma.FILTER_LZMA2, "preset": 9,
             "dict_size": int(min(64 << 20, max(1 << 16, 1 << raw_len.bit_length())))}]
