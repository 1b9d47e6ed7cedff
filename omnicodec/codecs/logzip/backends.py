"""Logzip's stream backends: each stream goes through whichever general-purpose compressor
makes it smallest, framed with the backend's id and both lengths.

Stream frame: ``u8 backend (0 raw, 1 zstd, 2 LZMA2 raw, 3 bzip2, 4 PPMd8 order 8, 5 PPMd8 of
the order in its first stored byte, 6 ZPAQ context mixing of the model in its first stored
byte: cm.py, 7 the number planes by context mixing of their values: columns.planes_cm), raw
length, stored length, bytes``; the lengths are u64 in
blocks of layout 1, unsigned LEB128 in layout 2.  The LZMA2 dictionary and the PPMd model memory
are functions of the raw length alone, so the decoder rebuilds them from the frame.

PPMd's best order depends on the stream: 2-4 for number planes and template ids (short contexts
that recur), 12-16 for template dictionaries and text (long repeats).  With ``orders`` (logzip's
structure 3), the encoder also tries the orders ORDERS on a sample of each stream (its first
SAMPLE bytes) and codes the stream at the best of them as backend 5 where that looks smaller
(``_other_order``): 1.0% on the mean ratio of the 16 LogHub 2k files, for one byte a stream and
two more PPMd passes over the samples (orders 2, 3, 4, 6, 12 and 16 gained 1.3%, for five).

With ``cm`` (logzip's structure 8, for small blocks only: ``blocks.CM_BLOCK``), a stream of up
to ``cm.MAX_RAW`` bytes is also coded by context mixing (ZPAQ, one model chosen by the stream's
bytes: ``cm.model_for``), which codes most streams 3-20% smaller than PPMd at any order
(``benchmarks/logs.py``: the README's log tables).  It decodes at 1-3 MB/s, so a stream of 64
KiB or more still goes to zstd where ``slack`` allows.

Backend 7 (logzip's structure 9, with ``cm``) is the number planes' alone: their values coded
with each value's line (its template, the line before's) as context, which a byte-stream
coder cannot see (``kernels.colcm``).  Its decoder needs the block's template ids, template
dictionary and column metadata, so the caller brings both sides: ``extra`` (the stored bytes
and their decoder) to ``compress_streams``, ``numbers`` (the decoder) to ``decompress_stream``.
"""

from __future__ import annotations

import bz2
import lzma
import struct
from collections.abc import Callable
from typing import NamedTuple

from ...container import uvar
from ...errors import CorruptStreamError
from ..generic import zstd_frame
from . import cm as _cm

RAW, ZSTD, XZ, BZ2, PPMD, PPMD_K, CM, NUMBERS = range(8)
PPMD_ORDER = 8  # backend 4's order
ORDERS = (2, 12)  # the other orders the encoder tries (backend 5): short and long contexts
MIN_ORDER, MAX_ORDER = 2, 64  # PPMd8's range: backend 5 refuses any other order byte
SAMPLE = 1 << 15
# with ``min_fast`` (logzip's structure 7): streams shorter than this keep their smallest
# backend (the template dictionary aside): PPMd decodes one in a few milliseconds, so zstd
# would buy a small log nothing for its bytes (1.4% on the mean ratio of the 16 LogHub 2k files)
MIN_FAST = 1 << 16
# with ``cm`` 2 (logzip's structure 9): streams up to this long go through both ZPAQ models, for
# about a millisecond a KiB (the text model codes some binary streams smaller, and the other way
# round: column metadata, some number planes; 0.2% on the mean ratio of the 16 LogHub 2k files)
CM_BOTH = 1 << 16
_FRAME = struct.Struct("<BQQ")  # layout 1


def compress_streams(streams: list[bytes], slack: float = 0.0, layout: int = 1, *,
                     zstd_any_size: bool = False, first: int | None = None, orders: bool = False,
                     min_fast: int = 0, cm: int = 0, extra: dict[int, Numbers] | None = None) -> bytes:
    """Each stream through its smallest backend, framed, back to back; then, with a ``slack``
    > 0, through zstd -19 instead wherever that costs the fewest extra bytes per decoded byte,
    while the extra bytes stay within ``slack`` of the streams' total; stream ``first`` (the
    template dictionary, which ``codec grep`` reads from every block) is considered before the
    others, and, of the others, only those of ``min_fast`` bytes or more.  zstd decodes 20-40x
    faster than PPMd or LZMA2 (a 2.3 MB number stream of a generated log: 1.3 ms against 45 ms
    for LZMA2, 0.9% larger).

    PPMd (order 8) and LZMA2 win most streams outright (PPMd on text, LZMA on number planes);
    zstd -19 and bzip2 are tried as the smallest only where they are cheap (small streams), and
    zstd -19 at any size with ``zstd_any_size`` (a whole block that has no structure); with
    ``orders``, PPMd at the order its sample prefers, and with ``cm`` context mixing (see the
    module docstring; 1 and 2: ``_cm_models``); ``extra``: by stream index, a backend 7 candidate.  Only a
    candidate that decodes back to its stream is kept: pyppmd 1.3's PPMd8 writes undecodable
    streams for some inputs (random bytes once the model memory fills)."""
    extra = extra or {}
    chosen = [_smallest(data, bool(slack), zstd_any_size, orders, cm, extra.get(i)) for i, data in enumerate(streams)]
    best = [c[0] for c in chosen]
    if slack:
        budget = slack * sum(len(stored) for _, stored in best)
        extra = {i: len(z) - len(best[i][1]) for i, (_, z) in enumerate(chosen)
                 if best[i][0] not in (RAW, ZSTD) and len(z) < len(streams[i])
                 and (len(streams[i]) >= min_fast or i == first)}
        for i in sorted(extra, key=lambda i: (i != first, extra[i] / len(streams[i]), i)):
            if extra[i] <= budget and _restores(ZSTD, chosen[i][1], streams[i]):
                best[i] = (ZSTD, chosen[i][1])
                budget -= max(0, extra[i])
    return b"".join(frame(kind, len(data), stored, layout) for (kind, stored), data in zip(best, streams))


def frame(kind: int, raw_len: int, stored: bytes, layout: int) -> bytes:
    if layout == 1:
        return _FRAME.pack(kind, raw_len, len(stored)) + stored
    return bytes([kind]) + uvar(raw_len) + uvar(len(stored)) + stored


class Numbers(NamedTuple):
    """A backend 7 candidate: its stored bytes (None: there is none) and its decoder, (stored,
    raw length) -> bytes."""

    stored: bytes | None
    decode: Callable[[bytes, int], bytes]


def _smallest(data: bytes, fast: bool, zstd_any_size: bool, orders: bool = False, cm: int = 0,
              numbers: Numbers | None = None) -> tuple[tuple[int, bytes], bytes | None]:
    """((backend, stored bytes) of the smallest that restores ``data``, zstd -19 of ``data``
    where it was computed (small streams, ``fast``, ``zstd_any_size``))."""
    import zstandard

    best = (RAW, data)
    small = len(data) < 1 << 16
    z19 = zstandard.ZstdCompressor(level=19).compress(data) if small or fast or zstd_any_size else None
    if len(data) > 32:
        ppmd8 = ppmd(data, PPMD_ORDER)
        candidates = [(PPMD, ppmd8), (XZ, lzma.compress(data, lzma.FORMAT_RAW, filters=_xz_filters(len(data))))]
        if orders:
            candidates += _other_order(data, ppmd8, min(len(c[1]) for c in candidates))
        if small:
            candidates += [(ZSTD, z19), (BZ2, bz2.compress(data, 9))]
        models = _cm_models(data, cm)
        candidates += [(CM, mixed) for mixed in (_cm.compress(data, m) for m in models) if mixed is not None]
        if numbers is not None and numbers.stored is not None:
            candidates.append((NUMBERS, numbers.stored))
        for kind, stored in sorted(candidates, key=lambda c: len(c[1])):
            if len(stored) >= len(data):
                break
            if _restores(kind, stored, data, numbers.decode if numbers else None):
                best = (kind, stored)
                break
    if zstd_any_size and len(z19) < len(best[1]):
        best = (ZSTD, z19)
    return best, z19


def _cm_models(data: bytes, cm: int) -> tuple[int, ...]:
    """The ZPAQ models a stream is tried under: none (``cm`` 0), the one ``cm.model_for``
    picks (1), or from structure 9 (2) LONG_TEXT for text, and for a stream of up to CM_BOTH
    bytes both LONG_TEXT and BINARY."""
    if not cm:
        return ()
    model = _cm.model_for(data)
    if cm < 2:
        return (model,)
    if len(data) <= CM_BOTH:
        return _cm.LONG_TEXT, _cm.BINARY
    return (_cm.LONG_TEXT if model == _cm.TEXT else model,)


def ppmd(data: bytes, order: int = PPMD_ORDER) -> bytes:
    """``data`` through PPMd8 at ``order`` (backend PPMD's stored bytes at PPMD_ORDER)."""
    import pyppmd

    return pyppmd.compress(data, max_order=order, mem_size=_ppmd_mem(len(data)))


def _other_order(data: bytes, ppmd8: bytes, smallest: int) -> list[tuple[int, bytes]]:
    """[(PPMD_K, order byte + PPMd of ``data`` at that order)] for the order among ORDERS that
    codes the first SAMPLE bytes in the fewest bytes (the lowest on a tie), where it beats
    PPMD_ORDER on them and, the sample's gain applied to the whole stream, would come out 1%
    below ``smallest`` (the other candidates' best): a long stream is coded a second time only
    then.  Empty where no other order is worth it."""
    sample = data[:SAMPLE]
    whole = len(sample) == len(data)
    coded = {o: ppmd(sample, o) for o in ORDERS}
    base = len(ppmd8) if whole else len(ppmd(sample, PPMD_ORDER))
    order = min(sorted(coded), key=lambda o: len(coded[o]))
    if len(coded[order]) >= base:
        return []
    if whole:
        return [(PPMD_K, bytes([order]) + coded[order])]
    if len(ppmd8) * len(coded[order]) / base >= 0.99 * smallest:
        return []
    return [(PPMD_K, bytes([order]) + ppmd(data, order))]


def _frame(buf: memoryview, pos: int, layout: int) -> tuple[int, int, int, int]:
    """(backend, raw length, stored length, where the stored bytes start) of a frame."""
    if layout == 1:
        if pos + _FRAME.size > len(buf):
            raise CorruptStreamError("logzip: block is truncated")
        return (*_FRAME.unpack_from(buf, pos), pos + _FRAME.size)
    if pos >= len(buf):
        raise CorruptStreamError("logzip: block is truncated")
    raw_len, at = read_uvar(buf, pos + 1)
    stored, at = read_uvar(buf, at)
    return buf[pos], raw_len, stored, at


def read_uvar(buf: memoryview, pos: int) -> tuple[int, int]:
    """The unsigned LEB128 number at ``buf[pos:]`` (at most 9 bytes) and the position after it."""
    n = shift = 0
    for i in range(pos, min(pos + 9, len(buf))):
        n |= (buf[i] & 0x7F) << shift
        if buf[i] < 0x80:
            return n, i + 1
        shift += 7
    raise CorruptStreamError("logzip: block is truncated or a length is malformed")


def decompress_stream(buf: memoryview, pos: int, cap: int, layout: int = 1,
                      numbers: Callable[[bytes, int], bytes] | None = None) -> tuple[bytes, int]:
    """The stream framed at ``buf[pos:]`` (at most ``cap`` bytes once decoded) and the position
    after it; a frame that does not fit, decode, or match its length is a CorruptStreamError;
    ``numbers``: backend 7's decoder, where this stream may be of it (the number planes)."""
    kind, raw_len, stored, pos = _frame(buf, pos, layout)
    if raw_len > cap or pos + stored > len(buf):
        raise CorruptStreamError("logzip: stream length exceeds the block")
    try:
        out = _decompress(kind, bytes(buf[pos:pos + stored]), raw_len, numbers)
    except CorruptStreamError:
        raise
    except Exception as exc:  # each backend raises its own type
        raise CorruptStreamError(f"logzip: stream does not decode: {exc}") from None
    if len(out) != raw_len:
        raise CorruptStreamError("logzip: stream decodes to the wrong length")
    return out, pos + stored


def stream_length(buf: memoryview, pos: int, layout: int = 1) -> tuple[int, int]:
    """The decoded length of the stream framed at ``buf[pos:]`` and the position after it,
    without decoding it."""
    _, raw_len, stored, pos = _frame(buf, pos, layout)
    if pos + stored > len(buf):
        raise CorruptStreamError("logzip: stream length exceeds the block")
    return raw_len, pos + stored


def _restores(kind: int, stored: bytes, data: bytes, numbers: Callable[[bytes, int], bytes] | None = None) -> bool:
    try:
        return _decompress(kind, stored, len(data), numbers) == data
    except Exception:  # noqa: BLE001 - each backend raises its own type; a failure is a no
        return False


def _decompress(kind: int, data: bytes, raw_len: int, numbers: Callable[[bytes, int], bytes] | None = None) -> bytes:
    if kind == RAW:
        return data
    if kind == ZSTD:
        return zstd_frame(data, raw_len)
    if kind == XZ:
        return lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=_xz_filters(raw_len)).decompress(data, raw_len)
    if kind == BZ2:
        return bz2.BZ2Decompressor().decompress(data, raw_len)
    if kind == PPMD:
        return _ppmd_decode(data, raw_len, PPMD_ORDER)
    if kind == PPMD_K:
        if not data or not MIN_ORDER <= data[0] <= MAX_ORDER:
            raise CorruptStreamError("logzip: PPMd stream has no valid model order")
        return _ppmd_decode(data[1:], raw_len, data[0])
    if kind == CM:
        return _cm.decompress(data, raw_len)
    if kind == NUMBERS:
        if numbers is None:
            raise CorruptStreamError("logzip: only the number planes can be of backend 7")
        return numbers(data, raw_len)
    raise CorruptStreamError(f"logzip: unknown stream backend {kind}")


_STARVED: list = []  # PPMd decoders whose thread waits for input: kept, never freed (_ppmd_decode)
MAX_STARVED = 4


def _ppmd_decode(data: bytes, raw_len: int, order: int) -> bytes:
    """A PPMd stream's bytes, one past the declared length at most (a small stream may inflate
    enormously).  pyppmd 1.3.1 decodes in a thread that, when its input runs out (a damaged
    stream), waits for more; freeing the decoder then wakes it into freed memory (heap
    corruption and an abort, reproduced with damaged blocks), and feeding it more input can
    hang or abort (pyppmd PR #131).  So the input is followed by zeros, enough for any symbols
    left (decoding from zeros takes the first symbol of each context: at most 2 bytes a symbol),
    and its thread stops at the length asked for; a decoder that starves even so is kept, never
    freed, and the stream refused (after MAX_STARVED of them in a process, PPMd streams are)."""
    import pyppmd

    if len(_STARVED) >= MAX_STARVED:
        raise CorruptStreamError("logzip: too many damaged PPMd streams in this process")
    decoder = pyppmd.Ppmd8Decoder(order, _ppmd_mem(raw_len))
    out = decoder.decode(data + bytes(2 * raw_len + 64), raw_len + 1)
    if decoder.needs_input:
        _STARVED.append(decoder)
        raise CorruptStreamError("logzip: PPMd stream is damaged")
    return out


def _ppmd_mem(raw_len: int) -> int:
    """PPMd model memory, a function of the stream length alone (so the decoder knows it):
    small streams do not pay for initialising a large model."""
    return int(min(64 << 20, max(1 << 20, 1 << (16 * raw_len).bit_length())))


def _xz_filters(raw_len: int) -> list[dict]:
    """LZMA2 preset 9 with a dictionary no larger than the stream (a function of its length,
    so the decoder rebuilds the same filter chain); allocating 64 MiB per stream is slow."""
    return [{"id": lzma.FILTER_LZMA2, "preset": 9,
             "dict_size": int(min(64 << 20, max(1 << 16, 1 << raw_len.bit_length())))}]
