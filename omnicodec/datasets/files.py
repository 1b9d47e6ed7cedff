"""Files <-> codec items: format identification, exact readers and the writers that restore them.

Identification looks at magic bytes first and the extension second.  What a format keeps:

* ``ITEM_FORMATS`` (PNG, PGM/PPM, BMP, TIFF, WAV, AIFF, y4m; gzip and ZIP, opened) are decoded to items by default:
  their essence is pixels, samples or frames that a lossless codec can shrink, and everything
  else in the file rides along as side data (``Item.extra``): PNG ancillary chunks verbatim
  (``pngc``: ICC, EXIF, XMP, text, gamma...), the file around its raw samples (``wave``,
  ``aiff``, ``pnmh``, ``bmph``, ``tifh``: see :func:`wrap`), the y4m stream and frame headers
  (``y4mh``).  WAV, AIFF, PNM, BMP, TIFF and y4m are restored byte for byte (``BYTE_EXACT``),
  and so is a PNG (its IDAT's recipe, ``pngz``: see recipes.py; the default encode keeps one
  without a recipe as its bytes).  A file of these formats that its reader takes through
  Pillow or libsndfile (a palette BMP, a PackBits TIFF) has no such side data and stays bytes.
  A gzip or bzip2 file is read as its content, a ZIP with its deflated members expanded
  (``gzpz``, ``bz2z``, ``zipz``: recipes.py), and restored byte for byte.
* Every other format (JPEG, GIF, WebP, AVIF, MP3, Ogg, FLAC, M4A, MP4, MKV...) is already
  compressed or holds more than one item can (frames, tracks, tags): by default it is kept as
  its own bytes, so it decodes to the same file.  Asked for a codec by name, it is read as an
  item, and a reader that would drop something (a frame, a track, bit depth, a palette) refuses
  with one line naming it, unless the caller allows loss.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path
from typing import BinaryIO, Iterator

import numpy as np

from .. import limits
from ..errors import CorruptStreamError, UnsupportedInputError
from ..items import PIX_FMTS, Audio, Bytes, Image, Item, Video, chroma_shape

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff", ".ppm", ".pgm",
              ".pnm", ".tga", ".avif", ".qoi", ".jxl", ".heic"}
AUDIO_EXTS = {".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aiff", ".aif", ".au", ".caf",
              ".m4a", ".aac"}
VIDEO_EXTS = {".y4m", ".mp4", ".mkv", ".webm", ".mov", ".avi", ".m4v"}
ITEM_FORMATS = {"png", "pnm", "bmp", "tiff", "wav", "aiff", "y4m", "gzip", "bzip2", "zip"}  # decoded to items
BYTE_EXACT = {"pnm", "bmp", "tiff", "wav", "aiff", "y4m", "gzip", "bzip2", "zip"}  # ... and restored byte for byte
# the side data that holds the rest of a BYTE_EXACT file: a reader that did not write it (a
# palette BMP, an LZW TIFF through Pillow) read an item that does not restore the file
WRAPPERS = {"pnm": {"pnmh"}, "bmp": {"bmph"}, "tiff": {"tifh", "tifz"}, "wav": {"wave"}, "aiff": {"aiff"},
            "y4m": {"y4mh"}, "gzip": {"gzpz"}, "bzip2": {"bz2z"}, "zip": {"zipz"}}
EXPANDED = {"zip"}  # formats read as the file expanded: the file's own bytes through a bytes codec may be smaller
# formats a decoded item can be written back to without loss, per modality
WRITABLE = {"image": {".png", ".webp", ".tif", ".tiff", ".bmp", ".ppm", ".pgm", ".pnm", ".npy"},
            "audio": {".wav", ".flac", ".aiff", ".aif", ".npy"}, "video": {".y4m", ".mkv"}}
DEFAULT_EXT = {"image": ".png", "audio": ".wav", "video": ".y4m"}
# image modes no PNG holds, and the file they decode to by default (.npy: numpy's own format)
MODE_EXT = {"F": ".tif", "CMYK": ".tif", "LA;F": ".npy", "RGB;F": ".npy", "RGBA;F": ".npy"}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# side data (item.extra tags) that render() writes into a file of each extension
_PILLOW_META = {"iccp", "exif", "xmp_"}
# side data that remakes the original file's compressed pixel data from its exact pixels
# (recipes.py): a lossy codec leaves it out
RECIPES = {"pngz", "tifz"}
RENDER_KEEPS = {".png": {"pngc", "pngz"} | _PILLOW_META, ".webp": _PILLOW_META,
                ".tif": {"iccp", "exif", "tifh", "tifz"}, ".tiff": {"iccp", "exif", "tifh", "tifz"}, ".bmp": {"bmph"},
                ".ppm": {"pnmh"}, ".pgm": {"pnmh"}, ".pnm": {"pnmh"},
                ".wav": {"wave"}, ".aiff": {"aiff"}, ".aif": {"aiff"}, ".y4m": {"y4mh"}}


def informative(tag: str, value: bytes) -> bool:
    """Whether side data holds anything a file of another format would lose: a WAV or AIFF
    wrapper made only of the chunks every such file has (RIFF/FORM, fmt/COMM, the data
    header, a FLAC-describable layout) holds nothing beyond rate, channels and sample format,
    a PNG's recipe nothing but how its pixels were deflated; every other side data does."""
    if tag == "pngz":
        return False
    if tag not in ("wave", "aiff") or len(value) < 8:
        return True
    offset = struct.unpack_from("<Q", value)[0]
    head, tail = value[8:8 + offset], value[8 + offset:]
    little = tag == "wave"
    plain = {b"fmt ", b"data"} if little else {b"COMM", b"SSND", b"FVER"}
    pos = 12
    while pos + 8 <= len(head):
        kind = head[pos:pos + 4]
        size = struct.unpack_from("<I" if little else ">I", head, pos + 4)[0]
        if kind not in plain:
            return True
        if kind == b"fmt " and size >= 40 and struct.unpack_from("<H", head, pos + 10)[0] > 2:
            return True  # a channel mask beyond stereo
        if kind in (b"data", b"SSND"):
            break
        pos += 8 + size + (size & 1)
    return len(tail) > 1  # chunks after the samples (a pad byte aside)


# ------------------------------------------------------------------------ identification
def identify(head: bytes, ext: str) -> tuple[str, str]:
    """(modality, format) of a file from its first bytes and its extension; format is a short
    name ("png", "jpeg", "wav", "mp4"...) or "" when unknown."""
    if head.startswith(b"YUV4MPEG2"):
        return "video", "y4m"
    if head.startswith(b"\x1f\x8b\x08"):  # gzip: its content is coded (recipes.gzip_item)
        return "bytes", "gzip"
    if head.startswith(b"PK\x03\x04"):  # ZIP (docx, xlsx, jar...): expanded (recipes.zip_item)
        return "bytes", "zip"
    if head[:3] == b"BZh" and head[4:10] in (b"1AY&SY", b"\x17rE8P\x90"):  # bzip2 (recipes.bz2_item)
        return "bytes", "bzip2"
    magic = [(PNG_MAGIC, "image", "png"), (b"\xff\xd8\xff", "image", "jpeg"), (b"GIF8", "image", "gif"),
             (b"BM", "image", "bmp"), (b"II*\0", "image", "tiff"), (b"MM\0*", "image", "tiff"),
             (b"qoif", "image", "qoi"), (b"\xff\x0a", "image", "jxl"), (b"\0\0\0\x0cJXL ", "image", "jxl"),
             (b"fLaC", "audio", "flac"), (b"OggS", "audio", "ogg"), (b"ID3", "audio", "mp3"),
             (b"\x1a\x45\xdf\xa3", "video", "mkv")]
    for prefix, modality, fmt in magic:
        if head.startswith(prefix):
            return modality, fmt
    if head[:2] in (b"P5", b"P6") and head[2:3].isspace():
        return "image", "pnm"
    riff = {b"WEBP": ("image", "webp"), b"AVI ": ("video", "avi"), b"WAVE": ("audio", "wav")}
    if head[:4] == b"RIFF" and head[8:12] in riff:
        return riff[head[8:12]]
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "audio", "aiff"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"avif", b"avis", b"heic", b"heix", b"mif1", b"msf1"):
            return "image", "avif"
        return ("audio", "m4a") if brand in (b"M4A ", b"M4B ", b"M4P ") else ("video", "mp4")
    if len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and ext in (".mp3", ".mp2"):
        return "audio", "mp3"
    for modality, exts in (("image", IMAGE_EXTS), ("audio", AUDIO_EXTS), ("video", VIDEO_EXTS)):
        if ext in exts:
            return modality, ext.lstrip(".")
    return "bytes", ""


# ------------------------------------------------------------------------------ readers
def read_item(path: str | os.PathLike, modality: str | None = None, allow_loss: bool = False,
              data: bytes | None = None, drop: bool | None = None, exact: bool = False) -> Item:
    """Read a file as an item of its identified (or the given) modality.  Without
    ``allow_loss``, a file that holds more than the item can keep is refused
    (:class:`UnsupportedInputError` naming what would be lost); whole frames after the first
    and other streams (an animation, a video's audio) only with ``drop`` (default:
    ``allow_loss``): a lossy codec's consent to lose precision is not consent to lose them.
    ``exact`` (for a lossless encode) adds the recipes that remake a file's compressed data
    byte for byte, where one is found (recipes.py: a PNG's IDAT, a Deflate or LZW TIFF's
    strips), and opens gzip and ZIP files."""
    path = Path(path)
    data = path.read_bytes() if data is None else data
    found, fmt = identify(data[:64], path.suffix.lower())
    modality = modality or found
    try:
        if modality == "bytes":
            from .recipes import bz2_item, gzip_item, zip_item

            opened = {"gzip": gzip_item, "bzip2": bz2_item, "zip": zip_item}.get(fmt) if exact else None
            return (opened(data) if opened else None) or Bytes(data)
        drop = allow_loss if drop is None else drop
        if modality == "image":
            readers = {"png": lambda: read_png(data, allow_loss, drop, exact), "pnm": lambda: read_pnm(data),
                       "bmp": lambda: read_bmp(data, allow_loss, drop),
                       "tiff": lambda: read_tiff(data, allow_loss, drop, exact)}
            return readers.get(fmt, lambda: _read_pillow(data, allow_loss, drop))()
        if modality == "audio":
            readers = {"wav": lambda: read_wav(data), "aiff": lambda: read_aiff(data, allow_loss, drop)}
            return readers.get(fmt, lambda: _read_soundfile(data, allow_loss, drop))()
        if modality == "video":
            from . import y4m

            return y4m.parse(data) if fmt == "y4m" else _read_video_av(data, allow_loss, drop)
    except (UnsupportedInputError, CorruptStreamError) as exc:
        raise UnsupportedInputError(f"{path.name}: {exc}") from None
    raise UnsupportedInputError(f"unknown modality {modality!r}")


def _loss(what: str, allow_loss: bool) -> None:
    if not allow_loss:
        raise UnsupportedInputError(f"reading it as an item would lose {what} "
                                    "(keep the default, or pass --allow-loss / a lossy quality)")


def _drop(what: str, drop: bool) -> None:
    if not drop:
        raise UnsupportedInputError(f"reading it as an item would leave out {what}, "
                                    "which no quality setting brings back (pass --allow-loss to drop them)")


# PNG ------------------------------------------------------------------------------------
def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, raw chunk bytes incl. length and CRC) for every chunk of a PNG file."""
    if not data.startswith(PNG_MAGIC):
        raise UnsupportedInputError("not a PNG file")
    pos, out = len(PNG_MAGIC), []
    while pos < len(data):
        if pos + 12 > len(data):
            raise UnsupportedInputError("PNG chunk is truncated")
        (length,) = struct.unpack_from(">I", data, pos)
        kind = data[pos + 4: pos + 8]
        end = pos + 12 + length
        if end > len(data) or zlib.crc32(data[pos + 4: end - 4]) != struct.unpack_from(">I", data, end - 4)[0]:
            raise UnsupportedInputError(f"PNG chunk {kind!r} is truncated or has a bad CRC")
        out.append((kind, data[pos:end]))
        pos = end
        if kind == b"IEND":
            break
    if pos != len(data):
        raise UnsupportedInputError(f"{len(data) - pos} bytes follow the PNG's IEND chunk")
    if not out or out[0][0] != b"IHDR" or out[-1][0] != b"IEND":
        raise UnsupportedInputError("PNG lacks IHDR or IEND")
    return out


_IDAT_MARK = struct.pack(">I", 0) + b"IDAT" + struct.pack(">I", zlib.crc32(b"IDAT"))


def read_png(data: bytes, allow_loss: bool = False, drop: bool = False, exact: bool = False) -> Image:
    """Pixels at their bit depth (8/16-bit grey, grey+alpha, RGB, RGBA, 8-bit palette indices)
    plus every chunk but IHDR/IDAT/IEND verbatim, in order (side data ``pngc``, an empty IDAT
    marking the pixels; PLTE and tRNS included); with ``exact``, the IDAT's recipe (``pngz``,
    see recipes.py) where this machine's zlib remakes it."""
    chunks = png_chunks(data)
    width, height, depth, ctype = struct.unpack_from(">IIBB", chunks[0][1], 8)
    limits.check_pixels(width, height)
    kinds = [k for k, _ in chunks]
    if b"acTL" in kinds:
        _drop("the animation (APNG) frames after the first", drop)
    if depth < 8:
        _loss(f"the {depth}-bit sample depth (it would become 8-bit)", allow_loss)
    if depth < 8 or b"acTL" in kinds or (ctype == 3 and allow_loss):
        return _read_pillow(data, True, True)  # (what it loses was checked above)
    if ctype == 3:  # indices; PLTE and tRNS ride along with the other chunks
        from PIL import Image as PILImage

        with PILImage.open(io.BytesIO(data)) as im:
            im.load()
            image = Image(np.ascontiguousarray(np.asarray(im)), "P")
    elif depth == 16 and ctype != 0:
        import imagecodecs

        pixels = imagecodecs.png_decode(data)
        mode = {4: "LA;16", 2: "RGB;16", 6: "RGBA;16"}[ctype]
        image = Image(pixels, mode)
    else:
        image = _read_pillow(data, False, False)
        image.extra.clear()  # the chunks below hold ICC, EXIF and XMP verbatim
    side, seen_idat = [], False
    for kind, raw in chunks[1:-1]:
        if kind == b"IDAT":
            if not seen_idat:
                side.append(_IDAT_MARK)
            seen_idat = True
        else:
            side.append(raw)
    image.extra["pngc"] = b"".join(side)
    if exact:
        from .recipes import png_recipe

        made = png_recipe(data, image)
        if made is not None:
            image.extra["pngz"] = made
    return image


def _read_pillow(data: bytes, allow_loss: bool, drop: bool) -> Image:
    """Any Pillow-readable image; metadata (ICC, EXIF, XMP) as side data."""
    import warnings

    from PIL import Image as PILImage

    from .media import from_pil

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PILImage.DecompressionBombWarning)  # limits decides
            with PILImage.open(io.BytesIO(data)) as im:
                limits.check_pixels(*im.size)
                frames = getattr(im, "n_frames", 1)
                if frames > 1:
                    _drop(f"{frames - 1} of its {frames} frames", drop)
                bits = im.tag_v2.get(258) if hasattr(im, "tag_v2") else None
                if bits and max(bits if isinstance(bits, tuple) else (bits,)) > 8 and im.mode not in ("I;16", "F"):
                    _loss(f"its {max(bits)}-bit samples (Pillow reads them as {im.mode})", allow_loss)
                notes = _image_notes(im)
                if notes:
                    _loss(f"its {', '.join(notes)}", allow_loss)
                im.load()
                image = from_pil(im, allow_loss)
                for key, tag in (("icc_profile", "iccp"), ("exif", "exif"), ("xmp", "xmp_")):
                    value = im.info.get(key)
                    if isinstance(value, str):
                        value = value.encode()
                    if value:
                        image.extra[tag] = bytes(value)
                return image
    except UnsupportedInputError:
        raise
    except (OSError, SyntaxError, ValueError, PILImage.DecompressionBombError) as exc:
        raise UnsupportedInputError(f"cannot read image: {exc}") from None


# metadata a user writes that the side data above (ICC, EXIF, XMP) does not carry: Pillow's
# info keys, and TIFF's own description, artist and copyright tags
_IMAGE_NOTES = {"comment": "comment", "photoshop": "Photoshop/IPTC block"}
_TIFF_NOTES = {270: "description", 315: "artist", 33432: "copyright"}


def _image_notes(im) -> list[str]:
    """What ``_read_pillow``'s item would not keep of ``im``'s metadata."""
    notes = [name for key, name in _IMAGE_NOTES.items() if im.info.get(key)]
    tags = im.tag_v2 if hasattr(im, "tag_v2") else {}
    return notes + [f"TIFF {name}" for tag, name in _TIFF_NOTES.items() if tags.get(tag)]


# raw formats: header + samples + trailer ----------------------------------------------
def wrap(data: bytes, start: int, end: int) -> bytes:
    """Side data for a file whose bytes [start, end) are its raw samples: u64 ``start``, then
    the file without them.  :func:`unwrap` puts the samples back."""
    return struct.pack("<Q", start) + data[:start] + data[end:]


def unwrap(wrapper: bytes, raw: bytes) -> bytes:
    offset = struct.unpack_from("<Q", wrapper)[0] if len(wrapper) >= 8 else -1
    if not 0 <= offset <= len(wrapper) - 8:
        raise CorruptStreamError("side data of a raw format is damaged (bad offset)")
    return wrapper[8:8 + offset] + raw + wrapper[8 + offset:]


def read_pnm(data: bytes) -> Image:
    """A binary PGM (P5) or PPM (P6) at 8 or 16 bits; header and anything after the raster
    are side data (``pnmh``), so the file is restored byte for byte."""
    pos, fields = 2, []
    while len(fields) < 3:
        while pos < len(data) and (data[pos:pos + 1].isspace() or data[pos:pos + 1] == b"#"):
            if data[pos:pos + 1] == b"#":
                pos = data.find(b"\n", pos)
                pos = len(data) if pos < 0 else pos
            pos += 1
        start = pos
        while pos < len(data) and data[pos:pos + 1].isdigit():
            pos += 1
        if start == pos or pos >= len(data) or not data[pos:pos + 1].isspace():
            raise UnsupportedInputError("PNM header is not valid")
        fields.append(int(data[start:pos]))
    width, height, maxval = fields
    if not 0 < maxval < 65536:
        raise UnsupportedInputError(f"PNM maxval {maxval} is not valid")
    limits.check_pixels(width, height)
    channels, dtype = (1 if data[1:2] == b"5" else 3), np.dtype(">u2" if maxval > 255 else "u1")
    start, end = pos + 1, pos + 1 + width * height * channels * dtype.itemsize
    if end > len(data):
        raise UnsupportedInputError("PNM raster is truncated")
    pixels = np.frombuffer(data, dtype, width * height * channels, start).astype(dtype.name)
    return Image(pixels.reshape(height, width, channels), None, extra={"pnmh": wrap(data, start, end)})


def read_bmp(data: bytes, allow_loss: bool = False, drop: bool = False) -> Image:
    """An uncompressed 24-bit (BGR) or 32-bit (BGRA/BGRX) BMP as RGB / RGBA; the headers and
    anything after the raster are side data (``bmph``), restored byte for byte.  Other BMPs
    (palettes, RLE, bit fields other than the plain order) go through Pillow."""
    try:
        offset, dib = struct.unpack_from("<I", data, 10)[0], struct.unpack_from("<I", data, 14)[0]
        width, height, planes, bits, compression = struct.unpack_from("<iiHHI", data, 18)
        masks = struct.unpack_from("<III", data, 54) if compression == 3 and dib >= 52 else None
    except struct.error:
        raise UnsupportedInputError("BMP header is truncated") from None
    plain = compression == 0 or (compression == 3 and bits == 32 and masks == (0xFF0000, 0xFF00, 0xFF))
    if bits not in (24, 32) or not plain or width <= 0 or height == 0 or dib < 40:
        return _read_pillow(data, allow_loss, drop)
    rows, channels = abs(height), bits // 8
    limits.check_pixels(width, rows)
    stride = (width * channels + 3) & ~3
    end = offset + stride * rows
    if end > len(data) or offset < 14 + dib:
        raise UnsupportedInputError("BMP raster is truncated")
    raster = np.frombuffer(data, np.uint8, stride * rows, offset).reshape(rows, stride)
    if raster[:, width * channels:].any():
        return _read_pillow(data, allow_loss, drop)  # non-zero row padding: not ours to drop
    pixels = raster[:, :width * channels].reshape(rows, width, channels)[:, :, [2, 1, 0, 3][:channels]]
    pixels = pixels[::-1] if height > 0 else pixels
    return Image(np.ascontiguousarray(pixels), None, extra={"bmph": wrap(data, offset, end)})


def bmp_raster(item: Image, bottom_up: bool) -> bytes:
    channels = item.pixels.shape[2]
    bgr = item.pixels[:, :, [2, 1, 0, 3][:channels]]
    rows = bgr[::-1] if bottom_up else bgr
    h, w = rows.shape[:2]
    stride = (w * channels + 3) & ~3
    out = np.zeros((h, stride), np.uint8)
    out[:, :w * channels] = rows.reshape(h, -1)
    return out.tobytes()


# TIFF -----------------------------------------------------------------------------------
_TIFF_TAGS = {256: "width", 257: "height", 258: "bits", 259: "compression", 262: "photometric", 273: "offsets",
              277: "samples", 278: "rows", 279: "counts", 284: "planar", 317: "predictor", 322: "tiles",
              339: "format"}


def read_tiff(data: bytes, allow_loss: bool = False, drop: bool = False, exact: bool = False) -> Image:
    """A one-image TIFF of 8/16-bit grey or RGB samples (alpha or other extra samples
    included), interleaved, in strips that follow one another, restored byte for byte:
    uncompressed, the pixels and the file around them (side data ``tifh``, as ``wave``); with
    ``exact``, Deflate (any deflater's) or LZW (libtiff's) where the strips are remade
    (``tifz``, see recipes.py).  Any other TIFF (JPEG, PackBits, tiled, planar, several pages, float, CMYK,
    palette) goes through Pillow."""
    layout = _tiff_layout(data)
    if layout is None or (layout["compression"] != 1 and not exact):
        return _read_pillow(data, allow_loss, drop)
    strips, dtype, shape = layout["strips"], layout["dtype"], layout["shape"]
    if layout["compression"] == 1:
        start = strips[0][0]
        end = start + dtype.itemsize * int(np.prod(shape))
        if strips[-1][0] + strips[-1][1] != end:
            return _read_pillow(data, allow_loss, drop)  # not the whole image: not ours to drop
        pixels = np.frombuffer(data, dtype, int(np.prod(shape)), start).reshape(shape)
        return Image(pixels.astype(dtype.name), None, extra={"tifh": wrap(data, start, end)})
    from .recipes import tiff_recipe

    made = tiff_recipe(data, strips, layout["rows"], shape, dtype, layout["predictor"], layout["compression"])
    if made is None:
        return _read_pillow(data, allow_loss, drop)
    return Image(made[0], None, extra={"tifz": made[1]})


def _tiff_layout(data: bytes) -> dict | None:
    """What :func:`read_tiff` reads of a TIFF it takes as pixels: compression, predictor,
    strips ((offset, size) each, one after another), rows per strip, sample dtype (in the
    file's byte order), shape (H, W, C); None for any other TIFF."""
    order = {b"II*\0": "<", b"MM\0*": ">"}.get(data[:4])
    if order is None:
        return None
    tags = {}
    try:
        (ifd,) = struct.unpack_from(order + "I", data, 4)
        (entries,) = struct.unpack_from(order + "H", data, ifd)
        for i in range(entries):
            tag, kind, count, value = struct.unpack_from(order + "HHI4s", data, ifd + 2 + 12 * i)
            if tag not in _TIFF_TAGS:
                continue
            if kind not in (3, 4):  # SHORT, LONG
                return None
            size = count * (2 if kind == 3 else 4)
            raw = value if size <= 4 else data[struct.unpack(order + "I", value)[0]:][:size]
            if len(raw) < size:
                return None
            tags[_TIFF_TAGS[tag]] = struct.unpack_from(f"{order}{count}{'H' if kind == 3 else 'I'}", raw)
        (following,) = struct.unpack_from(order + "I", data, ifd + 2 + 12 * entries)
    except struct.error:
        return None
    samples, compression = tags.get("samples", (1,))[0], tags.get("compression", (1,))
    bits, offsets, counts = tags.get("bits", (1,)), tags.get("offsets", ()), tags.get("counts", ())
    grey_or_rgb = {1: (1, 2), 2: (3, 4)}.get(tags.get("photometric", (-1,))[0], ())
    plain = (following == 0 and "tiles" not in tags and samples in grey_or_rgb and len(set(bits)) == 1
             and bits[0] in (8, 16) and len(bits) in (1, samples) and set(tags.get("format", (1,))) == {1}
             and tags.get("planar", (1,)) == (1,) and len(compression) == 1 and compression[0] in (1, 5, 8, 32946)
             and tags.get("predictor", (1,)) in ((1,), (2,)) and "width" in tags and "height" in tags
             and offsets and len(offsets) == len(counts))
    if not plain:
        return None
    shape = (tags["height"][0], tags["width"][0], samples)
    limits.check_pixels(shape[1], shape[0])
    ends = np.cumsum(np.array(counts, np.int64)) + offsets[0]
    if offsets[0] < 8 or ends[-1] > len(data) or list(offsets[1:]) != list(ends[:-1]):
        return None  # strips apart or out of order (the file stays bytes)
    return {"compression": compression[0], "predictor": tags.get("predictor", (1,))[0],
            "strips": list(zip(offsets, counts)), "rows": tags.get("rows", (shape[0],))[0],
            "dtype": np.dtype(order + ("u1" if bits[0] == 8 else "u2")), "shape": shape}


# WAV ------------------------------------------------------------------------------------
_WAV_SUBTYPES = {(1, 8): "PCM_U8", (1, 16): "PCM_16", (1, 24): "PCM_24", (1, 32): "PCM_32",
                 (3, 32): "FLOAT", (3, 64): "DOUBLE"}


def read_wav(data: bytes) -> Audio:
    """A RIFF/WAVE file's samples, and the file around them (side data ``wave``: u64 offset of
    the sample bytes, then the file without them) so that it is restored byte for byte."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise UnsupportedInputError("not a RIFF/WAVE file")
    pos, fmt, span = 12, None, None
    while pos + 8 <= len(data):
        kind, size = data[pos:pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        body = pos + 8
        if kind == b"fmt " and fmt is None and size >= 16 and body + size <= len(data):
            fmt = data[body: body + size]
        elif kind == b"data":
            if span is not None or fmt is None:
                raise UnsupportedInputError("WAV has a second data chunk or data before fmt")
            if body + size > len(data):
                raise UnsupportedInputError("WAV data chunk runs past the end of the file")
            span = (body, body + size)
        pos = body + size + (size & 1)
    if fmt is None or span is None:
        raise UnsupportedInputError("WAV lacks a fmt or data chunk")
    tag, channels, rate, _, align, bits = struct.unpack_from("<HHIIHH", fmt)
    if tag == 0xFFFE and len(fmt) >= 40:
        tag = struct.unpack_from("<H", fmt, 24)[0]  # the sub-format GUID starts with the tag
    subtype = _WAV_SUBTYPES.get((tag, bits))
    if subtype is None or channels == 0 or align != channels * bits // 8 or rate == 0:
        raise UnsupportedInputError(f"WAV format tag {tag} with {bits}-bit samples is not PCM/float")
    frames = (span[1] - span[0]) // align
    limits.check_samples(frames, channels)
    end = span[0] + frames * align  # a partial last frame stays in the wrapper
    raw = np.frombuffer(data, np.uint8, end - span[0], span[0])
    samples = pcm_to_samples(raw, subtype, channels)
    return Audio(samples, rate, subtype, extra={"wave": wrap(data, span[0], end)})


def read_aiff(data: bytes, allow_loss: bool = False, drop: bool = False) -> Audio:
    """An AIFF file (big-endian PCM, 8 to 32 bits) or AIFF-C (the same, or big-endian float32 /
    float64: Logic's and Pro Tools' float export); the file around its samples is side data
    (``aiff``), restored byte for byte.  Anything unusual goes through libsndfile."""
    aifc = data[8:12] == b"AIFC"
    if data[:4] != b"FORM" or not (aifc or data[8:12] == b"AIFF"):
        return _read_soundfile(data, allow_loss, drop)
    pos, comm, span = 12, None, None
    while pos + 8 <= len(data):
        kind, size = data[pos:pos + 4], struct.unpack_from(">I", data, pos + 4)[0]
        body = pos + 8
        if kind == b"COMM" and size >= (22 if aifc else 18) and body + size <= len(data):
            comm = data[body: body + min(size, 22)]  # AIFF-C's holds the compression type at 18
        elif kind == b"SSND" and size >= 8 and span is None and body + size <= len(data):
            offset = struct.unpack_from(">I", data, body)[0]
            span = (body + 8 + offset, body + size)
        pos = body + size + (size & 1)
    if comm is None or span is None:
        return _read_soundfile(data, allow_loss, drop)
    channels, frames, bits = struct.unpack_from(">HIH", comm)
    exponent, mantissa = struct.unpack_from(">HQ", comm, 8)
    shift = exponent - 16383 - 63  # an 80-bit extended float; rates are integers below 2**32
    rate = mantissa * 2.0 ** shift if -63 <= shift <= 0 else 0.5
    subtype = {8: "PCM_S8", 16: "PCM_16", 24: "PCM_24", 32: "PCM_32"}.get(bits)
    if aifc and comm[18:22] != b"NONE":
        subtype = {b"fl32": "FLOAT", b"FL32": "FLOAT", b"fl64": "DOUBLE", b"FL64": "DOUBLE"}.get(comm[18:22])
    width = _AIFF_WIDTHS.get(subtype, 0)
    if subtype is None or channels == 0 or rate != int(rate) or rate <= 0:
        return _read_soundfile(data, allow_loss, drop)
    limits.check_samples(frames, channels)
    end = span[0] + frames * channels * width
    if end > span[1]:
        raise UnsupportedInputError("AIFF sound data is shorter than COMM says")
    big = np.frombuffer(data, np.uint8, end - span[0], span[0]).reshape(-1, width)[:, ::-1]
    samples = pcm_to_samples(np.ascontiguousarray(big).ravel(), "PCM_S8" if bits == 8 else subtype, channels)
    return Audio(samples, int(rate), subtype, extra={"aiff": wrap(data, span[0], end)})


_AIFF_WIDTHS = {"PCM_S8": 1, "PCM_16": 2, "PCM_24": 3, "PCM_32": 4, "FLOAT": 4, "DOUBLE": 8}


def pcm_to_samples(raw: np.ndarray, subtype: str, channels: int) -> np.ndarray:
    """Little-endian interleaved PCM/float bytes -> (frames, channels) in soundfile's dtypes."""
    if subtype == "PCM_U8":
        return ((raw.astype(np.int16) - 128) << 8).reshape(-1, channels)
    if subtype == "PCM_S8":
        return (raw.view(np.int8).astype(np.int16) << 8).reshape(-1, channels)
    if subtype == "PCM_24":
        b = raw.reshape(-1, 3).astype(np.int32)
        return ((b[:, 0] << 8) | (b[:, 1] << 16) | (b[:, 2] << 24)).reshape(-1, channels)
    dtype = {"PCM_16": "<i2", "PCM_32": "<i4", "FLOAT": "<f4", "DOUBLE": "<f8"}[subtype]
    return raw.view(dtype).astype(dtype[1:]).reshape(-1, channels)


def samples_to_pcm(samples: np.ndarray, subtype: str) -> bytes:
    """The inverse of :func:`pcm_to_samples`."""
    if subtype == "PCM_U8":
        return ((samples.astype(np.int32) >> 8) + 128).astype(np.uint8).tobytes()
    if subtype == "PCM_S8":
        return (samples.astype(np.int32) >> 8).astype(np.int8).tobytes()
    if subtype == "PCM_24":
        v = samples.astype(np.int32).ravel() >> 8
        return np.stack([v & 0xFF, (v >> 8) & 0xFF, (v >> 16) & 0xFF], 1).astype(np.uint8).tobytes()
    dtype = {"PCM_16": "<i2", "PCM_32": "<i4", "FLOAT": "<f4", "DOUBLE": "<f8"}[subtype]
    return np.ascontiguousarray(samples, dtype).tobytes()


def _read_soundfile(data: bytes, allow_loss: bool, drop: bool) -> Audio:
    from .media import read_audio

    tags, others = audio_extras(data)
    if tags:
        _loss(f"its tags ({', '.join(tags)})", allow_loss)
    if others:
        _drop(f"its other streams ({', '.join(others)})", drop)
    try:
        return read_audio(data, allow_loss)
    except RuntimeError as exc:  # soundfile.LibsndfileError (its str() names a BytesIO object)
        if not allow_loss:
            raise UnsupportedInputError(f"cannot read as audio: {getattr(exc, 'error_string', exc)}") from None
    return _read_audio_av(data)


def audio_extras(data: bytes) -> tuple[list[str], list[str]]:
    """(the user's tags, the types of the streams after the first audio one) of an audio file
    as FFmpeg reads it: what its samples do not hold, libsndfile's few named tags and more
    (any Vorbis comment or ID3 frame; cover art, a "picture"); ([], []) where FFmpeg cannot
    open it."""
    import av

    try:
        with av.open(io.BytesIO(data)) as box:
            audio = box.streams.audio[0]
            tags = {**box.metadata, **audio.metadata}
            return ([k for k in tags if k.lower() not in _TECHNICAL_TAGS],
                    ["picture" if s.disposition & av.stream.Disposition.attached_pic else s.type
                     for s in box.streams if s is not audio])
    except (av.FFmpegError, IndexError):
        return [], []


def _read_audio_av(data: bytes) -> Audio:
    """Decode the first audio stream of any FFmpeg container (m4a/aac...) to float32."""
    import av

    try:
        with av.open(io.BytesIO(data)) as box:
            stream = box.streams.audio[0]
            chunks = [f.to_ndarray() for f in box.decode(stream)]
            rate, channels = stream.rate, stream.channels
    except (av.FFmpegError, IndexError) as exc:
        raise UnsupportedInputError(f"cannot read as audio: {exc}") from None
    if not chunks:
        raise UnsupportedInputError("holds no audio samples")
    planar = [c if c.shape[0] == channels else c.reshape(-1, channels).T for c in chunks]
    samples = np.concatenate(planar, axis=1).T.astype(np.float32)
    limits.check_samples(*samples.shape)
    return Audio(np.ascontiguousarray(samples), rate, "FLOAT")


# video ----------------------------------------------------------------------------------
# what muxers write on their own; anything else in a container's metadata is the user's
_TECHNICAL_TAGS = {"encoder", "major_brand", "minor_version", "compatible_brands", "handler_name",
                   "vendor_id", "creation_time", "duration", "language"}


def _read_video_av(data: bytes, allow_loss: bool, drop: bool) -> Video:
    """Decode the first video stream of an mp4/mkv/... to planar YUV (``AvReader``)."""
    with AvReader(io.BytesIO(data), allow_loss, drop) as reader:
        planes: list[list[np.ndarray]] = [[], [], []]
        itemsize = np.dtype(PIX_FMTS[reader.pix_fmt][2]).itemsize
        for frame in reader.frames():
            limits.check_video(reader.width, reader.height, (len(planes[0]) + 1) * itemsize)
            for plane, p in zip(planes, frame):
                plane.append(p)
    if not planes[0]:
        raise UnsupportedInputError("holds no video frames")
    return Video(tuple(np.stack(p) for p in planes), reader.fps, reader.pix_fmt)


class AvReader:
    """The first video stream of an mp4/mkv/... read frame by frame through PyAV, as planar
    YUV in its own pixel format when a Video holds it (8 to 16 bits, 4:2:0 to 4:4:4), else
    converted to 8-bit 4:2:0 (a loss, refused unless ``allow_loss``, as are the user's
    container tags; other streams unless ``drop``).  ``width`` and
    ``height`` are the first frame's (read at construction); ``frames()`` yields (Y, U, V); a
    context manager (closes the container)."""

    def __init__(self, f: BinaryIO, allow_loss: bool, drop: bool):
        import av

        self._errors = (av.FFmpegError, IndexError, StopIteration)
        try:
            self.box = av.open(f)
        except self._errors as exc:
            raise UnsupportedInputError(f"cannot read as video: {exc}") from None
        try:
            self._open(allow_loss, drop)
        except BaseException:
            self.box.close()
            raise
        self.width = self._first.width if self._first else 0
        self.height = self._first.height if self._first else 0
        limits.check_pixels(max(self.width, 1), max(self.height, 1))

    def _open(self, allow_loss: bool, drop: bool) -> None:
        try:
            vs = self.box.streams.video[0]
            others = [s.type for s in self.box.streams if s is not vs]
            if others:
                _drop(f"its other streams ({', '.join(others)})", drop)
            tags = sorted(k for k in {**self.box.metadata, **vs.metadata} if k.lower() not in _TECHNICAL_TAGS)
            if tags:
                _loss(f"its container tags ({', '.join(tags)})", allow_loss)
            src_fmt = vs.codec_context.pix_fmt or ""
            self.pix_fmt = src_fmt if src_fmt in PIX_FMTS else "yuv420p"
            if src_fmt != self.pix_fmt:
                _loss(f"its pixel format {src_fmt} (it would become {self.pix_fmt})", allow_loss)
            rate = vs.average_rate or vs.guessed_rate or 30
            self.fps = (rate.numerator, rate.denominator)
            self._decoded = self.box.decode(vs)
            self._first = next(self._decoded, None)
        except self._errors as exc:
            raise UnsupportedInputError(f"cannot read as video: {exc}") from None

    def frames(self) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        from .media import read_plane

        dtype = np.dtype(PIX_FMTS[self.pix_fmt][2])
        ch, cw = chroma_shape(self.pix_fmt, self.height, self.width)
        shapes = ((self.height, self.width), (ch, cw), (ch, cw))
        frame = self._first
        try:
            while frame is not None:
                if (frame.width, frame.height) != (self.width, self.height):
                    raise UnsupportedInputError(f"its frame size changes ({self.width}x{self.height} to "
                                                f"{frame.width}x{frame.height})")
                frame = frame.reformat(format=self.pix_fmt)
                yield tuple(read_plane(p, h, w, dtype) for p, (h, w) in zip(frame.planes, shapes))
                frame = next(self._decoded, None)
        except self._errors as exc:
            raise UnsupportedInputError(f"cannot read as video: {exc}") from None

    def side(self) -> None:
        return None

    def __enter__(self) -> AvReader:
        return self

    def __exit__(self, *exc) -> None:
        self.box.close()


def open_video(f: BinaryIO, fmt: str, allow_loss: bool = False, drop: bool | None = None):
    """A frame-by-frame reader of a video file (``y4m.Reader`` or ``AvReader``): ``width``,
    ``height``, ``fps``, ``pix_fmt``, ``frames()``, ``side()`` (side data once read: y4m's
    header and frame lines, or None); other streams are left out only with ``drop`` (default:
    ``allow_loss``)."""
    from . import y4m

    return y4m.Reader(f) if fmt == "y4m" else AvReader(f, allow_loss, allow_loss if drop is None else drop)


# ------------------------------------------------------------------------------ writers
def write_item(item: Item, path: Path) -> None:
    """Write ``item`` to ``path`` in the format its extension names (see WRITABLE)."""
    path.write_bytes(render(item, path.suffix.lower()))


def render(item: Item, ext: str) -> bytes:
    """The file bytes of ``item`` in the format of extension ``ext``; side data restores the
    original file (the BYTE_EXACT formats byte for byte; PNG chunks verbatim)."""
    if item.modality == "bytes":
        from .recipes import bz2_rebuild, gzip_rebuild, zip_rebuild

        for tag, rebuild in (("gzpz", gzip_rebuild), ("bz2z", bz2_rebuild), ("zipz", zip_rebuild)):
            if tag in item.extra:  # an opened file: the file, whatever the extension
                return rebuild(item)
        return item.data
    if ext not in WRITABLE[item.modality]:
        raise UnsupportedInputError(
            f"cannot write {item.modality} as {ext or 'a file without extension'}; use one of "
            f"{', '.join(sorted(WRITABLE[item.modality]))}")
    if ext == ".npy":  # the array exactly as the item holds it
        out = io.BytesIO()
        np.save(out, item.pixels if item.modality == "image" else item.samples, allow_pickle=False)
        return out.getvalue()
    if item.modality == "image":
        return _render_image(item, ext)
    if item.modality == "audio":
        if ext == ".wav" and "wave" in item.extra:
            return unwrap(item.extra["wave"], samples_to_pcm(item.frames, item.subtype))
        if ext in (".aiff", ".aif") and "aiff" in item.extra:  # big-endian: reverse each sample
            width = _AIFF_WIDTHS[item.subtype]
            little = np.frombuffer(samples_to_pcm(item.frames, item.subtype), np.uint8)
            return unwrap(item.extra["aiff"], little.reshape(-1, width)[:, ::-1].tobytes())
        import soundfile as sf

        fmt = {".wav": "WAV", ".flac": "FLAC", ".aiff": "AIFF", ".aif": "AIFF"}[ext]
        subtype = item.subtype if sf.check_format(fmt, item.subtype) else None
        out = io.BytesIO()
        sf.write(out, item.frames, item.sample_rate, subtype=subtype, format=fmt)
        return out.getvalue()
    if ext == ".y4m":
        from .y4m import serialize

        return serialize(item)
    from .media import FFV1_OPTIONS, mkv

    return mkv(item, "ffv1", item.pix_fmt, FFV1_OPTIONS)


def _render_image(item: Image, ext: str) -> bytes:
    from .media import to_pil, wide_png

    if ext == ".bmp" and "bmph" in item.extra:
        side = item.extra["bmph"]
        if len(side) < 8 + 26:
            raise CorruptStreamError("BMP side data is damaged")
        return unwrap(side, bmp_raster(item, struct.unpack_from("<i", side, 8 + 22)[0] > 0))
    if ext in (".tif", ".tiff") and "tifz" in item.extra:
        from .recipes import tiff_rebuild

        return tiff_rebuild(item, item.extra["tifz"])
    if ext in (".tif", ".tiff") and "tifh" in item.extra:
        side = item.extra["tifh"]
        order = {b"II*\0": "<", b"MM\0*": ">"}.get(side[8:12], "<")
        return unwrap(side, item.pixels.astype(item.pixels.dtype.newbyteorder(order)).tobytes())
    if ext in (".ppm", ".pgm", ".pnm") and "pnmh" in item.extra:
        big = item.pixels.astype(">u2") if item.pixels.dtype == np.uint16 else item.pixels
        return unwrap(item.extra["pnmh"], big.tobytes())
    if ext == ".png":
        from .recipes import png_rebuild

        exact = png_rebuild(item, item.extra["pngz"]) if "pngz" in item.extra else None
        if exact is not None:
            png = exact
        elif item.mode in ("LA;16", "RGB;16", "RGBA;16"):  # what Pillow cannot write
            png = wide_png(item, 6)
        else:
            out = io.BytesIO()
            to_pil(item).save(out, "PNG", **_pillow_meta(item, ext))
            png = out.getvalue()
        side = item.extra.get("pngc")
        return splice_png(png, side) if side is not None else png
    tiff_only = item.mode in ("F", "CMYK") and ext not in (".tif", ".tiff")
    if item.mode not in ("L", "LA", "RGB", "RGBA", "I;16", "F", "CMYK") or tiff_only:
        raise UnsupportedInputError(f"cannot write mode {item.mode} as {ext}; use "
                                    f"{MODE_EXT.get(item.mode, '.png')} or .npy")
    args = {"lossless": True, "exact": True} if ext == ".webp" else {}
    out = io.BytesIO()
    to_pil(item).save(out, format={".webp": "WEBP", ".tif": "TIFF", ".tiff": "TIFF", ".bmp": "BMP",
                                   ".ppm": "PPM", ".pgm": "PPM", ".pnm": "PPM"}[ext], **args, **_pillow_meta(item, ext))
    return out.getvalue()


def _pillow_meta(item: Image, ext: str) -> dict:
    """ICC/EXIF/XMP side data as Pillow save arguments, where the format holds them."""
    if "pngc" in item.extra or ext not in (".png", ".webp", ".tif", ".tiff"):
        return {}
    args = {key: item.extra[tag] for key, tag in (("icc_profile", "iccp"), ("exif", "exif"), ("xmp", "xmp_"))
            if tag in item.extra}
    if ext == ".png" and "xmp" in args:  # PNG keeps XMP in an iTXt chunk
        from PIL import PngImagePlugin

        args["pnginfo"] = PngImagePlugin.PngInfo()
        args["pnginfo"].add_itxt("XML:com.adobe.xmp", args.pop("xmp").decode("utf-8", "replace"))
    elif ext != ".webp":
        args.pop("xmp", None)
    return args


def splice_png(png: bytes, side: bytes) -> bytes:
    """A PNG whose IHDR and IDAT come from ``png`` and whose other chunks are ``side``'s."""
    chunks = png_chunks(png)
    idat = b"".join(raw for kind, raw in chunks if kind == b"IDAT")
    body = side.replace(_IDAT_MARK, idat, 1) if _IDAT_MARK in side else side + idat
    return PNG_MAGIC + chunks[0][1] + body + chunks[-1][1]

