"""Compressed files byte for byte: recipes (side data) that remake a file's compressed bytes
from what they hold, so that a PNG, a Deflate or LZW TIFF, a gzip or a ZIP file coded as its
pixels or content comes back as it was.

zlib is deterministic: given the bytes it was fed and its settings (level, memLevel,
strategy, window), it writes the same stream again.  :func:`_settings` finds settings under
which this machine's zlib remakes a stream (libpng, Pillow, libtiff, OpenCV, optipng and most
software deflate through zlib).  Any other deflate stream (zopfli, libdeflate, 7-Zip, gzip(1),
most of zlib-ng's, a flush in the middle) is remade by :func:`deflate_recipe`: its blocks'
headers verbatim and its tokens as corrections to a plain matcher (kernels/deflate.py), a few
percent of the stream for zlib-like deflaters, 5-10% for optimal parsers.  Each recipe
carries the CRC-32 of what it remakes, which tells a decoder whose zlib writes differently.

* ``pngz`` (:func:`png_recipe`, :func:`png_rebuild`): a PNG's IDAT chunks hold one zlib stream
  of filtered scanlines, each row (of each Adam7 pass when interlaced) behind its filter type
  (None, Sub, Up, Average, Paeth).  Layout: version ``1``; level, memLevel, strategy, window
  bits (a byte each); the stream's CRC-32 (``u32`` little-endian); the IHDR chunk's 13 bytes;
  then, zlib-compressed, the IDAT chunk count and sizes (``u32`` each) followed by one filter
  type byte per row.  Version ``2``, for a stream zlib does not make: the zlib header's two
  bytes and two zeros in place of the settings, and after the table a :func:`deflate_recipe`
  of the stream's deflate data (the Adler-32 after it is computed).  Without either, the
  default encode keeps a PNG as its bytes (an item of it, asked of a codec by name, restores
  the same pixels and chunks).
* ``gzpz`` (:func:`gzip_item`, :func:`gzip_rebuild`): a gzip file's header verbatim and its
  deflate stream's recipe, beside its content (which a bytes codec codes: logzip for a log).
* ``zipz`` (:func:`zip_item`, :func:`zip_rebuild`): a ZIP file with its deflated members
  expanded, and their streams' recipes.
* ``bz2z`` (:func:`bz2_item`, :func:`bz2_rebuild`): a bzip2 file's block size, beside its
  content (libbzip2 is deterministic).
* ``tifz`` (:func:`tiff_recipe`, :func:`tiff_rebuild`): a Deflate or LZW TIFF's strips are
  zlib or LZW streams of whole rows, after TIFF's horizontal predictor where tag 317 asks for
  it; LZW has no settings, but libtiff's rules for starting its table afresh, which
  ``kernels/lzw.py`` follows.  Layout: version ``1``; the coder (0 zlib, 1 LZW, 2 another
  deflater); four bytes of settings (zlib: level, memLevel, strategy, window bits; LZW:
  whether the last code counts for its width, then zeros); the predictor (1 or 2); rows per
  strip and the CRC-32 of the strips as they follow one another (``u32`` each); for coder 2,
  the strip count and each strip's recipe length (``u32`` each), then each strip's zlib header
  (2 bytes) and :func:`deflate_recipe`; then the file without its strips, as ``wave`` holds a
  WAV (``u64`` offset, the rest).  Without one, such a TIFF stays bytes.
"""

from __future__ import annotations

import lzma
import struct
import warnings
import zlib
from typing import Iterator

import numpy as np

from ..errors import CorruptStreamError, UnsupportedInputError
from ..items import Bytes, Image

VERSION = 1
_ANY_DEFLATE = 2  # pngz's first byte for a stream zlib does not make (remade by deflate_rebuild)
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # PNG colour type -> samples per pixel
# Adam7 passes as (first column, first row, column step, row step)
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
_FEED = 1 << 15  # bytes fed to a candidate before its output is compared
_MIN_IDAT = 64  # bytes in every IDAT chunk but the last, for a recipe


_MISMATCH = f"this machine's zlib ({zlib.ZLIB_RUNTIME_VERSION}) does not remake the"


class ZlibMismatch(Warning):
    """This machine's zlib does not remake the stream a recipe describes."""


def png_recipe(data: bytes, image: Image) -> bytes | None:
    """The recipe that remakes the IDAT chunks of PNG ``data`` from ``image`` (its pixels as
    read), or None when this machine's zlib cannot make that stream."""
    from .files import png_chunks

    chunks = png_chunks(data)
    ihdr = chunks[0][1][8:-4]
    idat = [raw[8:-4] for kind, raw in chunks if kind == b"IDAT"]
    stream = b"".join(idat)
    try:
        raw = zlib.decompress(stream)
        passes = _passes(image, ihdr)
    except (zlib.error, ValueError):
        return None
    lengths = [p.shape[1] + 1 for p in passes for _ in range(len(p))]
    if not lengths or sum(lengths) != len(raw) or min(map(len, idat[:-1]), default=_MIN_IDAT) < _MIN_IDAT:
        return None  # (chunks of a few bytes: the decoder bounds the count by the stream's size)
    filters = np.frombuffer(raw, np.uint8)[np.cumsum([0] + lengths[:-1])]
    if filters.max() > 4:
        return None
    pos = 0
    for lines in _filtered(passes, filters, ihdr):
        if raw[pos:pos + len(lines)] != lines:
            return None
        pos += len(lines)
    body = np.array([len(idat)] + [len(c) for c in idat], "<u4").tobytes() + filters.tobytes()
    head = struct.pack("<I", zlib.crc32(stream)) + ihdr + zlib.compress(body, 9)
    settings = _settings(raw, stream)
    if settings is not None:
        return bytes([VERSION, *settings]) + head
    if len(stream) < 6 or stream[-4:] != zlib.adler32(raw).to_bytes(4, "big"):
        return None
    remade = deflate_recipe(stream[2:-4], raw)  # another deflater's: its stream as corrections
    return None if remade is None else bytes([_ANY_DEFLATE, stream[0], stream[1], 0, 0]) + head + remade


def png_rebuild(image: Image, side: bytes) -> bytes | None:
    """The PNG (IHDR, IDAT chunks, IEND) that recipe ``side`` describes for ``image``, or None,
    with a :class:`ZlibMismatch` warning, where this machine's zlib writes another stream."""
    if len(side) < 22 or side[0] not in (VERSION, _ANY_DEFLATE):
        raise CorruptStreamError("PNG recipe (pngz) is damaged or of an unknown version")  # (22: the fixed part)
    level, mem, strategy, wbits = side[1:5]
    (crc,) = struct.unpack_from("<I", side, 5)
    ihdr = side[9:22]
    try:
        passes = _passes(image, ihdr)
        rows = sum(len(p) for p in passes)
        most = (rows + sum(p.size for p in passes)) // (_MIN_IDAT - 4) + 2  # IDAT chunks: the stream's bound
        body = zlib.decompressobj()
        table = body.decompress(side[22:], 4 * (most + 1) + rows)
        if body.unconsumed_tail or bool(body.unused_data) != (side[0] == _ANY_DEFLATE) or not body.eof \
                or len(table) < 4:
            raise ValueError
        (count,) = struct.unpack_from("<I", table)
        if count > most:
            raise ValueError
        sizes = np.frombuffer(table, "<u4", count, 4).astype(np.int64)
        filters = np.frombuffer(table, np.uint8, offset=4 + 4 * count)
        if len(filters) != rows or (rows and filters.max() > 4):
            raise ValueError
        if side[0] == _ANY_DEFLATE:
            raw = b"".join(_filtered(passes, filters, ihdr))
            stream = side[1:3] + deflate_rebuild(raw, body.unused_data) + zlib.adler32(raw).to_bytes(4, "big")
            if zlib.crc32(stream) != crc:
                raise ValueError
        else:
            z = zlib.compressobj(level, zlib.DEFLATED, wbits, mem, strategy)
            stream = b"".join([z.compress(lines) for lines in _filtered(passes, filters, ihdr)] + [z.flush()])
    except (ValueError, zlib.error, CorruptStreamError):
        raise CorruptStreamError("PNG recipe (pngz) does not fit the image") from None
    if zlib.crc32(stream) != crc or sizes.sum() != len(stream) or not sizes.all():
        warnings.warn(ZlibMismatch(f"{_MISMATCH} PNG's compressed pixel data: it is written with the same pixels "
                                   "and chunks, but not byte for byte"))
        return None
    ends = np.cumsum(sizes).tolist()
    idat = b"".join(png_chunk(b"IDAT", stream[end - size:end]) for size, end in zip(sizes.tolist(), ends))
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + idat + png_chunk(b"IEND", b"")


def _passes(image: Image, ihdr: bytes) -> list[np.ndarray]:
    """The scanlines before filtering, as a (rows, bytes) array per Adam7 pass (one when not
    interlaced, empty passes left out); raises ValueError where IHDR does not describe
    ``image``'s pixels."""
    width, height, depth, ctype, method, filtering, interlace = struct.unpack(">IIBBBBB", ihdr)
    pixels = image.pixels
    if ((height, width, _CHANNELS.get(ctype)) != pixels.shape or (method, filtering) != (0, 0)
            or interlace > 1 or (depth, pixels.dtype.itemsize) not in ((8, 1), (16, 2))):
        raise ValueError("IHDR does not describe the pixels")
    big = pixels.astype(">u2") if depth == 16 else pixels
    out = []
    for x0, y0, dx, dy in _ADAM7 if interlace else ((0, 0, 1, 1),):
        sub = big[y0::dy, x0::dx]
        if sub.size:
            out.append(np.ascontiguousarray(sub).view(np.uint8).reshape(sub.shape[0], -1))
    return out


def _filtered(passes: list[np.ndarray], filters: np.ndarray, ihdr: bytes, block: int = 256) -> Iterator[bytes]:
    """The scanlines, each behind its filter type byte and filtered by it (PNG section 9:
    "left" is a whole pixel back, "above" the row above in the same pass), ``block`` rows at
    a time."""
    depth, ctype = ihdr[8], ihdr[9]
    step = max(1, _CHANNELS[ctype] * depth // 8)
    first = 0
    for rows in passes:
        for start in range(0, len(rows), block):
            x = rows[start:start + block].astype(np.int16)
            b = np.zeros_like(x)
            b[1:] = x[:-1]
            if start:
                b[0] = rows[start - 1]
            a, c = np.zeros_like(x), np.zeros_like(x)
            a[:, step:], c[:, step:] = x[:, :-step], b[:, :-step]
            kind = filters[first + start:first + start + len(x), None]
            p = a + b - c
            pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
            paeth = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))
            guess = np.select([kind == 1, kind == 2, kind == 3, kind == 4], [a, b, (a + b) // 2, paeth], 0)
            line = np.empty((len(x), x.shape[1] + 1), np.uint8)
            line[:, 0], line[:, 1:] = kind[:, 0], (x - guess) & 0xFF
            yield line.tobytes()
        first += len(rows)


# TIFF -----------------------------------------------------------------------------------
_ZLIB, _LZW, _ANY = 0, 1, 2  # how the strips were compressed (the recipe's coder byte: zlib, LZW, another deflater)
TIFF_CODERS = {8: _ZLIB, 32946: _ZLIB, 5: _LZW}  # TIFF compression codes -> coder


def tiff_recipe(data: bytes, strips: list[tuple[int, int]], rows: int, shape: tuple[int, int, int],
                dtype: np.dtype, predictor: int, compression: int) -> tuple[np.ndarray, bytes] | None:
    """The pixels of a Deflate or LZW TIFF whose ``strips`` ((offset, size) each, following
    one another) hold ``rows`` rows each of ``shape`` samples of ``dtype`` (in the file's byte
    order), and the recipe that remakes the file from them; None where a strip does not
    decompress to its rows or is not remade byte for byte."""
    import imagecodecs

    coder, row_bytes, raws = TIFF_CODERS[compression], shape[1] * shape[2] * dtype.itemsize, []
    for i, (offset, size) in enumerate(strips):
        expected = row_bytes * min(rows, shape[0] - i * rows)
        if expected <= 0:
            return None
        try:
            if coder == _LZW:  # (into a buffer one byte too big: a longer strip is refused, unread)
                raw = bytes(imagecodecs.lzw_decode(data[offset:offset + size], out=bytearray(expected + 1)))
            else:
                inflate = zlib.decompressobj()
                raw = inflate.decompress(data[offset:offset + size], expected + 1)
                raw = raw if inflate.eof and not inflate.unused_data else b""
        except (zlib.error, imagecodecs.LzwError):
            return None
        if len(raw) != expected:
            return None
        raws.append(raw)
    if sum(map(len, raws)) != row_bytes * shape[0] or predictor not in (1, 2):
        return None
    samples = np.frombuffer(b"".join(raws), dtype).reshape(shape)
    pixels = np.cumsum(samples, axis=1, dtype=dtype.name) if predictor == 2 else samples  # (native order)
    start, end = strips[0][0], strips[-1][0] + strips[-1][1]
    first = data[start:start + strips[0][1]]
    if coder == _ZLIB:
        tried = [_settings(raws[0], first)]
    else:
        tried = [(step, 0, 0, 0) for step in (1, 0) if _lzw(raws[0], step) == first]
    from .files import wrap

    head = struct.pack("<II", rows, zlib.crc32(data[start:end]))
    for params in [p for p in tried if p is not None][:1]:
        if _strips(pixels.astype(dtype), rows, predictor, coder, params) == data[start:end]:
            side = bytes([VERSION, coder, *params, predictor]) + head
            return pixels.astype(dtype.name), side + wrap(data, start, end)
    if coder != _ZLIB:
        return None
    remade = []  # another deflater's strips (libdeflate's, in many libtiff builds): a recipe each
    for (offset, size), raw in zip(strips, raws):
        stream = data[offset:offset + size]
        recipe = deflate_recipe(stream[2:-4], raw) if stream[-4:] == zlib.adler32(raw).to_bytes(4, "big") else None
        if recipe is None:
            return None
        remade.append(stream[:2] + recipe)
    table = struct.pack(f"<{len(remade) + 1}I", len(remade), *map(len, remade))
    side = bytes([VERSION, _ANY, 0, 0, 0, 0, predictor]) + head + table + b"".join(remade)
    return pixels.astype(dtype.name), side + wrap(data, start, end)


def tiff_rebuild(image: Image, side: bytes) -> bytes:
    """The TIFF file that recipe ``side`` describes for ``image``."""
    from .files import unwrap

    if len(side) < 23 or side[0] != VERSION or side[1] not in (_ZLIB, _LZW, _ANY) or side[6] not in (1, 2):
        raise CorruptStreamError("TIFF recipe (tifz) is damaged or of an unknown version")
    rows, crc = struct.unpack_from("<II", side, 7)
    at, remade = 15, None
    try:
        if side[1] == _ANY:
            (count,) = struct.unpack_from("<I", side, at)
            sizes = struct.unpack_from(f"<{min(count, len(side) // 4)}I", side, at + 4)
            at += 4 + 4 * len(sizes)
            remade = [side[at + sum(sizes[:i]):at + sum(sizes[:i + 1])] for i in range(len(sizes))]
            at += sum(sizes)
        order = {b"II*\0": "<", b"MM\0*": ">"}.get(side[at + 8:at + 12], "<")
        strips = _strips(image.pixels.astype(image.pixels.dtype.newbyteorder(order)), max(1, rows), side[6],
                         side[1], tuple(side[2:6]), remade)
    except (ValueError, zlib.error, struct.error, CorruptStreamError):
        raise CorruptStreamError("TIFF recipe (tifz) does not fit the image") from None
    if zlib.crc32(strips) != crc and side[1] == _ZLIB:
        raise UnsupportedInputError(f"{_MISMATCH} TIFF's strips: decode to .png or .npy with --allow-loss "
                                    "for its pixels")
    if zlib.crc32(strips) != crc:
        raise CorruptStreamError("TIFF recipe (tifz) does not fit the image")
    return unwrap(side[at:], strips)


def _strips(pixels: np.ndarray, rows: int, predictor: int, coder: int, params: tuple[int, ...],
            remade: list[bytes] | None = None) -> bytes:
    """A TIFF's strips, one after another: ``rows`` rows each, predicted (2: each sample less
    the one before it in its row and channel), compressed by zlib's settings, by LZW, or (coder
    _ANY) by each strip's zlib header and deflate recipe in ``remade``."""
    out = []
    if coder == _ANY and len(remade) != -(-len(pixels) // rows):
        raise ValueError("a recipe per strip")
    for start in range(0, len(pixels), rows):
        block = pixels[start:start + rows]
        if predictor == 2:
            block = block.copy()
            block[:, 1:] -= pixels[start:start + rows, :-1]
        if coder == _LZW:
            out.append(_lzw(block.tobytes(), params[0]))
        elif coder == _ANY:
            raw, recipe = block.tobytes(), remade[start // rows]
            out.append(recipe[:2] + deflate_rebuild(raw, recipe[2:]) + zlib.adler32(raw).to_bytes(4, "big"))
        else:
            level, mem, strategy, wbits = params
            z = zlib.compressobj(level, zlib.DEFLATED, wbits, mem, strategy)
            out.append(z.compress(block.tobytes()) + z.flush())
    return b"".join(out)


def _lzw(raw: bytes, final_step: int) -> bytes:
    from ..kernels import kernel

    return kernel("lzw", "encode")(np.frombuffer(raw, np.uint8), bool(final_step))


# any deflate stream ---------------------------------------------------------------------
def deflate_recipe(stream: bytes, raw: bytes) -> bytes | None:
    """The recipe that remakes raw deflate ``stream`` from ``raw`` (what it inflates to),
    whatever deflater wrote it (kernels/deflate.py: its blocks' headers verbatim, its tokens as
    corrections to a plain matcher), or None where it does not inflate to exactly ``raw``.

    Two forms, the smaller kept: all of it through LZMA; or, with ``CLASSED`` in the body's
    chain field, the kinds also split by cost class (the predicted match's bits under its
    block's Huffman codes against its literals': an optimal parser takes the cheaper) and coded
    apart, after the LZMA part, each stream with its own counts through the entropy backend
    (LZMA codes such short-alphabet streams 20-30% above their entropy: Kodak's recipes
    lose a fifth this way)."""
    from ..kernels import kernel
    from ..kernels.deflate import CHAINS

    parsed, lengths, dists, blocks, end, ok = kernel("deflate", "parse")(stream, 8 * len(stream), len(raw))
    if not ok or parsed.tobytes() != raw or (end + 7) // 8 != len(stream):
        return None
    bits = np.unpackbits(np.frombuffer(stream, np.uint8), bitorder="little")
    header_bits = np.concatenate([bits[b[1]:b[2]] for b in blocks]) if len(blocks) else bits[:0]
    stored = np.zeros(len(lengths), np.bool_)
    for kind, _, _, first, count in blocks:
        stored[first:first + count] = kind == 0
    tail = bits[end:]
    table = np.stack([blocks[:, 0], blocks[:, 2] - blocks[:, 1], blocks[:, 4]], 1).astype("<u4")
    costs = kernel("deflate", "code_lengths")(stream, blocks[:, :3]) if ENCODER >= 2 else None  # (None: plain only)
    head = (table.tobytes() + np.packbits(header_bits, bitorder="little").tobytes()
            + np.packbits(tail, bitorder="little").tobytes())

    def made(chain: int, tokens: int) -> bytes | None:
        """The smallest recipe body of the first ``tokens`` tokens at ``chain`` (None past the
        matcher's budget), with deep ranks where they fit the budget; the plain form is left
        out where its kinds' entropy alone passes the classed form's kinds by a tenth (its
        LZMA pass is the encoder's slowest step)."""
        size = int(np.maximum(lengths[:tokens], 1).sum())
        for deep in (True, False) if ENCODER >= 3 else (False,):
            layouts = kernel("deflate", "diff")(parsed[:size], lengths[:tokens], dists[:tokens], stored[:tokens],
                                                chain, costs, blocks[:, 3], deep=deep)
            if layouts is not None:
                break
        else:
            return None
        forms = [(True, layouts[0])] if len(layouts) > 1 else []
        if not forms or _kinds_bits(*layouts[-1]) <= 1.1 * _kinds_bits(*layouts[0]):
            forms.append((False, layouts[-1]))
        flagged = chain | (DEEP if deep else 0)
        bodies = [_recipe_body(zlib.crc32(stream), len(blocks), len(header_bits), len(tail), flagged, classed, head,
                               sizes, data) for classed, (sizes, data) in forms]
        return min(bodies, key=len)

    chains = CHAINS
    if ENCODER >= 2 and len(raw) > 2 * CHAIN_SAMPLE:  # the chain its first CHAIN_SAMPLE bytes prefer
        sample = int(np.searchsorted(np.cumsum(np.maximum(lengths, 1)), CHAIN_SAMPLE))
        tried = {chain: made(chain, sample) for chain in CHAINS}
        chains = (min(CHAINS, key=lambda c: len(tried[c]) if tried[c] is not None else 1 << 62),)
    best = None
    for chain in chains:  # zlib level 6's chain first; a longer one where that leaves much to correct
        recipe = made(chain, len(lengths))
        if recipe is None:
            break
        best = recipe if best is None or len(recipe) < len(best) else best
        if len(best) < len(stream) // (100 if ENCODER < 2 else 400):  # (zlib -9: 0.7% at chain 128, 0.4% at 4096)
            break
    try:
        return best if best is not None and deflate_rebuild(raw, best) == stream else None
    except CorruptStreamError:
        return None


CLASSED = 0x8000  # the chain field's flag of the classed form (deflate_recipe)
DEEP = 0x4000  # its flag of ranks among the whole window's candidates (kernels.deflate._reach)
CHAIN_SAMPLE = 1 << 20  # bytes on which the encoder picks the chain for data of twice that or more
# which deflate_recipe runs: 1, the first (the plain form only; the longer chain only where the
# shorter one's recipe is 1% of the stream or more), 2 (since 2026-12-07 #21) the classed form
# too (the plain one's LZMA pass left out where its kinds' entropy passes the classed kinds' by a
# tenth), the longer chain down to 0.25%, and on data of 2 * CHAIN_SAMPLE bytes or more the
# chain its first CHAIN_SAMPLE bytes prefer, 3 (since 2026-12-07 #22) also deep ranks (``DEEP``)
# where they fit the matcher's budget; the earlier ones' frozen files are tested with them
ENCODER = 3
_BODY = struct.Struct("<IIIBH")  # crc, blocks, header bits, tail bits, chain (| CLASSED | DEEP)


def _recipe_body(crc, count, nbits, tail_bits, chain, classed, head, sizes, data) -> bytes:
    """A recipe: LZMA of the body (the fields, ``head``: block table, headers, tail; the
    streams' sizes, and the corrections), with ``classed`` the kinds apart: the body holds
    two counts (kinds 0 and 1) per kinds stream that has any, and the kinds follow the LZMA
    part, coded by the entropy backend with those counts."""
    from ..entropy import Categorical, Encoder

    flagged = chain | (CLASSED if classed else 0)
    body = _BODY.pack(crc, count, nbits, tail_bits, flagged) + head + np.asarray(sizes, "<u4").tobytes()
    after = b""
    if classed:
        kinds, freq = _kind_counts(sizes, data)
        body += freq[:, :2].astype("<u4").tobytes()
        data = data[len(kinds):]
        starts = np.concatenate([[0], np.cumsum(freq.sum(axis=1))])
        enc = Encoder("ans")
        for row, a, b in zip(freq, starts[:-1], starts[1:]):  # (a stream at a time: no per-kind arrays)
            enc.encode(kinds[a:b], Categorical(row))
        after = enc.finish()
    body += data
    window = max(1 << 12, 1 << (len(body) - 1).bit_length())  # (a decoder allocates it: no more than needed)
    return lzma.compress(body, format=lzma.FORMAT_ALONE, filters=[
        {"id": lzma.FILTER_LZMA1, "preset": 9 | lzma.PRESET_EXTREME, "dict_size": window}]) + after


def _kind_counts(sizes: np.ndarray, data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """The kinds at the head of corrections ``data`` and, per kinds stream that has any (in
    stream order), how many of them are 0, 1 and 2."""
    from ..kernels.deflate import kinds_streams

    k = kinds_streams(len(sizes))
    kinds = np.frombuffer(data, np.uint8, int(sizes[:k].sum()))
    rows = np.repeat(np.arange(k), sizes[:k])
    return kinds, np.bincount(rows * 3 + kinds, minlength=3 * k).reshape(k, 3)[sizes[:k] > 0]


def _kinds_bits(sizes: np.ndarray, data: bytes) -> float:
    """The kinds' code length (bits) with each kinds stream's own counts, plus 64 bits for
    the two counts of each stream that has kinds."""
    counts = _kind_counts(sizes, data)[1]
    share = counts / counts.sum(axis=1, keepdims=True)
    return float(-(counts * np.log2(np.where(counts > 0, share, 1.0))).sum() + 64 * len(counts))


def deflate_rebuild(raw: bytes, recipe: bytes) -> bytes:
    """The deflate stream that :func:`deflate_recipe` describes for ``raw``."""
    from ..kernels import kernel
    from ..kernels.deflate import CHAINS, COST_EDGES, STREAMS, streams

    if len(recipe) < 13 or int.from_bytes(recipe[1:5], "little") > max(1 << 12, 32 * len(raw) + (1 << 21)):
        raise CorruptStreamError("deflate recipe is damaged")  # (its window, before anything is allocated)
    unpack = lzma.LZMADecompressor(format=lzma.FORMAT_ALONE)
    try:
        body = unpack.decompress(recipe, max_length=16 * len(raw) + (1 << 20))  # (tokens <= bytes)
        crc, count, nbits, tail_bits, chain = _BODY.unpack_from(body)
        classed, deep = bool(chain & CLASSED), bool(chain & DEEP)
        chain &= ~(CLASSED | DEEP)
        at = _BODY.size + 12 * count
        table = np.frombuffer(body, "<u4", 3 * count, _BODY.size).reshape(count, 3).astype(np.int64)
        headers = body[at:at + (nbits + 7) // 8]
        at += (nbits + 7) // 8
        tail = body[at] if tail_bits else 0
        at += 1 if tail_bits else 0
        nstreams = streams(len(COST_EDGES) + 1) if classed else STREAMS
        sizes = np.frombuffer(body, "<u4", nstreams, at).astype(np.int64)
        at += 4 * nstreams
        if not unpack.eof or (unpack.unused_data and not classed) or len(headers) != (nbits + 7) // 8 \
                or tail_bits > 7 or table[:, 0].max(initial=0) > 2 or chain not in CHAINS:
            raise ValueError
        if classed:
            kinds, at = _classed_kinds(sizes, body, at, unpack.unused_data, len(raw))
            corrections = kinds + body[at:]
        else:
            corrections = body[at:]
    except (lzma.LZMAError, struct.error, ValueError, IndexError):
        raise CorruptStreamError("deflate recipe is damaged") from None
    firsts = np.concatenate([[0], np.cumsum(table[:, 2])[:-1]]).astype(np.int64)
    stored = np.stack([firsts, table[:, 2]], 1)[table[:, 0] == 0]
    starts = np.concatenate([[0], np.cumsum(table[:, 1])[:-1]])
    costs = None
    if classed:
        costs = kernel("deflate", "code_lengths")(headers, np.stack([table[:, 0], starts, starts + table[:, 1]], 1))
        if costs is None:
            raise CorruptStreamError("deflate recipe is damaged")
    lengths, dists, ok = kernel("deflate", "undiff")(np.frombuffer(raw, np.uint8), stored, sizes, corrections, chain,
                                                     costs, firsts, deep=deep)
    if ok:
        blocks = np.stack([table[:, 0], starts, starts + table[:, 1], firsts, table[:, 2]], 1)
        stream, ok = kernel("deflate", "write")(np.frombuffer(raw, np.uint8), lengths, dists, blocks, headers, nbits,
                                                 tail, tail_bits)
    if not ok or zlib.crc32(stream) != crc:
        raise CorruptStreamError("deflate recipe does not fit the data")
    return stream


def _classed_kinds(sizes: np.ndarray, body: bytes, at: int, coded: bytes, limit: int) -> tuple[bytes, int]:
    """The kinds of a classed recipe (ValueError where they cannot be): their counts from
    ``body`` at ``at``, then the symbols from ``coded``; returns them and where the body goes on."""
    from ..entropy import Categorical, Decoder
    from ..kernels.deflate import kinds_streams

    k = kinds_streams(len(sizes))
    used = np.flatnonzero(sizes[:k])
    n = int(sizes[used].sum())
    if n > limit + 1 or len(coded) % 4:  # (a kind per token, a token per byte at most)
        raise ValueError
    freq = np.zeros((len(used), 3), np.int64)
    freq[:, :2] = np.frombuffer(body, "<u4", 2 * len(used), at).reshape(-1, 2)
    freq[:, 2] = sizes[used] - freq[:, 0] - freq[:, 1]
    if (freq[:, 2] < 0).any():
        raise ValueError
    dec = Decoder(coded, "ans")
    try:
        kinds = [dec.decode(Categorical(row), int(count)) for row, count in zip(freq, sizes[used])]
        dec.finish()
    except CorruptStreamError:
        raise ValueError from None
    if any(not np.array_equal(np.bincount(part, minlength=3), row) for part, row in zip(kinds, freq)):
        raise ValueError
    kinds = np.concatenate(kinds) if kinds else np.zeros(0, np.int32)
    return kinds.astype(np.uint8).tobytes(), at + 8 * len(used)


# gzip -----------------------------------------------------------------------------------
OPEN_MAX = 64 << 20  # bytes a gzip, bzip2 or ZIP file may open to for its content to be coded


MEMBERS_MAX = 1 << 16  # gzip members a file may have for its content to be coded (BGZF's are 64 KiB)


def gzip_item(data: bytes) -> Bytes | None:
    """A gzip file (RFC 1952) as its content, with side data ``gzpz`` that remakes the file.
    One member: version ``1``, the header's length (``u32``) and bytes (name, time, comment and
    extra fields verbatim), then a :func:`deflate_recipe` of its deflate stream (the CRC-32 and
    size after it are computed).  Several (``cat a.gz b.gz``; BGZF, as bgzip and htslib write
    genomics files, a member per 64 KiB): version ``2``, the member table's length (``u32``)
    and the table as one .xz stream (the count, ``u32``; per member its header's, content's
    and recipe's lengths, ``u32``, ``u64``, ``u32``; the headers), then the members' recipes
    one after another, each a deflate recipe or, in 4 bytes, the zlib settings that make the
    member (level, memLevel, strategy, window bits: ``_raw_settings``); the content is the
    members' one after another.  None for anything else (bytes after the last member,
    content over OPEN_MAX, more than MEMBERS_MAX members, a stream this cannot remake)."""
    members, pos, total = [], 0, 0
    while pos < len(data):
        start = _gzip_header(data, pos)
        inflated = None if start is None or len(members) == MEMBERS_MAX \
            else _unpack(zlib.decompressobj(-15), zlib.error, data, start, OPEN_MAX - total)
        if inflated is None or data[inflated[1]:inflated[1] + 8] != _gzip_trailer(inflated[0]):
            return None
        content, end = inflated
        total += len(content)
        members.append((data[pos:start], content, data[start:end]))
        pos = end + 8
    if len(members) == 1:
        head, content, stream = members[0]
        recipe = deflate_recipe(stream, content)
        return None if recipe is None else Bytes(
            content, extra={"gzpz": bytes([VERSION]) + struct.pack("<I", len(head)) + head + recipe})
    recipes, last = [], None  # (zlib's settings where they remake a member: BGZF's members are zlib's)
    for _, content, stream in members:
        settings = _raw_settings(content, stream, last)
        last = settings or last
        recipes.append(bytes(settings) if settings else deflate_recipe(stream, content))
    if not members or None in recipes:
        return None
    content = b"".join(c for _, c, _ in members)
    table = struct.pack("<I", len(members)) + b"".join(
        struct.pack("<IQI", len(head), len(c), len(r)) for (head, c, _), r in zip(members, recipes))
    table = lzma.compress(table + b"".join(head for head, _, _ in members), format=lzma.FORMAT_XZ, preset=9)
    return Bytes(content, extra={"gzpz": bytes([2]) + struct.pack("<I", len(table)) + table + b"".join(recipes)})


def _unpack(unpack, errors, data: bytes, start: int, limit: int, chunk: int = 1 << 20) -> tuple[bytes, int] | None:
    """The content of the stream at ``start`` through decompressor ``unpack`` (zlib's or
    bzip2's: its ``errors`` mean a damaged stream) and where the stream ends, or None (damaged,
    cut short, more than ``limit`` bytes); fed a ``chunk`` at a time, so that what follows the
    stream is not copied (a file of many members)."""
    parts, size, at = [], 0, start
    try:
        while not unpack.eof:
            if at >= len(data):
                return None
            piece = data[at:at + chunk]
            parts.append(unpack.decompress(piece, limit - size + 1))
            size += len(parts[-1])
            if size > limit:
                return None
            at += len(piece)
    except errors:
        return None
    return b"".join(parts), at - len(unpack.unused_data)


RAW_LEVELS = (6, 9, 1, 2, 3, 4, 5, 7, 8)  # zlib levels tried on a gzip member, the default first
SETTINGS_BYTES = 4  # a member's recipe this long is zlib's settings (a deflate recipe has 13 or more)


def _raw_settings(content: bytes, stream: bytes, first: tuple[int, ...] | None) -> tuple[int, ...] | None:
    """(level, memLevel, strategy, window bits) under which zlib makes raw deflate ``stream``
    from ``content`` (``first`` tried first; then each level at memLevel 8, the default
    strategy and window, as gzip writers call zlib); None where none does."""
    tried = [first] if first is not None else []
    for settings in tried + [(level, 8, zlib.Z_DEFAULT_STRATEGY, 15) for level in RAW_LEVELS]:
        if _makes(_raw_zlib(settings), content, stream):
            return settings
    return None


def _raw_zlib(settings):
    """A zlib compressor of raw deflate at ``settings`` (level, memLevel, strategy, window bits)."""
    return zlib.compressobj(settings[0], zlib.DEFLATED, -settings[3], settings[1], settings[2])


def _gzip_header(data: bytes, pos: int) -> int | None:
    """Where the deflate stream of the gzip member at ``pos`` starts (None: not a member
    this reads: another method, reserved flags, a header cut short)."""
    if len(data) < pos + 18 or data[pos:pos + 3] != b"\x1f\x8b\x08" or data[pos + 3] & 0xE0:
        return None
    flags, at = data[pos + 3], pos + 10
    try:
        if flags & 4:  # FEXTRA
            at += 2 + struct.unpack_from("<H", data, at)[0]
        for flag in (8, 16):  # FNAME, FCOMMENT: zero-terminated
            if flags & flag:
                at = data.index(b"\0", at) + 1
        at += 2 if flags & 2 else 0  # FHCRC
    except (struct.error, ValueError):
        return None
    return at if at <= len(data) else None


def gzip_rebuild(item: Bytes) -> bytes:
    """The gzip file that ``item``'s side data ``gzpz`` describes."""
    side = item.extra["gzpz"]
    if side[:1] == bytes([VERSION]):
        size = struct.unpack_from("<I", side, 1)[0] if len(side) >= 5 else -1
        if not 10 <= size <= len(side) - 5:
            raise CorruptStreamError("gzip recipe (gzpz) is damaged")
        stream = deflate_rebuild(item.data, side[5 + size:])
        return side[5:5 + size] + stream + _gzip_trailer(item.data)
    if side[:1] != b"\2" or len(side) < 5:
        raise CorruptStreamError("gzip recipe (gzpz) is damaged or of an unknown version")
    members, recipes = _gzip_members(side)
    out, at, used = [], 0, 0
    for head, size, length in members:
        content, recipe = item.data[at:at + size], recipes[used:used + length]
        if length == SETTINGS_BYTES:  # zlib's settings
            if not (recipe[0] <= 9 and 1 <= recipe[1] <= 9 and recipe[2] <= zlib.Z_FIXED and 9 <= recipe[3] <= 15):
                raise CorruptStreamError("gzip recipe (gzpz) is damaged")
            z = _raw_zlib(recipe)
            stream = z.compress(content) + z.flush()
        else:
            stream = deflate_rebuild(content, recipe)
        out += [head, stream, _gzip_trailer(content)]
        at, used = at + size, used + length
    if at != len(item.data) or used != len(recipes):
        raise CorruptStreamError("gzip recipe (gzpz) does not fit the content")
    return b"".join(out)


def _gzip_members(side: bytes) -> tuple[list[tuple[bytes, int, int]], bytes]:
    """A version-2 ``gzpz``'s members (header, content length, recipe length) and recipes."""
    size = struct.unpack_from("<I", side, 1)[0]
    unpack = lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
    try:  # (16 bytes a member and its header: the file they came from was at most OPEN_MAX)
        table = unpack.decompress(side[5:5 + size], max_length=4 + 16 * MEMBERS_MAX + OPEN_MAX)
        count = struct.unpack_from("<I", table)[0]
        if not unpack.eof or not 2 <= count <= MEMBERS_MAX:
            raise ValueError
        rows = np.frombuffer(table, np.dtype([("head", "<u4"), ("size", "<u8"), ("recipe", "<u4")]), count, 4)
        heads = table[4 + 16 * count:]
        if (len(heads) != int(rows["head"].sum()) or (rows["head"] < 10).any()
                or int(rows["recipe"].sum()) != len(side) - 5 - size):  # (a recipe cut short: IndexError, until #23)
            raise ValueError
    except (lzma.LZMAError, struct.error, ValueError):
        raise CorruptStreamError("gzip recipe (gzpz) is damaged") from None
    starts = np.concatenate([[0], np.cumsum(rows["head"].astype(np.int64))])
    members = [(heads[a:b], int(n), int(r))
               for a, b, n, r in zip(starts[:-1], starts[1:], rows["size"], rows["recipe"])]
    return members, side[5 + size:]


def bz2_item(data: bytes) -> Bytes | None:
    """A bzip2 file as bzip2(1) and libbzip2 write it (one stream), or as pbzip2 does (a
    stream per 900 kB or so, each libbzip2's), as its content: libbzip2 is deterministic, so
    side data ``bz2z`` is version ``1``, the block size digit and the file's CRC-32 (``u32``: a
    decoder whose libbzip2 writes otherwise refuses); several streams, version ``2``, then the
    stream count and each stream's content length (``u32`` each).  None for anything else
    (lbzip2's output, streams of different block sizes, content over OPEN_MAX, more than
    MEMBERS_MAX streams)."""
    import bz2

    if len(data) < 14 or data[:3] != b"BZh" or not 0x31 <= data[3] <= 0x39:
        return None
    parts, pos, total = [], 0, 0
    while pos < len(data):
        unpacked = None if len(parts) == MEMBERS_MAX or data[pos:pos + 4] != data[:4] \
            else _unpack(bz2.BZ2Decompressor(), (OSError, ValueError), data, pos, OPEN_MAX - total)
        if unpacked is None:
            return None
        content, end = unpacked
        if bz2.compress(content, data[3] - 0x30) != data[pos:end]:
            return None
        parts.append(content)
        total, pos = total + len(content), end
    head = bytes([VERSION if len(parts) == 1 else 2, data[3] - 0x30]) + struct.pack("<I", zlib.crc32(data))
    if len(parts) > 1:
        head += struct.pack(f"<{len(parts) + 1}I", len(parts), *map(len, parts))
    return Bytes(b"".join(parts), extra={"bz2z": head})


def bz2_rebuild(item: Bytes) -> bytes:
    """The bzip2 file that ``item``'s side data ``bz2z`` describes."""
    import bz2

    side = item.extra["bz2z"]
    sizes = [len(item.data)]
    if side[:1] == b"\2":  # several streams: their contents' lengths
        count = struct.unpack_from("<I", side, 6)[0] if len(side) >= 10 else 0
        sizes = list(struct.unpack_from(f"<{count}I", side, 10)) \
            if 2 <= count <= MEMBERS_MAX and len(side) == 10 + 4 * count else []
        side = side[:6] if sum(sizes) == len(item.data) and sizes else b""  # (b"": refused below)
    if len(side) != 6 or side[0] not in (VERSION, 2) or not 1 <= side[1] <= 9:
        raise CorruptStreamError("bzip2 recipe (bz2z) is damaged or of an unknown version")
    starts = np.cumsum([0] + sizes)
    out = b"".join(bz2.compress(item.data[a:b], side[1]) for a, b in zip(starts[:-1], starts[1:]))
    if zlib.crc32(out) != struct.unpack_from("<I", side, 2)[0]:
        raise UnsupportedInputError("this machine's libbzip2 does not remake the bzip2 file (its content: "
                                    "codec decode --lines A:B)")
    return out


def zip_item(data: bytes) -> Bytes | None:
    """A ZIP file (docx, xlsx, jar, epub...) expanded: each deflated member's data replaced by
    what it inflates to, so that a bytes codec sees the documents themselves, with side data
    ``zipz`` that remakes the file: version ``1``, the count (``u32``), per expanded member its
    offset in the expanded bytes and length (``u64`` each) and its recipe's length (``u32``),
    then the :func:`deflate_recipe` of each.  Members that are stored, encrypted, under 64
    bytes, or whose stream this cannot remake stay as they are; None when no member is
    expanded, the members overlap, or the expanded bytes would pass OPEN_MAX."""
    import io
    import zipfile

    try:
        members = sorted(zipfile.ZipFile(io.BytesIO(data)).infolist(), key=lambda m: m.header_offset)
    except Exception:  # noqa: BLE001 - whatever zipfile makes of a damaged directory: not a ZIP we expand
        return None
    pieces, table, recipes, at, size, written = [], [], [], 0, len(data), 0
    for member in members:
        start = member.header_offset + 30
        if member.compress_type != zipfile.ZIP_DEFLATED or member.flag_bits & 1 or member.compress_size < 64 \
                or data[member.header_offset:start - 26] != b"PK\x03\x04" or start > len(data):
            continue
        start += sum(struct.unpack_from("<HH", data, start - 4))  # the name and extra field
        end = start + member.compress_size
        if start < at or end > len(data) or size + member.file_size > OPEN_MAX:
            return None
        inflate = zlib.decompressobj(-15)
        try:
            content = inflate.decompress(data[start:end], member.file_size + 1)
        except zlib.error:
            continue
        remade = None
        if inflate.eof and not inflate.unused_data and len(content) == member.file_size \
                and zlib.crc32(content) == member.CRC:
            remade = deflate_recipe(data[start:end], content)
        if remade is None:
            continue
        pieces += [data[at:start], content]
        size += len(content) - (end - start)
        written += start - at  # (the expanded bytes before this member's content)
        table.append((written, len(content), len(remade)))
        written += len(content)
        recipes.append(remade)
        at = end
    if not table:
        return None
    head = bytes([VERSION]) + struct.pack("<I", len(table)) + b"".join(struct.pack("<QQI", *t) for t in table)
    return Bytes(b"".join(pieces) + data[at:], extra={"zipz": head + b"".join(recipes)})


def zip_rebuild(item: Bytes) -> bytes:
    """The ZIP file that ``item``'s side data ``zipz`` describes."""
    side, data = item.extra["zipz"], item.data
    count = struct.unpack_from("<I", side, 1)[0] if len(side) >= 5 and side[0] == VERSION else -1
    if not 0 < count <= (len(side) - 5) // 20:
        raise CorruptStreamError("ZIP recipe (zipz) is damaged or of an unknown version")
    out, at, pos = [], 0, 5 + 20 * count
    for i in range(count):
        start, length, size = struct.unpack_from("<QQI", side, 5 + 20 * i)
        if start < at or start + length > len(data) or pos + size > len(side):
            raise CorruptStreamError("ZIP recipe (zipz) does not fit the data")
        out += [data[at:start], deflate_rebuild(data[start:start + length], side[pos:pos + size])]
        at, pos = start + length, pos + size
    if pos != len(side):
        raise CorruptStreamError("ZIP recipe (zipz) does not fit the data")
    return b"".join(out) + data[at:]


def _gzip_trailer(content: bytes) -> bytes:
    return struct.pack("<II", zlib.crc32(content), len(content) & 0xFFFFFFFF)


# zlib -----------------------------------------------------------------------------------
def _settings(raw: bytes, stream: bytes) -> tuple[int, int, int, int] | None:
    """(level, memLevel, strategy, window bits) under which zlib compresses ``raw`` to
    ``stream`` exactly, tried in order of use; each candidate is dropped at its first byte
    that differs."""
    if len(stream) < 2:
        return None
    wbits = (stream[0] >> 4) + 8
    for level, strategy, mem in _candidates(stream[1] >> 6):
        for bits in ((wbits, 9) if wbits == 8 else (wbits,)):  # zlib writes a window of 2^8 as 2^9
            try:
                z = zlib.compressobj(level, zlib.DEFLATED, bits, mem, strategy)
            except ValueError:
                continue
            if _makes(z, raw, stream):
                return level, mem, strategy, bits
    return None


def _makes(z, raw: bytes, stream: bytes) -> bool:
    """Whether compressor ``z`` turns ``raw`` into ``stream`` (fed _FEED bytes at a time, it
    is dropped at its first byte that differs)."""
    made = bytearray()
    for start in range(0, len(raw), _FEED):
        made += z.compress(raw[start:start + _FEED])
        if made != stream[:len(made)]:
            return False
    return made + z.flush() == stream


def _candidates(flevel: int):
    """(level, strategy, memLevel) whose zlib header carries ``flevel``, the usual first:
    libpng's and Pillow's level 6 with Z_FILTERED or the default strategy, memLevel 8 or 9."""
    mems = (8, 9, 7, 6, 5, 4, 3, 2, 1)
    if flevel == 0:  # levels 0-1, and every strategy that writes 0 (Huffman only and RLE ignore the level)
        tried = [(1, s) for s in (zlib.Z_DEFAULT_STRATEGY, zlib.Z_FILTERED)] + [(0, 0), (1, zlib.Z_HUFFMAN_ONLY),
                                                                                  (1, zlib.Z_RLE)]
        tried += [(level, zlib.Z_FIXED) for level in range(1, 10)]
    else:
        levels = {1: (2, 3, 4, 5), 2: (6,), 3: (9, 7, 8)}[flevel]
        tried = [(level, s) for level in levels for s in (zlib.Z_FILTERED, zlib.Z_DEFAULT_STRATEGY)]
    for mem in mems:
        for level, strategy in tried:
            yield level, strategy, mem


def png_chunk(kind: bytes, body: bytes) -> bytes:
    """A PNG chunk: length, type, body, CRC-32 of type and body."""
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
