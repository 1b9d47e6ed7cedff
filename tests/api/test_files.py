"""Fidelity: what the default stores comes back whole, and nothing comes out bigger than it went in.

A corpus of ordinary files is generated here (small, for CI).  Each goes through the CLI's
default encode and decode as a directory tree; the restored file must be byte-identical (the
PNGs too: Pillow and libpng write them through zlib, whose stream pngz.py remakes).  Every
output must respect the size bound.  Explicit codecs that cannot keep something refuse with one
line and write nothing, unless --allow-loss.
"""

from __future__ import annotations

import io
import os
import struct
import wave
import zlib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image as PILImage

import omnicodec
from omnicodec.api import size_bound
from omnicodec.cli.main import main

RNG = np.random.default_rng(7)


# ------------------------------------------------------------------ an independent PNG reader
def png_pixels(data: bytes) -> tuple[np.ndarray, list[bytes]]:
    """Pixels (H, W, C) at the file's bit depth, and the raw non-IHDR/IDAT/IEND chunks, of a
    non-interlaced 8/16-bit PNG: a reader independent of Pillow, imagecodecs and omnicodec."""
    pos, idat, other = 8, b"", []
    while pos < len(data):
        (n,) = struct.unpack_from(">I", data, pos)
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind != b"IEND":
            other.append(data[pos:pos + 12 + n])
        pos += 12 + n
    assert interlace == 0
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[ctype]
    bpp = channels * depth // 8
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(h, 1 + w * bpp)
    out = np.zeros((h, w * bpp), np.int32)
    for y in range(h):
        f, line = raw[y, 0], raw[y, 1:].astype(np.int32)
        prev = out[y - 1] if y else np.zeros(w * bpp, np.int32)
        cur = np.zeros(w * bpp, np.int32)
        for x in range(w * bpp):
            a = cur[x - bpp] if x >= bpp else 0
            b, c = prev[x], prev[x - bpp] if x >= bpp else 0
            pred = {0: 0, 1: a, 2: b, 3: (a + b) // 2}.get(f)
            if f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            cur[x] = (line[x] + pred) & 0xFF
        out[y] = cur
    px = out.astype(np.uint8)
    if depth == 16:
        px = px.reshape(h, -1, 2)
        return ((px[..., 0].astype(np.uint16) << 8) | px[..., 1]).reshape(h, w, channels), other
    return px.reshape(h, w, channels), other


# -------------------------------------------------------------------------------- the corpus
def _smooth(shape: tuple, peak: float) -> np.ndarray:
    """A gradient with a little noise: compressible, like a photo (in [0, peak])."""
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    base = (xx / shape[1] * 0.6 + yy / shape[0] * 0.3)[..., None] + 0.02 * RNG.random(shape[:2] + (shape[2] if len(shape) > 2 else 1,))
    return (base * peak).reshape(shape)


def _png16(channels: int) -> bytes:
    import imagecodecs

    return imagecodecs.png_encode(_smooth((48, 64, channels), 65535).astype(np.uint16), level=1)


def _pillow(mode: str, fmt: str, size=(64, 48), **kw) -> bytes:
    shape = (size[1], size[0]) + (() if mode in ("L", "P", "F", "I;16") else (len(mode),))
    dtype = {"F": np.float32, "I;16": np.uint16}.get(mode, np.uint8)
    arr = _smooth(shape, 1000 if mode in ("F", "I;16") else 255).astype(dtype)
    if fmt == "PNG":
        kw.setdefault("compress_level", 1)
    im = PILImage.fromarray(arr) if mode in ("L", "P", "F", "I;16") else PILImage.fromarray(arr, mode)
    if mode == "P":
        im = im.convert("P", palette=PILImage.Palette.ADAPTIVE, colors=64)
    out = io.BytesIO()
    im.save(out, fmt, **kw)
    return out.getvalue()


def _icc() -> bytes:
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _text_png() -> bytes:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "someone")
    info.add_itxt("Comment", "naïve ✓", zip=True)
    exif = PILImage.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90
    return _pillow("RGBA", "PNG", pnginfo=info, exif=exif.tobytes(),
                   icc_profile=_icc())


def _apng() -> bytes:
    frames = [PILImage.new("RGB", (8, 8), c) for c in ("red", "blue", "green")]
    out = io.BytesIO()
    frames[0].save(out, "PNG", save_all=True, append_images=frames[1:], duration=100)
    return out.getvalue()


def _gif() -> bytes:
    frames = [PILImage.new("RGB", (8, 8), c) for c in ("red", "blue", "green", "white")]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)
    return out.getvalue()


def _jpeg_exif_icc() -> bytes:
    exif = PILImage.Exif()
    exif[0x0112] = 6
    yy, xx = np.mgrid[0:64, 0:96]
    arr = np.stack([xx * 2, yy * 3, (xx + yy) % 255], -1).astype(np.uint8)
    out = io.BytesIO()
    PILImage.fromarray(arr).save(out, "JPEG", quality=90, exif=exif.tobytes(), icc_profile=_icc(),
                                 xmp=b'<x:xmpmeta xmlns:x="adobe:ns:meta/">rating 5</x:xmpmeta>')
    return out.getvalue()


def _wav(subtype: str, channels: int = 1, frames: int = 800, **tags) -> bytes:
    x = 0.3 * np.sin(np.arange(frames)[:, None] / (5 + np.arange(channels))) + 0.01 * RNG.standard_normal((frames, channels))
    out = io.BytesIO()
    with sf.SoundFile(out, "w", 16000, channels, subtype, format="WAV") as f:
        for key, value in tags.items():
            setattr(f, key, value)
        f.write(x)
    return out.getvalue()


def _sound(fmt: str, subtype: str, channels: int = 2, **tags) -> bytes:
    x = 0.3 * np.sin(np.arange(4410)[:, None] / (7 + np.arange(channels)))
    out = io.BytesIO()
    with sf.SoundFile(out, "w", 44100, channels, subtype, format=fmt) as f:
        for key, value in tags.items():
            setattr(f, key, value)
        f.write(x)
    return out.getvalue()


def _av(container: str, video: tuple | None, audio: str | None, frames: int = 6, **tags) -> bytes:
    """A small file from PyAV: video = (encoder, pix_fmt, options), audio = encoder."""
    import av

    out = io.BytesIO()
    with av.open(out, "w", format=container) as box:
        box.metadata.update(tags)
        vs = as_ = None
        if video:
            vs = box.add_stream(video[0], rate=12)
            vs.width, vs.height, vs.pix_fmt = 64, 48, video[1]
            vs.options = video[2]
        if audio:
            as_ = box.add_stream(audio, rate=48000)
            as_.layout = "stereo"
        for i in range(frames if vs else 0):
            f = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 20 * i, np.uint8), "rgb24").reformat(format=video[1])
            f.pts = i
            box.mux(vs.encode(f))
        if vs:
            box.mux(vs.encode(None))
        if as_:
            for i in range(5):
                a = av.AudioFrame.from_ndarray(np.zeros((2, 1024), np.float32), format="fltp", layout="stereo")
                a.sample_rate, a.pts = 48000, i * 1024
                box.mux(as_.encode(a))
            box.mux(as_.encode(None))
    return out.getvalue()


def _y4m(chroma: str = "420mpeg2", samples: int = 3 * 32 * 16 // 2, dtype=np.uint8) -> bytes:
    w, h = 32, 16
    head = f"YUV4MPEG2 W{w} H{h} F25:1 It A0:0 C{chroma} XYSCSS=420MPEG2 XCOLORRANGE=LIMITED\n".encode()
    frames = [b"FRAME\n" if i else b"FRAME Ixyz\n" for i in range(3)]
    return head + b"".join(f + (np.arange(samples) % 7 + i).astype(dtype).tobytes() for i, f in enumerate(frames))


def _tiff_be() -> bytes:
    """A big-endian ("MM") 16-bit grey TIFF written by hand: a description, three strips, the
    IFD last (the layout libtiff's writers use)."""
    h, w = 48, 64
    raster = _smooth((h, w), 4095).astype(">u2").tobytes()
    desc, strip = b"made by hand\0", len(raster) // 3
    offsets = 8 + len(desc) + 24
    tables = struct.pack(">3I", *(offsets + i * strip for i in range(3))) + struct.pack(">3I", *[strip] * 3)
    ifd = 8 + len(desc) + len(tables) + len(raster)
    entries = [(256, 3, 1, w << 16), (257, 3, 1, h << 16), (258, 3, 1, 16 << 16), (259, 3, 1, 1 << 16),
               (262, 3, 1, 1 << 16), (270, 2, len(desc), 8), (273, 4, 3, 8 + len(desc)), (277, 3, 1, 1 << 16),
               (278, 3, 1, (h // 3) << 16), (279, 4, 3, 8 + len(desc) + 12)]
    body = struct.pack(">H", len(entries)) + b"".join(struct.pack(">HHII", *e) for e in entries) + bytes(4)
    return b"MM\0*" + struct.pack(">I", ifd) + desc + tables + raster + body


CORPUS = {
    "img/png16_rgb.png": lambda: _png16(3), "img/png16_rgba.png": lambda: _png16(4),
    "img/png16_grey.png": lambda: _pillow("I;16", "PNG"), "img/rgba.png": lambda: _pillow("RGBA", "PNG"),
    "img/palette.png": lambda: _pillow("P", "PNG"), "img/meta.png": _text_png, "img/anim.png": _apng,
    "img/anim.gif": _gif, "img/cmyk.jpg": lambda: _pillow("CMYK", "JPEG", size=(64, 48)),
    "img/float.tif": lambda: _pillow("F", "TIFF"), "img/photo.jpg": _jpeg_exif_icc,
    "img/scan.tif": lambda: _pillow("RGB", "TIFF", dpi=(300, 300)), "img/grey16_be.tif": _tiff_be,
    "img/lzw.tif": lambda: _pillow("RGBA", "TIFF", compression="tiff_lzw"),
    "img/packbits.tif": lambda: _pillow("RGB", "TIFF", compression="packbits"),
    "snd/s16.wav": lambda: _wav("PCM_16", title="a title", artist="me"), "snd/s24.wav": lambda: _wav("PCM_24", 2),
    "snd/float.wav": lambda: _wav("FLOAT"), "snd/u8.wav": lambda: _wav("PCM_U8"),
    "snd/surround.wav": lambda: _wav("PCM_16", 6), "snd/empty.wav": lambda: _wav("PCM_16", frames=0),
    "snd/s24.aiff": lambda: _sound("AIFF", "PCM_24", title="aiff"), "snd/s8.aiff": lambda: _sound("AIFF", "PCM_S8", 1),
    "snd/float.aiff": lambda: _sound("AIFF", "FLOAT"), "snd/double.aiff": lambda: _sound("AIFF", "DOUBLE", 1),
    "snd/double.wav": lambda: _wav("DOUBLE", 2), "snd/s32.wav": lambda: _wav("PCM_32", 2, frames=4000),
    "snd/tagged.flac": lambda: _sound("FLAC", "PCM_16", title="t", album="a"),
    "snd/stereo.mp3": lambda: _sound("MP3", "MPEG_LAYER_III"),
    "snd/music.m4a": lambda: _av("ipod", None, "aac"),
    "vid/hevc10.mp4": lambda: _av("mp4", ("libx265", "yuv420p10le", {"x265-params": "log-level=error"}), None),
    "vid/ffv1_422.mkv": lambda: _av("matroska", ("ffv1", "yuv422p", {}), None, title="holiday"),
    "vid/h264_aac.mp4": lambda: _av("mp4", ("libx264", "yuv420p", {}), "aac"),
    "img/photo.ppm": lambda: b"P6\n# made by hand\n64 48\n255\n" + _smooth((48, 64, 3), 255).astype(np.uint8).tobytes(),
    "img/deep.pgm": lambda: b"P5 64 48 4095\n" + _smooth((48, 64), 4095).astype(">u2").tobytes() + b"trailing",
    "img/shot.bmp": lambda: _pillow("RGB", "BMP", size=(63, 48)), "img/alpha.bmp": lambda: _pillow("RGBA", "BMP"),
    "vid/odd.y4m": _y4m, "vid/deep422.y4m": lambda: _y4m("422p10", 2 * 32 * 16, np.dtype("<u2")),
    "misc/empty": lambda: b"", "misc/tiny.txt": lambda: b"hello world\n",
    "misc/random.bin": lambda: RNG.bytes(5000), "a/same.txt": lambda: b"first folder\n" * 10,
    "b/same.txt": lambda: b"second folder\n" * 10, ".hidden": lambda: b"dot file\n",
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus") / "tree"
    for name, make in CORPUS.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(make())
    return root


def _same(original: Path, restored: Path) -> None:
    assert original.read_bytes() == restored.read_bytes(), f"{original.name} does not come back byte for byte"


def test_default_tree_round_trip_is_exact_and_never_bigger(corpus, tmp_path, capsys):
    archive, back = tmp_path / "archive", tmp_path / "back"
    assert main(["encode", str(corpus), "-o", str(archive)]) == 0
    err = capsys.readouterr().err
    files = sorted(p.relative_to(corpus) for p in corpus.rglob("*") if p.is_file())
    for rel in files:
        omc = archive / (str(rel) + ".omc")
        assert omc.is_file(), f"{rel} was not archived"
        assert omc.stat().st_size <= size_bound((corpus / rel).stat().st_size), (rel, omc.stat().st_size)
    # a re-run skips the archive's own .omc files; decode mirrors the tree back
    assert main(["encode", str(archive), "-o", str(tmp_path / "again")]) == 0
    assert not (tmp_path / "again").exists() or not any((tmp_path / "again").rglob("*.omc.omc"))
    assert main(["decode", str(archive), "-o", str(back)]) == 0
    for rel in files:
        _same(corpus / rel, back / rel)
    codecs = {str(rel): omnicodec.open(archive / (str(rel) + ".omc")).codec for rel in files}
    print(codecs)
    assert codecs["img/photo.jpg"] == "jxl-jpeg" and codecs["snd/s24.wav"] == "flac"
    assert codecs["img/png16_rgb.png"] == "jxl-lossless" and codecs["vid/odd.y4m"] == codecs["vid/deep422.y4m"] == "ffv1"
    assert codecs["img/photo.ppm"] == codecs["img/deep.pgm"] == "jxl-lossless"
    assert codecs["img/shot.bmp"] == codecs["img/alpha.bmp"] == "jxl-lossless"
    assert codecs["snd/s24.aiff"] == codecs["snd/s8.aiff"] == "flac"
    # float sound (AIFF-C fl32 too, which went to xz as bytes), float64 off float32's values too
    # (float_bits 64; it went to wav, or for these small files to xz)
    assert codecs["snd/float.wav"] == codecs["snd/float.aiff"] == codecs["snd/s32.wav"] == "flac"
    assert codecs["snd/double.wav"] == codecs["snd/double.aiff"] == "flac"
    assert codecs["img/meta.png"] == codecs["img/png16_grey.png"] == "jxl-lossless" and codecs["img/palette.png"] == "png"
    # uncompressed TIFF (either byte order) and libtiff's LZW as pixels; PackBits stays its own bytes
    assert codecs["img/scan.tif"] == codecs["img/grey16_be.tif"] == codecs["img/lzw.tif"] == "jxl-lossless"
    assert codecs["img/packbits.tif"] in ("xz", "store")
    assert codecs["misc/tiny.txt"] == "store", err


def test_png_metadata_survives_lossy_output_too(corpus, tmp_path):
    """EXIF orientation, ICC and text chunks come back even through a lossy codec."""
    src = corpus / "img/meta.png"
    assert main(["encode", str(src), "-c", "webp", "-q", "80", "-o", str(tmp_path / "m.omc")]) == 0
    assert main(["decode", str(tmp_path / "m.omc"), "-o", str(tmp_path / "m.png")]) == 0
    assert png_pixels(src.read_bytes())[1] == png_pixels((tmp_path / "m.png").read_bytes())[1]
    with PILImage.open(tmp_path / "m.png") as im:
        assert im.getexif()[0x0112] == 6 and im.info["Author"] == "someone"


def test_jpeg_metadata_follows_its_pixels_into_a_png(corpus, tmp_path):
    """`-c png` on a JPEG keeps EXIF (orientation), ICC and XMP in the decoded PNG."""
    src = corpus / "img/photo.jpg"
    assert main(["encode", str(src), "-c", "png", "-o", str(tmp_path / "p.omc")]) == 0
    assert main(["decode", str(tmp_path / "p.omc"), "-o", str(tmp_path / "p.png")]) == 0
    with PILImage.open(src) as a, PILImage.open(tmp_path / "p.png") as b:
        assert b.getexif()[0x0112] == 6 and b.info["icc_profile"] == a.info["icc_profile"]
        assert "rating 5" in b.info["XML:com.adobe.xmp"]
        assert np.array_equal(np.asarray(a), np.asarray(b))


def test_wav_tags_and_layout_come_back_through_an_independent_reader(corpus, tmp_path):
    for name in ("snd/s16.wav", "snd/surround.wav", "snd/s24.wav"):
        src = corpus / name
        dst = tmp_path / src.name
        assert main(["encode", str(src), "-o", str(tmp_path / "x.omc"), "-f"]) == 0
        assert main(["decode", str(tmp_path / "x.omc"), "-o", str(dst), "-f"]) == 0
        a, b = sf.SoundFile(src), sf.SoundFile(dst)
        assert (a.channels, a.samplerate, a.subtype, a.copy_metadata()) == (b.channels, b.samplerate, b.subtype, b.copy_metadata())
        assert np.array_equal(sf.read(src, dtype="int32")[0], sf.read(dst, dtype="int32")[0])
        with wave.open(str(dst)) as w:
            assert w.getnchannels() == a.channels


@pytest.mark.parametrize("name,codec,lost", [
    ("vid/h264_aac.mp4", "ffv1", "other streams"), ("img/anim.png", "png", "animation"),
    ("img/anim.gif", "png", "frames"), ("vid/ffv1_422.mkv", "ffv1", "container tags (title)"), ("img/palette.png", "webp-lossless", "cannot store mode P"),
    ("img/png16_rgb.png", "webp-lossless", "cannot store mode RGB;16"), ("snd/tagged.flac", "wav", "tags")])
def test_explicit_codec_refuses_what_it_would_lose(corpus, tmp_path, capsys, name, codec, lost):
    out = tmp_path / "x.omc"
    assert main(["encode", str(corpus / name), "-c", codec, "-o", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("codec: error:") and lost in err and "\n" not in err
    assert not out.exists() and not list(tmp_path.iterdir())
    if codec != "webp-lossless" or name.endswith("palette.png"):
        assert main(["encode", str(corpus / name), "-c", codec, "--allow-loss", "-o", str(out)]) == 0


@pytest.mark.parametrize("name,codec,lost", [
    ("img/anim.gif", "webp", "3 of its 4 frames"), ("img/anim.png", "jpeg", "animation (APNG) frames"),
    ("vid/h264_aac.mp4", "x264", "other streams (audio)")])
def test_a_lossy_codec_or_quality_is_no_consent_to_leave_out_frames_or_streams(corpus, tmp_path, capsys, name, codec,
                                                                                lost):
    """A lossy codec, even with a quality, used to take an animation's first frame or a
    video without its audio, silently; whole frames and streams now need --allow-loss."""
    out = tmp_path / "x.omc"
    for quality in ([], ["-q", "60"]):
        assert main(["encode", str(corpus / name), "-c", codec, *quality, "-o", str(out)]) == 1
        err = capsys.readouterr().err.strip()
        assert lost in err and "--allow-loss" in err and "\n" not in err
        assert not out.exists()
    assert main(["encode", str(corpus / name), "-c", codec, "-q", "60", "--allow-loss", "-o", str(out)]) == 0


def _rich_flac(tmp_path) -> Path:
    """A FLAC with a comment libsndfile does not show (REPLAYGAIN_TRACK_GAIN) and cover art."""
    plain = io.BytesIO()
    sf.write(plain, 0.3 * np.sin(np.arange(8000) / 10), 8000, format="FLAC")
    data = plain.getvalue()
    info = data[4:8 + int.from_bytes(data[5:8], "big")]  # STREAMINFO, not the last block
    size = int.from_bytes(data[len(info) + 5:len(info) + 8], "big")
    audio = data[len(info) + 8 + size:]  # past libsndfile's (last) comment block
    field = b"REPLAYGAIN_TRACK_GAIN=-3.2 dB"
    comment = struct.pack("<I", 4) + b"test" + struct.pack("<II", 1, len(field)) + field
    png = b"\x89PNG\r\n\x1a\n" + bytes(64)
    picture = struct.pack(">II", 3, 9) + b"image/png" + struct.pack(">I", 0) + struct.pack(">5I", 1, 1, 24, 0, len(png)) + png
    path = tmp_path / "rich.flac"
    path.write_bytes(b"fLaC" + info + bytes([4]) + len(comment).to_bytes(3, "big") + comment
                     + bytes([0x86]) + len(picture).to_bytes(3, "big") + picture + audio)
    return path


def test_audio_tags_and_cover_art_libsndfile_does_not_show_are_not_lost(tmp_path, capsys):
    """-c flac (lossless) read a FLAC's (or an MP3's...) samples and dropped its cover art and
    any tag libsndfile has no name for, silently; a lossy codec dropped the cover art."""
    from omnicodec.datasets.files import audio_extras

    src = _rich_flac(tmp_path)
    assert audio_extras(src.read_bytes()) == (["REPLAYGAIN_TRACK_GAIN"], ["picture"])
    out = tmp_path / "x.omc"
    for args, lost in ((["-c", "flac"], "tags (REPLAYGAIN_TRACK_GAIN)"), (["-c", "opus", "-q", "50"], "other streams (picture)")):
        assert main(["encode", str(src), *args, "-o", str(out)]) == 1
        assert lost in capsys.readouterr().err and not out.exists()
    assert main(["encode", str(src), "-c", "opus", "-q", "50", "--allow-loss", "-o", str(out)]) == 0
    assert main(["encode", str(src), "-o", str(tmp_path / "default.omc")]) == 0  # the bytes, exactly
    assert omnicodec.decode((tmp_path / "default.omc").read_bytes()).data == src.read_bytes()


@pytest.mark.parametrize("fmt,kwargs,lost", [("JPEG", {"comment": b"a note"}, "comment"),
                                             ("GIF", {"comment": b"a note"}, "comment"),
                                             ("TIFF", {"description": "a cat", "compression": "packbits"},
                                              "TIFF description")])
def test_image_comments_and_descriptions_are_not_lost_by_a_lossless_codec(tmp_path, capsys, fmt, kwargs, lost):
    """-c png of a JPEG or GIF with a comment, or of a TIFF with a description, kept the
    pixels and dropped the words, silently."""
    src = tmp_path / f"x.{fmt.lower()}"
    pixels = np.random.default_rng(0).integers(0, 256, (16, 16, 3), np.uint8)
    PILImage.fromarray(pixels).save(src, fmt, **kwargs)
    out = tmp_path / "x.omc"
    assert main(["encode", str(src), "-c", "png", "-o", str(out)]) == 1
    assert f"its {lost}" in capsys.readouterr().err and not out.exists()
    assert main(["encode", str(src), "-c", "png", "--allow-loss", "-o", str(out)]) == 0
    PILImage.fromarray(pixels).save(src, fmt)  # without them: not this refusal (a GIF's palette has its own)
    main(["encode", str(src), "-c", "png", "-f", "-o", str(out)])
    assert f"its {lost}" not in capsys.readouterr().err


def test_an_uncompressed_tiff_comes_back_whole_through_any_lossless_codec(tmp_path):
    """Its tags (a description here) ride along with the file around the pixels (tifh): -c png
    keeps them, and the decode is the TIFF byte for byte."""
    src = tmp_path / "x.tif"
    PILImage.fromarray(_smooth((40, 50, 3), 255).astype(np.uint8)).save(src, "TIFF", description="a cat")
    assert main(["encode", str(src), "-c", "png", "-o", str(tmp_path / "x.omc")]) == 0
    assert main(["decode", str(tmp_path / "x.omc"), "-o", str(tmp_path / "back.tif")]) == 0
    assert (tmp_path / "back.tif").read_bytes() == src.read_bytes()
    assert main(["decode", str(tmp_path / "x.omc"), "-o", str(tmp_path / "back.png")]) == 1  # would drop the tags
    assert main(["decode", str(tmp_path / "x.omc"), "--allow-loss", "-o", str(tmp_path / "back.png")]) == 0
    with PILImage.open(tmp_path / "back.png") as im, PILImage.open(src) as original:
        assert np.array_equal(np.asarray(im), np.asarray(original))


def test_ten_bit_video_keeps_its_depth_through_ffv1(corpus, tmp_path):
    """An explicit lossless codec keeps 10-bit 4:2:0 from an HEVC mp4, as PyAV decodes it."""
    import av

    src = corpus / "vid/hevc10.mp4"
    assert main(["encode", str(src), "-c", "ffv1", "-o", str(tmp_path / "v.omc")]) == 0
    assert main(["encode", str(src), "-c", "x264", "-q", "60", "-o", str(tmp_path / "lossy.omc")]) == 0
    lossy = omnicodec.decode((tmp_path / "lossy.omc").read_bytes())
    assert lossy.pix_fmt == "yuv420p10le" and lossy.planes[0].dtype == np.uint16
    video = omnicodec.decode((tmp_path / "v.omc").read_bytes())
    assert video.pix_fmt == "yuv420p10le" and video.planes[0].dtype == np.uint16
    with av.open(str(src)) as box:
        first = next(box.decode(video=0)).to_ndarray()  # (h * 3 / 2, w) uint16 planes stacked
    assert np.array_equal(first[:48], video.planes[0][0])


def test_m4a_is_audio_and_transcodes_on_request(corpus, tmp_path):
    from omnicodec.datasets.files import identify

    assert identify((corpus / "snd/music.m4a").read_bytes()[:64], ".m4a") == ("audio", "m4a")
    assert main(["encode", str(corpus / "snd/music.m4a"), "-c", "opus", "-q", "50", "-o", str(tmp_path / "o.omc")]) == 0
    assert omnicodec.open(tmp_path / "o.omc").meta["channels"] == 2


@pytest.mark.parametrize("array", [
    np.linspace(-1, 1, 300), np.linspace(-1, 1, 600).reshape(300, 2).astype(np.float32),
    (np.arange(500) * 37 % 30000).astype(np.int16), (np.arange(800).reshape(400, 2) << 16).astype(np.int32)])
def test_audio_api_keeps_dtype_and_shape(array):
    item = omnicodec.Audio(array, 22050)
    back = omnicodec.decode(omnicodec.encode(item))
    assert back.samples.dtype == array.dtype and back.samples.shape == array.shape
    assert np.array_equal(back.samples, array)


@pytest.mark.parametrize("array,mode", [
    (RNG.integers(0, 256, (9, 11), dtype=np.uint8), "L"), (RNG.integers(0, 256, (9, 11, 3), dtype=np.uint8), "RGB"),
    (RNG.integers(0, 256, (9, 11, 4), dtype=np.uint8), "RGBA"), (RNG.integers(0, 65536, (9, 11), dtype=np.uint16), "I;16"),
    (RNG.integers(0, 65536, (9, 11, 3), dtype=np.uint16), "RGB;16"),
    (RNG.integers(0, 65536, (9, 11, 4), dtype=np.uint16), "RGBA;16"),
    (RNG.random((9, 11)).astype(np.float32), "F"), (RNG.random((9, 11, 3)).astype(np.float32), "RGB;F")])
def test_image_api_infers_the_mode_and_keeps_every_bit(array, mode):
    item = omnicodec.Image(array)
    assert item.mode == mode
    back = omnicodec.decode(omnicodec.encode(item))
    assert back.mode == mode and back.pixels.dtype == array.dtype
    assert np.array_equal(back.pixels.reshape(array.shape), array)


def test_api_refuses_at_encode_what_it_cannot_keep():
    from omnicodec.errors import UnsupportedInputError

    with pytest.raises(UnsupportedInputError):
        omnicodec.Audio(np.zeros(10, np.uint64), 8000)
    with pytest.raises(UnsupportedInputError):
        omnicodec.Image(np.zeros((4, 4), np.float64))
    with pytest.raises(UnsupportedInputError, match="precision"):
        omnicodec.Audio(np.ones((4, 1), np.int32), 8000, "PCM_24")
    with pytest.raises(UnsupportedInputError):
        omnicodec.encode(omnicodec.Image(np.zeros((4, 4, 3), np.uint16)), "webp-lossless")
    cmyk = omnicodec.Image(RNG.integers(0, 256, (5, 6, 4), dtype=np.uint8), "CMYK")
    assert omnicodec.decode(omnicodec.encode(cmyk)).mode == "CMYK"


def test_outputs_keep_mode_and_mtime_and_write_through_symlinks(tmp_path):
    src = tmp_path / "notes.txt"
    src.write_bytes(b"keep my mode\n" * 50)
    os.chmod(src, 0o640)
    os.utime(src, (1_600_000_000, 1_600_000_000))
    assert main(["encode", str(src)]) == 0
    omc = tmp_path / "notes.txt.omc"
    assert (omc.stat().st_mode & 0o777, int(omc.stat().st_mtime)) == (0o640, 1_600_000_000)
    target = tmp_path / "target.txt"
    target.write_bytes(b"old")
    link = tmp_path / "link.txt"
    link.symlink_to(target)
    assert main(["decode", str(omc), "-o", str(link), "-f"]) == 0
    assert link.is_symlink() and target.read_bytes() == src.read_bytes()
    assert (target.stat().st_mode & 0o777, int(target.stat().st_mtime)) == (0o640, 1_600_000_000)


def test_batch_goes_on_after_a_failure_and_names_the_file(tmp_path, capsys):
    good, bad = tmp_path / "in" / "good.txt", tmp_path / "in" / "bad.txt"
    good.parent.mkdir()
    good.write_bytes(b"fine\n")
    bad.write_bytes(b"also fine\n")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "bad.txt.omc").write_bytes(b"already here")
    assert main(["encode", str(tmp_path / "in"), "-o", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "bad.txt.omc" in err and "1 of 2 files failed" in err
    assert (tmp_path / "out" / "good.txt.omc").is_file()


def test_file_changing_while_read_is_refused(tmp_path, monkeypatch):
    from omnicodec import api
    from omnicodec.errors import UnsupportedInputError

    src = tmp_path / "grow.log"
    src.write_bytes(b"line\n" * 100)
    real = api._encode_default

    def grow(*args, **kw):
        out = real(*args, **kw)
        with src.open("ab") as f:
            f.write(b"more\n")
        return out

    monkeypatch.setattr(api, "_encode_default", grow)
    with pytest.raises(UnsupportedInputError, match="changed while"):
        api.encode_file(src)
    assert not (tmp_path / "grow.log.omc").exists()


def test_big_files_are_stored_or_streamed_without_reading_them_whole(tmp_path, monkeypatch):
    from omnicodec import api

    monkeypatch.setattr(api, "STREAM_MIN", 4096)
    noise, text = tmp_path / "noise.bin", tmp_path / "app.log"
    noise.write_bytes(RNG.bytes(300_000))
    text.write_bytes(b"".join(b"2024-01-01 INFO request %d took %d ms\n" % (i, i % 97) for i in range(5000)))
    real = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail(f"{self} read whole")
                        if self.name.startswith(("noise.bin", "app.log")) else real(self))
    originals = {}
    for src, codec in ((noise, "store"), (text, "logzip")):
        path, header = api.encode_file(src)
        assert header.codec == codec and path.stat().st_size <= size_bound(src.stat().st_size)
        originals[src] = real(src)
        src.unlink()
    for src, data in originals.items():  # nor are their .omc files read whole to decode them
        assert main(["decode", str(src) + ".omc"]) == 0 and real(src) == data
    monkeypatch.undo()
    src.unlink()
    omc = Path(str(noise) + ".omc")
    damaged = bytearray(omc.read_bytes())
    damaged[len(damaged) // 2] ^= 1
    omc.write_bytes(bytes(damaged))
    noise.unlink()
    assert main(["decode", str(omc)]) == 1 and not noise.exists()
    assert not [p for p in tmp_path.iterdir() if "omc-tmp" in p.name]


def test_nothing_is_written_that_the_decoder_would_refuse(monkeypatch):
    from omnicodec import limits
    from omnicodec.errors import UnsupportedInputError

    monkeypatch.setattr(limits, "MAX_PIXELS", 100)
    with pytest.raises(UnsupportedInputError, match="caps"):
        omnicodec.encode(omnicodec.Image(np.zeros((20, 20, 3), np.uint8)), "jpeg", 50)


def test_a_failing_or_lying_codec_falls_back_to_bytes(corpus, tmp_path, monkeypatch):
    """Verification is what makes the default safe: a codec that raises, or whose stream does
    not restore the input, is skipped and the file is kept as bytes."""
    from omnicodec import api
    from omnicodec.codecs import jpegxl, pillow_image, sndfile_audio

    def boom(self, item):
        raise RuntimeError("encoder crashed")

    real = sndfile_audio.FLAC.decode

    def lie(self, sections, meta):
        item = real(self, sections, meta)
        item.frames[0, 0] ^= 1 << 8  # one sample off
        return item

    monkeypatch.setattr(jpegxl.JXLLossless, "encode", boom)
    monkeypatch.setattr(pillow_image.WebPLossless, "encode", boom)
    monkeypatch.setattr(pillow_image.PNG, "encode", boom)
    monkeypatch.setattr(sndfile_audio.FLAC, "decode", lie)
    originals = {}
    for name in ("img/rgba.png", "snd/s16.wav"):
        src = tmp_path / Path(name).name
        originals[src] = (corpus / name).read_bytes()
        src.write_bytes(originals[src])
        path, header = api.encode_file(src)
        assert header.codec not in ("jxl-lossless", "webp-lossless", "png", "flac"), header.codec
        src.unlink()
    monkeypatch.undo()
    for src, data in originals.items():
        api.decode_file(Path(str(src) + ".omc"))
        assert src.read_bytes() == data


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # inside libsndfile
@pytest.mark.parametrize("name", ["img/meta.png", "img/palette.png", "img/photo.ppm", "img/shot.bmp", "snd/s24.wav",
                                  "snd/s24.aiff", "vid/deep422.y4m"])
def test_exact_readers_refuse_damaged_files_in_one_of_our_error_types(corpus, name):
    """Truncations and byte flips of every exact-format sample: a reader either reads it or
    raises UnsupportedInputError (never an IndexError or a struct.error)."""
    from omnicodec.datasets.files import read_item
    from omnicodec.errors import OmnicodecError

    data = (corpus / name).read_bytes()
    rng = np.random.default_rng(len(name))
    cuts = sorted({int(x) for x in rng.integers(0, len(data), 40)} | {0, 1, 8, 12, 30, 60})
    damaged = [data[:n] for n in cuts]
    for _ in range(120):
        bad = bytearray(data)
        for pos in rng.integers(0, min(len(data), 200), rng.integers(1, 4)):
            bad[pos] = int(rng.integers(0, 256))
        damaged.append(bytes(bad))
    for blob in damaged:
        try:
            read_item(Path(name), data=blob)
        except OmnicodecError:
            pass


_OWN = np.random.default_rng(11)  # not RNG: the corpus must not depend on which tests exist


@pytest.mark.parametrize("array,mode,ext", [(_OWN.random((5, 7, 3)).astype(np.float32), None, ".npy"),
                                            (_OWN.random((5, 7)).astype(np.float32), None, ".tif"),
                                            (_OWN.integers(0, 256, (5, 7, 4), dtype=np.uint8), "CMYK", ".tif")])
def test_modes_no_png_holds_decode_to_a_file_that_holds_them(tmp_path, array, mode, ext):
    omc = tmp_path / "a.omc"
    omc.write_bytes(omnicodec.encode(omnicodec.Image(array, mode)))
    assert main(["decode", str(omc)]) == 0
    out = tmp_path / ("a" + ext)
    back = np.load(out) if ext == ".npy" else np.asarray(PILImage.open(out))
    assert np.array_equal(back.reshape(array.shape), array)


def test_a_file_name_that_is_not_utf8_encodes_and_decodes(tmp_path, capsys):
    """A Latin-1 name (bytes that are not UTF-8) failed with a misleading "no codec could store
    it" where the header was to keep the name (``-o`` another name): the name is not kept, the
    content is, and the decode is named after the .omc; without ``-o`` it round-trips whole."""
    src = os.path.join(os.fsencode(tmp_path), b"caf\xe9.log")
    with open(src, "wb") as f:
        f.write(b"line 1\nline 2\n" * 40)
    assert main(["encode", os.fsdecode(src), "-o", str(tmp_path / "x.omc")]) == 0
    assert main(["decode", str(tmp_path / "x.omc")]) == 0
    assert (tmp_path / "x").read_bytes() == b"line 1\nline 2\n" * 40
    assert main(["encode", os.fsdecode(src)]) == 0
    os.rename(src, src + b".orig")
    assert main(["decode", os.fsdecode(src + b".omc")]) == 0
    with open(src, "rb") as f:
        assert f.read() == b"line 1\nline 2\n" * 40


def _png_of_chunks(pixels: np.ndarray, parts) -> bytes:
    """An RGB PNG whose zlib stream of ``pixels`` is cut into IDAT chunks by ``parts``, a
    function of the stream that returns the chunks' contents."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    h, w, _ = pixels.shape
    stream = zlib.compress(b"".join(b"\0" + row.tobytes() for row in pixels), 6)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + b"".join(chunk(b"IDAT", p) for p in parts(stream)) + chunk(b"IEND", b""))


def _named_for_another_format(kind: str) -> tuple[str, bytes]:
    rng = np.random.default_rng(5)
    if kind in ("wav as .flac", "aiff as .wav"):
        out = io.BytesIO()
        sf.write(out, np.sin(np.arange(4000) / 5) * 0.5, 8000, subtype="PCM_16",
                 format="WAV" if kind.startswith("wav") else "AIFF")
        return ("a.flac" if kind.startswith("wav") else "a.wav"), out.getvalue()
    pixels = (np.add.outer(np.arange(48), np.arange(64))[..., None] * [1, 2, 3] % 256
              + rng.integers(0, 8, (48, 64, 3))).clip(0, 255).astype(np.uint8)
    if kind == "bmp as .png":
        out = io.BytesIO()
        PILImage.fromarray(pixels).save(out, "BMP")
        return "a.png", out.getvalue()
    return {"png as .webp": "a.webp", "png as .wav": "a.wav"}[kind], _png_of_chunks(pixels, lambda s: [s])


@pytest.mark.parametrize("kind", ["wav as .flac", "aiff as .wav", "png as .webp", "png as .wav", "bmp as .png"])
def test_a_file_named_for_another_format_comes_back_byte_for_byte(tmp_path, capsys, kind):
    """The decode without -o (or into a folder) restores a file under its own name; it wrote
    the format the name's extension says: a WAV saved as a.flac came back a FLAC file, a PNG
    saved as a.webp was refused and one saved as a.wav came back as a.png (until 2026-12-07
    #23; the encoder's check decoded to a name of the format it had read).  Now the file comes
    back as it was, still coded by the codec of its content."""
    name, data = _named_for_another_format(kind)
    (tmp_path / name).write_bytes(data)
    assert main(["encode", str(tmp_path / name)]) == 0
    omc = tmp_path / (name + ".omc")
    assert omnicodec.open(omc).codec != "store" and len(omc.read_bytes()) < len(data)
    for where in ("folder", "beside"):
        folder = tmp_path / where
        folder.mkdir()
        (folder / omc.name).write_bytes(omc.read_bytes())
        args = [str(folder / omc.name)] if where == "beside" else [str(omc), "-o", str(folder) + "/"]
        assert main(["decode", *args]) == 0, capsys.readouterr().err
        assert sorted(p.name for p in folder.iterdir() if p.suffix != ".omc") == [name]
        assert (folder / name).read_bytes() == data
    assert main(["test", str(omc)]) == 0


def test_a_png_whose_idat_chunks_no_recipe_holds_comes_back_byte_for_byte(tmp_path):
    """IDAT chunks of odd sizes (a first one of 2 bytes, an empty one between two), or bytes
    after the zlib stream: the recipe remakes the stream, not such a cut, and the encoder's
    check took a PNG back with the same pixels and chunks; its decode was another file
    (until 2026-12-07 #23).  It is now held to the file's bytes."""
    pixels = np.random.default_rng(2).integers(0, 40, (32, 40, 3)).astype(np.uint8)
    for i, parts in enumerate([lambda s: [s[:2], s[2:]], lambda s: [s[:500], b"", s[500:]],
                               lambda s: [s + b"\0"]]):
        data = _png_of_chunks(pixels, parts)
        src = tmp_path / f"odd{i}.png"
        src.write_bytes(data)
        assert main(["encode", str(src)]) == 0
        src.rename(tmp_path / f"odd{i}.orig")
        assert main(["decode", str(tmp_path / f"odd{i}.png.omc")]) == 0
        assert src.read_bytes() == data


def test_an_output_folder_named_with_a_slash_is_made(tmp_path):
    """``-o NEW/`` for one input wrote a file named NEW; it names a folder (made if missing)."""
    src = tmp_path / "a.log"
    src.write_bytes(b"one line\n" * 20)
    assert main(["encode", str(src), "-o", str(tmp_path / "enc") + "/"]) == 0
    assert (tmp_path / "enc" / "a.log.omc").is_file()
    assert main(["decode", str(tmp_path / "enc" / "a.log.omc"), "-o", str(tmp_path / "dec") + "/"]) == 0
    assert (tmp_path / "dec" / "a.log").read_bytes() == b"one line\n" * 20
