"""PNG and Deflate TIFF files come back byte for byte where this machine's zlib remakes their
compressed pixels (recipes.py); a PNG whose stream it does not make comes back with the same
pixels and chunks, such a TIFF as its bytes."""

from __future__ import annotations

import io
import lzma
import shutil
import struct
import subprocess
import zlib

import imagecodecs
import numpy as np
import pytest
from PIL import Image as PILImage
from PIL import PngImagePlugin

from omnicodec import container
from omnicodec.cli.main import main
from omnicodec.datasets import recipes
from omnicodec.items import Image

# (PNG 1.2 section 2.6: pass 1 starts at row 0 column 0 with steps of 8, pass 2 at column 4...)
ADAM7_ROWS = ((0, 8), (0, 8), (4, 8), (0, 4), (2, 4), (0, 2), (1, 2))
ADAM7_COLUMNS = ((0, 8), (4, 8), (0, 4), (2, 4), (0, 2), (1, 2), (0, 1))


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def _filter(line: bytes, above: bytes, kind: int, step: int) -> bytes:
    """One scanline filtered byte by byte, as PNG 1.2 section 6 writes it."""
    out = bytearray()
    for i, x in enumerate(line):
        a, b = line[i - step] if i >= step else 0, above[i]
        c = above[i - step] if i >= step else 0
        out.append((x - (0, a, b, (a + b) // 2, _paeth(a, b, c))[kind]) % 256)
    return bytes([kind]) + bytes(out)


def _png(pixels: np.ndarray, ctype: int, interlace: int = 0, idat: int = 1 << 13, filters=(0,), **deflate) -> bytes:
    """A PNG written here, without a PNG library: rows filtered by ``filters`` in turn, Adam7
    passes taken by slicing, the stream from zlib with ``deflate``'s settings, IDAT chunks of
    ``idat`` bytes."""
    h, w = pixels.shape[:2]
    big = pixels.astype(">u2") if pixels.dtype == np.uint16 else pixels
    step = max(1, big.dtype.itemsize * (big.shape[2] if big.ndim == 3 else 1))
    raw, n = b"", 0
    for (y0, dy), (x0, dx) in zip(ADAM7_ROWS, ADAM7_COLUMNS) if interlace else [((0, 1), (0, 1))]:
        sub = big[y0::dy, x0::dx]
        above = bytes(sub[0].nbytes) if sub.size else b""
        for row in sub if sub.size else ():
            raw += _filter(row.tobytes(), above, filters[n % len(filters)], step)
            above, n = row.tobytes(), n + 1
    z = zlib.compressobj(deflate.get("level", 6), zlib.DEFLATED, deflate.get("wbits", 15), deflate.get("mem", 8),
                         deflate.get("strategy", 0))
    stream = z.compress(raw) + z.flush()
    ihdr = struct.pack(">IIBBBBB", w, h, 8 * big.dtype.itemsize, ctype, 0, 0, interlace)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr)
            + b"".join(_chunk(b"IDAT", stream[i:i + idat]) for i in range(0, len(stream), idat)) + _chunk(b"IEND", b""))


def _smooth(h: int, w: int) -> np.ndarray:
    """RGBA gradients with a little noise: what compresses as photos do, so the default codes pixels."""
    yy, xx = np.mgrid[0:h, 0:w]
    noise = np.random.default_rng(5).integers(0, 3, (h, w))
    return np.stack([xx * 2 + noise, yy * 3, (xx + yy) + noise, 255 - yy], -1).clip(0, 255).astype(np.uint8)


SMOOTH = _smooth(45, 61)


def _pillow(mode: str, **save) -> bytes:
    im = PILImage.fromarray(_smooth(60, 80), "RGBA").convert(mode)
    out = io.BytesIO()
    im.save(out, "PNG", **save)
    return out.getvalue()


def _text() -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "kept")
    return _pillow("RGB", pnginfo=info, compress_level=9)


WRITERS = {
    "pillow-rgb": lambda: _pillow("RGB"), "pillow-fast": lambda: _pillow("RGB", compress_level=1),
    "pillow-rgba-text": _text, "pillow-grey": lambda: _pillow("L"), "pillow-la": lambda: _pillow("LA"),
    "pillow-palette": lambda: _pillow("P", transparency=3),
    "pillow-grey16": lambda: _pillow("I;16"),
    "libpng-rgb16": lambda: imagecodecs.png_encode((SMOOTH[..., :3].astype(np.uint16) * 257)),
    "libpng-rle-sub": lambda: imagecodecs.png_encode(SMOOTH, level=1, strategy=3, filter=16),
    "libpng-9": lambda: imagecodecs.png_encode(SMOOTH, level=9),
    "adam7-rgb": lambda: _png(SMOOTH[..., :3], 2, interlace=1, filters=(4, 1, 2, 3, 0)),
    "every-filter-la16": lambda: _png(SMOOTH[..., :2].astype(np.uint16) * 250, 4, filters=(0, 1, 2, 3, 4), mem=9),
    "adam7-grey16-fixed": lambda: _png(SMOOTH[..., 0].astype(np.uint16) * 300, 0, interlace=1, level=4,
                                       strategy=zlib.Z_FIXED, mem=3),
    "small-window-huffman": lambda: _png(SMOOTH, 6, wbits=9, strategy=zlib.Z_HUFFMAN_ONLY, idat=100),
    "stored": lambda: _png(SMOOTH, 6, level=0),
}


def _round_trip(tmp_path, name: str, data: bytes, *options: str, suffix: str = ".png") -> tuple[bytes, dict]:
    src = tmp_path / f"{name}{suffix}"
    src.write_bytes(data)
    assert main(["encode", str(src), "-o", str(tmp_path / "x.omc"), "-f", *options]) == 0
    sections = container.unpack((tmp_path / "x.omc").read_bytes()).sections
    back = tmp_path / f"back{suffix}"
    assert main(["decode", str(tmp_path / "x.omc"), "-o", str(back), "-f"]) == 0
    return back.read_bytes(), sections


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_png_written_through_zlib_comes_back_byte_for_byte(tmp_path, writer):
    data = WRITERS[writer]()
    back, sections = _round_trip(tmp_path, writer, data)
    assert "pngz" in sections and len(sections["pngz"]) < 200
    assert back == data


def test_an_explicit_lossless_codec_keeps_the_bytes_and_a_lossy_one_leaves_the_recipe_out(tmp_path):
    data = _text()
    for codec in ("png", "webp-lossless"):
        back, sections = _round_trip(tmp_path, "t", data, "-c", codec)
        assert back == data and "pngz" in sections, codec
    back, sections = _round_trip(tmp_path, "t", data, "-c", "webp", "-q", "80")
    assert "pngz" not in sections and "pngc" in sections and back != data
    with PILImage.open(io.BytesIO(back)) as im:
        assert im.info["Comment"] == "kept"


def _odd_png(stream: bytes) -> bytes:
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", 61, 45, 8, 6, 0, 0, 0))
            + _chunk(b"tEXt", b"Title\0odd deflate") + _chunk(b"IDAT", stream) + _chunk(b"IEND", b""))


RAW = b"".join(b"\0" + row.tobytes() for row in SMOOTH)


@pytest.mark.parametrize("deflater", ["zopfli", "deflate", "flush"])
def test_a_stream_zlib_does_not_make_comes_back_byte_for_byte_too(tmp_path, deflater):
    """zopfli, libdeflate, a full flush: no zlib settings remake them, the stream is kept as
    its differences from a plain matcher (pngz's second form, kernels/deflate.py)."""
    if deflater == "flush":
        z = zlib.compressobj(6)
        stream = z.compress(RAW[:3000]) + z.flush(zlib.Z_FULL_FLUSH) + z.compress(RAW[3000:]) + z.flush()
    else:
        stream = getattr(imagecodecs, f"{deflater}_encode")(RAW)
    assert zlib.decompress(stream) == RAW
    data = _odd_png(stream)
    back, sections = _round_trip(tmp_path, deflater, data)
    assert sections["pngz"][0] == 2 and back == data


def test_a_stream_with_bytes_after_it_comes_back_byte_for_byte(tmp_path):
    """Bytes after the zlib stream (which zlib ignores): no recipe remakes them, so the PNG is
    kept as its bytes (until 2026-12-07 #23 it was rewritten with the same pixels and chunks,
    and the bytes after the stream were lost)."""
    data = _odd_png(zlib.compress(RAW) + b"\0\1")
    assert recipes.png_recipe(data, Image(SMOOTH)) is None
    back, sections = _round_trip(tmp_path, "after", data)
    assert "pngz" not in sections and back == data


def _decode_under_another_zlib(tmp_path, monkeypatch, capsys, data: bytes, suffix: str) -> tuple[int, str]:
    """Encode ``data`` as a file of ``suffix``, then decode it where zlib writes other streams
    (a level swapped): the exit status and stderr."""
    src = tmp_path / f"x{suffix}"
    src.write_bytes(data)
    assert main(["encode", str(src)]) == 0
    real = zlib.compressobj
    monkeypatch.setattr(zlib, "compressobj", lambda level, *rest: real(1 if level != 1 else 9, *rest))
    capsys.readouterr()
    status = main(["decode", str(src) + ".omc", "-o", str(tmp_path / f"back{suffix}")])
    monkeypatch.undo()
    return status, capsys.readouterr().err


def test_a_zlib_that_writes_otherwise_at_decode_warns_and_keeps_the_pixels(tmp_path, monkeypatch, capsys):
    data = WRITERS["libpng-9"]()
    status, err = _decode_under_another_zlib(tmp_path, monkeypatch, capsys, data, ".png")
    assert status == 0
    warned = [line for line in err.splitlines() if "warning" in line]
    assert len(warned) == 1 and "does not remake the PNG's compressed pixel data" in warned[0]
    back = (tmp_path / "back.png").read_bytes()
    with PILImage.open(io.BytesIO(back)) as a, PILImage.open(io.BytesIO(data)) as b:
        assert back != data and np.array_equal(np.asarray(a), np.asarray(b))


def test_a_recipe_that_does_not_fit_the_pixels_is_refused_in_one_line(tmp_path, capsys):
    """A recipe is covered by the digest, but a crafted file can carry a digest of anything:
    one filter byte short (or a bad version) is a one-line error and no output."""
    import omnicodec
    from omnicodec.datasets.files import read_item

    data = _pillow("RGB")
    item = read_item(tmp_path / "x.png", "image", data=data, exact=True)
    side = item.extra["pngz"]
    table = zlib.decompress(side[22:])
    for bad in (side[:22] + zlib.compress(table[:-1]), b"\2" + side[1:], side[:21]):
        item.extra["pngz"] = bad
        (tmp_path / "bad.omc").write_bytes(omnicodec.encode(item, "png"))
        capsys.readouterr()
        assert main(["decode", str(tmp_path / "bad.omc"), "-o", str(tmp_path / "bad.png")]) == 1
        err = capsys.readouterr().err
        assert "PNG recipe (pngz)" in err and len(err.strip().splitlines()) == 1
        assert not (tmp_path / "bad.png").exists()


def _flushed_png() -> bytes:
    z = zlib.compressobj(9)
    return _odd_png(z.compress(RAW[:3000]) + z.flush(zlib.Z_FULL_FLUSH) + z.compress(RAW[3000:]) + z.flush())


def _zopfli_png() -> bytes:
    import imagecodecs

    return _odd_png(imagecodecs.zopfli_encode(RAW))


FROZEN = {  # folder: (codec, the original file, its extension, its recipe's tag and first byte); zlib made them
    # but the classed and deep ones (deflate recipes with kinds by cost class, and with deep ranks: zopfli)
    "v3-pngz": ("png", lambda: _png(SMOOTH, 6, interlace=1, level=9, filters=(1, 4, 2, 0, 3)), ".png", "pngz", 1),
    "v3-pngz2-classed": ("png", _zopfli_png, ".png", "pngz", 2),
    "v3-pngz2-deep": ("png", _zopfli_png, ".png", "pngz", 2),
    "v3-pngz2": ("png", _flushed_png, ".png", "pngz", 2),
    "v3-tifz": ("png", lambda: _tiff_by_hand(SMOOTH[..., :3], lambda raw: zlib.compress(raw, 9)), ".tif", "tifz", 1),
    "v3-gzpz": ("logzip", lambda: __import__("gzip").compress(LOG, 9, mtime=0), ".gz", "gzpz", 1),
    "v3-zipz": ("xz", lambda: _zip({"a.xml": (LOG[:50000], 8), "b/": (b"", 0), "c.txt": (LOG[50000:], 8)}), ".zip",
                "zipz", 1),
    "v3-bz2z": ("logzip", lambda: __import__("bz2").compress(LOG, 9), ".bz2", "bz2z", 1),
    "v3-gzpz2": ("logzip", lambda: _two_members(), ".gz", "gzpz", 2),
    "v3-bz2z2": ("logzip", lambda: b"".join(__import__("bz2").compress(LOG[i:i + 30000], 9)
                                           for i in range(0, len(LOG), 30000)), ".bz2", "bz2z", 2),
}


# the deflate recipe encoder (recipes.ENCODER) that wrote each folder: the first (plain form)
# unless named here; the bitstream guard rewrites each with its own
WRITTEN_BY = {"v3-pngz2-classed": 2, "v3-pngz2-deep": 3, "v3-gzpz2": 3}


@pytest.mark.parametrize("folder", sorted(FROZEN))
def test_a_frozen_stream_with_a_recipe_still_remakes_its_file(folder, monkeypatch):
    """The compatibility promise for the recipes: frozen v3 files (pngz of both forms, an
    interlaced PNG of every filter type and a flushed stream; tifz; gzpz and bz2z of one
    member and of several; zipz) decode and render to their original file's bytes."""
    import omnicodec
    from omnicodec.datasets.files import read_item, render
    from tests.common import FIXTURES, check_fixture

    codec, make, ext, tag, version = FROZEN[folder]
    monkeypatch.setattr(recipes, "ENCODER", WRITTEN_BY.get(folder, 1))  # (the encoder that wrote it)
    data = make()
    item = read_item(FIXTURES / f"x{ext}", data=data, exact=True)
    assert item.extra[tag][0] == version
    check_fixture(codec, item, folder)
    decoded = omnicodec.decode((FIXTURES / codec / folder / "sample.omc").read_bytes())
    assert render(decoded, ext) == data


def test_a_stream_saved_without_the_files_name_decodes_to_a_file_that_carries_its_side_data(tmp_path, capsys):
    """A TIFF's stream written through the API and saved as NAME.omc (no name recorded):
    ``codec decode`` without -o writes NAME.tif, its strips remade (it used to pick .png and
    refuse); asked for a .png, the refusal names .tif."""
    from tests.common import FIXTURES

    codec, make, _, _, _ = FROZEN["v3-tifz"]
    omc = tmp_path / "photo.omc"
    shutil.copyfile(FIXTURES / codec / "v3-tifz" / "sample.omc", omc)
    assert main(["decode", str(omc)]) == 0 and (tmp_path / "photo.tif").read_bytes() == make()
    capsys.readouterr()
    assert main(["decode", str(omc), "-o", str(tmp_path / "photo.png")]) == 1
    assert "decode to .tif" in capsys.readouterr().err


# TIFF -----------------------------------------------------------------------------------
def _tiff_by_hand(pixels: np.ndarray, deflate) -> bytes:
    """A little-endian one-strip RGB TIFF written here: Deflate (compression 8) through
    ``deflate``, a description, the IFD last."""
    h, w = pixels.shape[:2]
    strip, desc = deflate(pixels.tobytes()), b"by hand\0"
    ifd = 8 + len(desc) + 6 + len(strip)
    entries = [(256, 3, 1, w), (257, 3, 1, h), (258, 3, 3, 8 + len(desc)), (259, 3, 1, 8), (262, 3, 1, 2),
               (270, 2, len(desc), 8), (273, 4, 1, 8 + len(desc) + 6), (277, 3, 1, 3), (278, 3, 1, h),
               (279, 4, 1, len(strip))]
    body = struct.pack("<H", len(entries)) + b"".join(struct.pack("<HHII", *e) for e in entries) + bytes(4)
    return b"II*\0" + struct.pack("<I", ifd) + desc + struct.pack("<3H", 8, 8, 8) + strip + body


def _pillow_tiff(**save) -> bytes:
    out = io.BytesIO()
    PILImage.fromarray(_smooth(60, 80)[..., :3]).save(out, "TIFF", dpi=(300, 300), **save)
    return out.getvalue()


TIFFS = {
    "pillow-deflate": lambda: _pillow_tiff(compression="tiff_adobe_deflate"),
    "libtiff-predictor-rgba": lambda: imagecodecs.tiff_encode(_smooth(70, 90), compression="deflate", predictor=True),
    "libtiff-predictor-grey16-big-endian": lambda: imagecodecs.tiff_encode(
        _smooth(70, 90)[..., 0].astype(np.uint16) * 251, compression="deflate", predictor=True, byteorder=">"),
    "by-hand-zlib-9": lambda: _tiff_by_hand(SMOOTH[..., :3], lambda raw: zlib.compress(raw, 9)),
    "pillow-lzw": lambda: _pillow_tiff(compression="tiff_lzw"),
    "libtiff-lzw-predictor-grey16-big-endian": lambda: imagecodecs.tiff_encode(
        _smooth(70, 90)[..., 0].astype(np.uint16) * 251, compression="lzw", predictor=True, byteorder=">"),
    "libtiff-lzw-big": lambda: imagecodecs.tiff_encode(np.tile(_smooth(70, 90), (6, 4, 1)), compression="lzw",
                                                        rowsperstrip=400),  # past the 4094-code table
}


@pytest.mark.parametrize("writer", sorted(TIFFS))
def test_a_deflate_or_lzw_tiff_comes_back_byte_for_byte(tmp_path, writer):
    data = TIFFS[writer]()
    back, sections = _round_trip(tmp_path, writer, data, suffix=".tif")
    assert "tifz" in sections and "DATA" in sections  # pixels coded, the file around them kept
    assert back == data


@pytest.mark.parametrize("deflater", ["zopfli", "libdeflate"])
def test_a_deflate_tiff_zlib_does_not_make_comes_back_byte_for_byte(tmp_path, deflater):
    """zopfli's or libdeflate's strips (many libtiff builds use libdeflate): a deflate recipe
    per strip (tifz coder 2)."""
    def deflate(raw):
        body = imagecodecs.zopfli_encode(raw)[2:-4] if deflater == "zopfli" else \
            imagecodecs.deflate_encode(raw, level=12, raw=True)
        return zlib.compress(raw)[:2] + body + zlib.adler32(raw).to_bytes(4, "big")

    data = _tiff_by_hand(SMOOTH[..., :3], deflate)
    with PILImage.open(io.BytesIO(data)) as im:  # a valid TIFF all the same
        assert np.array_equal(np.asarray(im), SMOOTH[..., :3])
    back, sections = _round_trip(tmp_path, deflater, data, suffix=".tif")
    assert back == data and sections["tifz"][1] == 2


def test_a_deflate_tiff_goes_lossy_through_its_pixels_without_the_recipe(tmp_path):
    back, sections = _round_trip(tmp_path, "lossy", TIFFS["pillow-deflate"](), "-c", "webp", "-q", "90",
                                 suffix=".tif")
    assert "tifz" not in sections
    with PILImage.open(io.BytesIO(back)) as im:
        assert im.size == (80, 60) and np.abs(np.asarray(im).astype(int) - _smooth(60, 80)[..., :3]).mean() < 3


def test_a_tiff_recipe_that_cannot_be_remade_is_a_one_line_error_and_no_file(tmp_path, monkeypatch, capsys):
    """A zlib that writes otherwise at decode (no PNG-like fallback: the file's tags describe
    Deflate strips), and a crafted recipe, each refuse in one line and write nothing."""
    import omnicodec
    from omnicodec.datasets.files import read_item

    data = TIFFS["pillow-deflate"]()
    status, err = _decode_under_another_zlib(tmp_path, monkeypatch, capsys, data, ".tif")
    assert status == 1 and "does not remake the TIFF's strips" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "back.tif").exists()
    item = read_item(tmp_path / "x.tif", "image", data=data, exact=True)
    for bad in (b"\2" + item.extra["tifz"][1:], item.extra["tifz"][:6] + b"\7" + item.extra["tifz"][7:]):
        item.extra["tifz"] = bad
        (tmp_path / "bad.omc").write_bytes(omnicodec.encode(item, "png"))
        capsys.readouterr()
        assert main(["decode", str(tmp_path / "bad.omc"), "-o", str(tmp_path / "bad.tif")]) == 1
        err = capsys.readouterr().err.strip()
        assert "TIFF recipe (tifz)" in err and len(err.splitlines()) == 1 and not (tmp_path / "bad.tif").exists()


# gzip -----------------------------------------------------------------------------------
LOG = b"".join(b"2026-12-07 13:%02d:%02d worker%d job %d finished in %d ms\n"
               % (i // 60 % 60, i % 60, i % 5, i, i * 7 % 991) for i in range(4000))


def _gzip_cli(data: bytes, *flags: str) -> bytes:
    return subprocess.run(["gzip", *flags, "-c"], input=data, capture_output=True, check=True).stdout


def _gzip_by_hand(data: bytes) -> bytes:
    """A member with every optional header field: extra, name, comment and a header CRC."""
    import gzip

    head = b"\x1f\x8b\x08" + bytes([4 | 8 | 16 | 2]) + struct.pack("<I", 1765000000) + b"\x02\x03"
    head += struct.pack("<H", 6) + b"AB\x02\x00hi" + b"name.log\0" + b"a comment\0"
    head += struct.pack("<H", zlib.crc32(head) & 0xFFFF)
    z = zlib.compressobj(9, zlib.DEFLATED, -15)
    member = head + z.compress(data) + z.flush() + struct.pack("<II", zlib.crc32(data), len(data))
    assert gzip.decompress(member) == data
    return member


GZIPS = {"gzip(1) -9 with a name": lambda: _gzip_cli(LOG, "-9"), "gzip(1) -1": lambda: _gzip_cli(LOG, "-1", "-n"),
         "python's gzip": lambda: __import__("gzip").compress(LOG, mtime=0), "every header field": lambda: _gzip_by_hand(LOG)}


@pytest.mark.skipif(shutil.which("gzip") is None, reason="gzip(1) is not installed")
@pytest.mark.parametrize("writer", sorted(GZIPS))
def test_a_gzip_file_is_coded_as_its_content_and_comes_back_byte_for_byte(tmp_path, capsys, writer):
    data = GZIPS[writer]()
    back, sections = _round_trip(tmp_path, "x", data, suffix=".log.gz")
    assert back == data and "gzpz" in sections
    omc = tmp_path / "x.omc"
    assert omc.stat().st_size < len(data) / 2  # the log through logzip, not its gzip bytes through xz
    capsys.readouterr()
    assert main(["grep", "-c", "job 3999 ", str(omc)]) == 0 and capsys.readouterr().out.strip() == "1"  # as zgrep
    assert main(["test", str(omc)]) == 0


@pytest.mark.parametrize("case", ["bytes after", "bad crc", "over the cap", "a member too many"])
def test_a_gzip_file_the_recipe_does_not_take_stays_its_bytes(tmp_path, monkeypatch, case):
    import gzip

    data = {"bytes after": gzip.compress(LOG) + b"\0\0", "bad crc": gzip.compress(LOG)[:-8] + bytes(8),
            "over the cap": gzip.compress(LOG), "a member too many": _bgzf(LOG[:20000], 4096)}[case]
    if case == "a member too many":
        monkeypatch.setattr(recipes, "MEMBERS_MAX", 4)
    if case == "over the cap":
        monkeypatch.setattr(recipes, "OPEN_MAX", len(LOG) - 1)
    back, sections = _round_trip(tmp_path, "x", data, suffix=".gz")
    assert back == data and "gzpz" not in sections


def _bgzf(data: bytes, block: int = 65280) -> bytes:
    """BGZF, as bgzip and htslib write genomics files: a gzip member per ``block`` bytes, each
    with a BC extra field giving its size, and an empty member at the end."""
    out = []
    for i in range(0, len(data), block):
        part = data[i:i + block]
        z = zlib.compressobj(6, zlib.DEFLATED, -15)
        stream = z.compress(part) + z.flush()
        head = b"\x1f\x8b\x08\x04" + bytes(4) + b"\x00\xff\x06\x00BC\x02\x00"
        out.append(head + struct.pack("<H", len(head) + 2 + len(stream) + 8 - 1) + stream
                   + struct.pack("<II", zlib.crc32(part), len(part)))
    return b"".join(out) + bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")


def _two_members() -> bytes:
    """LOG as two gzip members: zlib's (its settings remake it) and zopfli's (a deflate recipe)."""
    import gzip

    import imagecodecs

    zopfli = imagecodecs.zopfli_encode(LOG[5000:])[2:-4]
    return gzip.compress(LOG[:5000], 9, mtime=0) + (
        b"\x1f\x8b\x08\0\0\0\0\0\2\3" + zopfli + struct.pack("<II", zlib.crc32(LOG[5000:]), len(LOG) - 5000))


@pytest.mark.parametrize("kind", ["cat of two", "bgzf"])
def test_a_gzip_file_of_several_members_is_coded_as_its_content(tmp_path, capsys, kind):
    """Members one after another (``cat a.gz b.gz``; BGZF) are opened as one content, each
    member's header and recipe in a table (gzpz version 2), and come back byte for byte."""
    import gzip

    data = _bgzf(LOG) if kind == "bgzf" else _two_members()
    assert gzip.decompress(data) == LOG
    back, sections = _round_trip(tmp_path, "x", data, suffix=".gz")
    assert back == data and sections["gzpz"][0] == 2
    if kind == "bgzf":  # zlib made every member: its settings are their recipes (4 bytes each)
        assert len(sections["gzpz"]) < 150
    assert (tmp_path / "x.omc").stat().st_size < len(data) / 2  # the log through logzip
    capsys.readouterr()
    assert main(["grep", "-c", "job 3999 ", str(tmp_path / "x.omc")]) == 0 and capsys.readouterr().out.strip() == "1"


def test_a_damaged_member_table_is_refused_in_one_line(tmp_path, capsys):
    import omnicodec
    from omnicodec.datasets.files import read_item

    item = read_item(tmp_path / "x.gz", data=_bgzf(LOG, 16384), exact=True)
    side = item.extra["gzpz"]
    size = struct.unpack_from("<I", side, 1)[0]
    table = lzma.decompress(side[5:5 + size])
    bad_level = side[:5 + size] + b"\x0b" + side[6 + size:]  # (the first member's zlib settings: level 11)
    for bad_table in (table[:-1], struct.pack("<I", 70000) + table[4:], table[:4] + struct.pack("<I", 3) + table[8:],
                      None, "cut"):
        packed = lzma.compress(bad_table, format=lzma.FORMAT_XZ) if isinstance(bad_table, bytes) else b""
        item.extra["gzpz"] = (side[:1] + struct.pack("<I", len(packed)) + packed + side[5 + size:]) if packed \
            else bad_level if bad_table is None else side[:-1]  # (the last recipe cut short: an IndexError until #23)
        (tmp_path / "bad.omc").write_bytes(omnicodec.encode(item, "logzip"))
        capsys.readouterr()
        assert main(["decode", str(tmp_path / "bad.omc"), "-o", str(tmp_path / "bad.gz")]) == 1
        err = capsys.readouterr().err
        assert "gzpz" in err and len(err.strip().splitlines()) == 1 and not (tmp_path / "bad.gz").exists()


@pytest.mark.parametrize("kind", ["gzip", "zip"])
def test_an_opened_file_whose_content_does_not_shrink_is_stored_as_it_is(tmp_path, kind):
    """A .gz of noise, a ZIP of incompressible members: the default keeps the file's own bytes
    (``store``, one section), not its content beside a recipe, and the decode gives it back."""
    import gzip

    noise = np.random.default_rng(7).integers(0, 256, 200_000, np.uint8).tobytes()
    data = gzip.compress(noise, 1, mtime=0) if kind == "gzip" else _zip({"a.bin": (noise, 8),
                                                                         "b.bin": (noise[::-1], 8)})
    back, sections = _round_trip(tmp_path, "x", data, suffix=".gz" if kind == "gzip" else ".zip")
    assert back == data and list(sections) == ["DATA"]


def test_a_stored_content_beside_its_recipe_decodes_to_its_file(tmp_path):
    """Until 2026-12-07 #22 the default could write a .gz of noise (or a ZIP of PNGs) as its
    content through ``store`` beside the recipe (``gzpz``, ``zipz``), and ``codec decode``
    refused such a file (store takes one section): the frozen one decodes to the .gz."""
    import gzip

    import omnicodec
    from omnicodec.datasets.files import read_item
    from tests.common import FIXTURES, check_fixture

    data = gzip.compress(np.random.default_rng(7).integers(0, 256, 3000, np.uint8).tobytes(), 1, mtime=0)
    item = read_item(tmp_path / "x.gz", data=data, exact=True)
    assert "gzpz" in item.extra
    check_fixture("store", item, "v3-gzpz", codec=omnicodec.get_codec("store"))
    assert main(["decode", str(FIXTURES / "store" / "v3-gzpz" / "sample.omc"), "-o", str(tmp_path / "back.gz")]) == 0
    assert (tmp_path / "back.gz").read_bytes() == data


@pytest.mark.parametrize("fmt", ["gzip", "bzip2"])
def test_a_compressed_file_past_the_streaming_size_is_still_opened(tmp_path, monkeypatch, fmt):
    """A rotated log's .gz is often past the size from which a default encode streams a file
    (and would store a compressed one): it is read whole and coded as its content all the
    same, while its content may fit OPEN_MAX; a file larger than that is streamed."""
    import bz2
    import gzip

    from omnicodec import api

    data = gzip.compress(LOG, 6, mtime=0) if fmt == "gzip" else bz2.compress(LOG, 9)
    monkeypatch.setattr(api, "STREAM_MIN", len(data) // 4)
    back, sections = _round_trip(tmp_path, "x", data, suffix=".gz" if fmt == "gzip" else ".bz2")
    assert back == data and ("gzpz" if fmt == "gzip" else "bz2z") in sections
    monkeypatch.setattr(recipes, "OPEN_MAX", len(data) - 1)
    back, sections = _round_trip(tmp_path, "x", data, suffix=".gz" if fmt == "gzip" else ".bz2")
    assert back == data and "gzpz" not in sections and "bz2z" not in sections


# ZIP ------------------------------------------------------------------------------------
def _zip(members: dict[str, tuple[bytes, int]]) -> bytes:
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, (data, method) in members.items():
            z.writestr(zipfile.ZipInfo(name, (2026, 12, 7, 14, 0, 0)), data, compress_type=method)
    return out.getvalue()


def test_a_zip_file_is_coded_expanded_and_comes_back_byte_for_byte(tmp_path):
    """Deflated members are expanded (their streams kept as recipes); a stored member, a tiny
    one and a folder stay as they are."""
    import lzma
    import zipfile

    data = _zip({"word/document.xml": (LOG, zipfile.ZIP_DEFLATED), "styles.xml": (LOG[:20000], zipfile.ZIP_DEFLATED),
                 "media/": (b"", zipfile.ZIP_STORED), "media/raw.bin": (bytes(range(256)) * 8, zipfile.ZIP_STORED),
                 "tiny.txt": (b"hi", zipfile.ZIP_DEFLATED)})
    back, sections = _round_trip(tmp_path, "x", data, suffix=".docx")
    assert back == data and struct.unpack_from("<I", sections["zipz"], 1)[0] == 2  # the two big members
    assert (tmp_path / "x.omc").stat().st_size < len(lzma.compress(data, preset=9 | lzma.PRESET_EXTREME)) / 2


@pytest.mark.skipif(shutil.which("zip") is None, reason="zip(1) is not installed")
def test_info_zips_own_deflater_is_remade(tmp_path):
    (tmp_path / "in").mkdir()
    for i in range(3):
        (tmp_path / "in" / f"log{i}.txt").write_bytes(LOG[i * 30000:(i + 1) * 30000])
    subprocess.run(["zip", "-q", "-r", "-9", str(tmp_path / "a.zip"), "in"], cwd=tmp_path, check=True)
    data = (tmp_path / "a.zip").read_bytes()
    back, sections = _round_trip(tmp_path, "a", data, suffix=".zip")
    assert back == data and "zipz" in sections


@pytest.mark.parametrize("case", ["noise", "damaged directory"])
def test_a_zip_file_that_does_not_gain_stays_its_bytes(tmp_path, case):
    import zipfile

    noise = np.random.default_rng(0).integers(0, 256, 40000, np.uint8).tobytes()
    data = _zip({"a.bin": (noise, zipfile.ZIP_DEFLATED), "b.txt": (LOG[:3000], zipfile.ZIP_DEFLATED)})
    if case == "damaged directory":
        data = data[:-22] + b"PK\x05\x06" + bytes(18)  # an end record that points nowhere
    back, sections = _round_trip(tmp_path, "x", data, suffix=".zip")
    assert back == data and "zipz" not in sections


# bzip2 ----------------------------------------------------------------------------------
@pytest.mark.parametrize("level", [1, 9])
def test_a_bzip2_file_is_coded_as_its_content_and_comes_back_byte_for_byte(tmp_path, level, capsys):
    import bz2

    data = bz2.compress(LOG, level)  # (what bzip2(1) writes: the same libbzip2, the same bytes)
    back, sections = _round_trip(tmp_path, "x", data, suffix=".log.bz2")
    assert back == data and sections["bz2z"][1] == level
    assert (tmp_path / "x.omc").stat().st_size < len(data) / 2
    capsys.readouterr()
    assert main(["grep", "-c", "job 3999 ", str(tmp_path / "x.omc")]) == 0 and capsys.readouterr().out.strip() == "1"


def test_a_bzip2_file_of_several_streams_is_coded_as_its_content(tmp_path, capsys):
    """pbzip2 writes a stream per 900 kB, each libbzip2's: the streams' content lengths are
    their recipe (bz2z version 2), and the file comes back byte for byte."""
    import bz2

    data = b"".join(bz2.compress(LOG[i:i + 30000], 9) for i in range(0, len(LOG), 30000))
    back, sections = _round_trip(tmp_path, "x", data, suffix=".log.bz2")
    count = -(-len(LOG) // 30000)
    assert back == data and sections["bz2z"][0] == 2 and len(sections["bz2z"]) == 10 + 4 * count
    capsys.readouterr()
    assert main(["grep", "-c", "job 3999 ", str(tmp_path / "x.omc")]) == 0 and capsys.readouterr().out.strip() == "1"


def test_codec_test_rebuilds_an_opened_file_as_a_decode_does(tmp_path, capsys):
    """``codec test`` of an opened file rebuilds the file from its recipe, as ``codec decode``
    does: a recipe that does not remake it (here a bzip2 CRC that no block size gives, under
    a valid digest) fails the test, where streaming the content alone passed it."""
    import bz2

    import omnicodec
    from omnicodec.datasets.files import read_item

    item = read_item(tmp_path / "x.bz2", data=bz2.compress(LOG, 9), exact=True)
    good = tmp_path / "good.omc"
    good.write_bytes(omnicodec.encode(item, "logzip"))
    item.extra["bz2z"] = item.extra["bz2z"][:2] + bytes(4)
    bad = tmp_path / "bad.omc"
    bad.write_bytes(omnicodec.encode(item, "logzip"))
    capsys.readouterr()
    assert main(["test", str(good)]) == 0 and main(["test", str(bad)]) == 1
    assert "libbzip2" in capsys.readouterr().err


@pytest.mark.parametrize("case", ["block sizes differ", "bytes after", "lengths damaged"])
def test_a_bzip2_file_libbzip2_does_not_remake_stays_its_bytes(tmp_path, case):
    import bz2

    import omnicodec
    from omnicodec.datasets.files import read_item

    if case == "lengths damaged":  # a crafted file: refused in one line
        item = read_item(tmp_path / "x.bz2", data=bz2.compress(LOG[:20000]) + bz2.compress(LOG[20000:]), exact=True)
        item.extra["bz2z"] = item.extra["bz2z"][:-1] + b"\1"
        (tmp_path / "bad.omc").write_bytes(omnicodec.encode(item, "logzip"))
        assert main(["decode", str(tmp_path / "bad.omc"), "-o", str(tmp_path / "bad.bz2")]) == 1
        assert not (tmp_path / "bad.bz2").exists()
        return
    data = bz2.compress(LOG[:20000], 9) + (bz2.compress(LOG[20000:], 5) if case == "block sizes differ"
                                           else bz2.compress(LOG[20000:], 9) + b"\0")
    back, sections = _round_trip(tmp_path, "x", data, suffix=".bz2")
    assert back == data and "bz2z" not in sections
