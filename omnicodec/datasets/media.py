"""Items <-> the media libraries (Pillow, libsndfile, PyAV): the conversions that both the file
readers/writers (:mod:`.files`) and the codecs built on these libraries use.  Each library is
imported where it is first needed.
"""

from __future__ import annotations

import io
from fractions import Fraction

import numpy as np

from .. import items, limits
from ..errors import UnsupportedInputError
from ..items import AUDIO_SUBTYPES


# ---------------------------------------------------------------------------------- Pillow
def to_pil(item: items.Image):
    """An Image item as a Pillow image (palette indices get a grey ramp: the file's own
    palette is side data)."""
    from PIL import Image

    a = item.pixels
    if item.mode == "I;16":
        return Image.fromarray(a[:, :, 0].astype("<u2"))  # uint16 -> mode I;16
    if item.mode == "F":
        return Image.fromarray(a[:, :, 0], "F")
    if item.mode == "P":  # indices with a grey ramp; the file's own palette is side data
        im = Image.fromarray(a[:, :, 0], "P")
        im.putpalette(bytes(np.repeat(np.arange(256, dtype=np.uint8), 3)))
        return im
    if item.mode not in ("L", "LA", "RGB", "RGBA", "CMYK"):
        raise UnsupportedInputError(f"Pillow cannot hold mode {item.mode}")
    return Image.fromarray(a[:, :, 0] if a.shape[2] == 1 else a, item.mode)


_CONVERT = {"P": None, "PA": "RGBA", "1": "L", "YCbCr": "RGB", "LAB": "RGB", "HSV": "RGB",
            "La": "LA", "RGBa": "RGBA", "RGBX": "RGB", "I;16B": "I;16", "I;16L": "I;16", "I;16N": "I;16"}


def from_pil(im, allow_loss: bool = True, indices: bool = False) -> items.Image:
    """Pillow image -> Image item.  Modes an item holds as they are (L, LA, RGB, RGBA, CMYK,
    I;16, F, and I within 16 bits) are kept; palette images keep their indices with
    ``indices`` (mode P); others (palette, 1-bit, YCbCr...) are converted only with
    ``allow_loss`` (palette -> RGB(A), 1-bit -> L), else refused."""
    from PIL import Image

    exact_same = {"I;16B", "I;16L", "I;16N"}
    if im.mode == "P" and indices:
        return items.Image(np.ascontiguousarray(np.asarray(im)), "P")
    if im.mode in _CONVERT:
        target = _CONVERT[im.mode] or ("RGBA" if "transparency" in im.info else "RGB")
        if not allow_loss and im.mode not in exact_same:
            raise UnsupportedInputError(f"image mode {im.mode} would be stored as {target}")
        im = im.convert(target)
    elif im.mode == "I":
        lo, hi = im.getextrema()
        if not (lo >= 0 and hi < 65536):
            raise UnsupportedInputError("32-bit integer images outside 0..65535 are not supported")
        im = Image.fromarray(np.asarray(im).astype("<u2"), "I;16")
    if im.mode not in ("L", "LA", "RGB", "RGBA", "CMYK", "I;16", "F"):
        raise UnsupportedInputError(f"image mode {im.mode} is not supported")
    return items.Image(np.ascontiguousarray(np.asarray(im)), im.mode)


def wide_png(item: items.Image, level: int) -> bytes:
    """A PNG of a 16-bit multi-channel image (LA;16, RGB;16, RGBA;16), which Pillow cannot
    write, through libpng (imagecodecs)."""
    import imagecodecs

    return imagecodecs.png_encode(item.pixels, level=level)


# ------------------------------------------------------------------------------- libsndfile
def read_audio(data: bytes | str, allow_loss: bool = True) -> items.Audio:
    """Decode any libsndfile-readable file (path or bytes) to an Audio item.  Compressed
    formats (FLAC, Ogg, MP3...) decode to float32 unless their subtype is PCM; without
    ``allow_loss`` a file with tags (which the item would not keep) is refused."""
    import soundfile as sf

    src = io.BytesIO(data) if isinstance(data, (bytes, bytearray)) else data
    with sf.SoundFile(src) as f:
        limits.check_samples(f.frames, f.channels)
        if not allow_loss and f.copy_metadata():
            raise UnsupportedInputError(f"reading it as samples would lose its tags ({', '.join(f.copy_metadata())})")
        subtype = f.subtype if f.subtype in AUDIO_SUBTYPES else "FLOAT"
        samples = f.read(dtype=AUDIO_SUBTYPES[subtype], always_2d=True)
        return items.Audio(samples, f.samplerate, subtype)

# ------------------------------------------------------------------------------------ PyAV
FFV1_OPTIONS = {"level": "3", "coder": "1", "context": "1", "g": "1", "slicecrc": "1"}


def mkv(item: items.Video, encoder: str, pix_fmt: str, options: dict[str, str]) -> bytes:
    """A Matroska file of ``item`` encoded by FFmpeg's ``encoder`` in ``pix_fmt`` (the item's
    own, or one FFmpeg converts it to) with the encoder's ``options``."""
    import os

    import av

    os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 prints its config to stderr otherwise
    y, u, v = item.planes
    t, h, w = y.shape
    out = io.BytesIO()
    # bitexact: no random segment UID, no muxing date: the same input gives the same bytes
    with av.open(out, "w", format="matroska", options={"fflags": "+bitexact"}) as box:
        stream = box.add_stream(encoder, rate=Fraction(*item.fps))
        stream.width, stream.height, stream.pix_fmt = w, h, pix_fmt
        stream.codec_context.time_base = Fraction(item.fps[1], item.fps[0])
        stream.options = options
        for i in range(t):
            frame = av.VideoFrame(w, h, item.pix_fmt)
            for plane, data in zip(frame.planes, (y[i], u[i], v[i])):
                write_plane(plane, data)
            frame = frame if pix_fmt == item.pix_fmt else frame.reformat(format=pix_fmt)
            frame.pts = i
            box.mux(stream.encode(frame))
        box.mux(stream.encode(None))
    return out.getvalue()


def remux(data: bytes, fmt: str) -> bytes:
    """The video stream of a Matroska file in another container (``fmt``: FFmpeg's name, e.g.
    "mp4"), packets copied, not re-encoded (ffmpeg's ``-c copy``).  Matroska keeps no decode
    timestamps, so they are rebuilt: the presentation times in order, shifted back by the
    stream's reordering delay."""
    import av

    with av.open(io.BytesIO(data)) as src:
        stream = src.streams.video[0]
        packets = [p for p in src.demux(stream) if p.size]
        if any(p.pts is None for p in packets):
            raise UnsupportedInputError("the stored video has packets without timestamps; it cannot be remuxed")
        order = sorted(p.pts for p in packets)
        delay = max(0, max(t - p.pts for t, p in zip(order, packets)))
        out = io.BytesIO()
        with av.open(out, "w", format=fmt, options={"fflags": "+bitexact"}) as box:
            copy = box.add_stream_from_template(stream)
            for t, packet in zip(order, packets):
                packet.dts = t - delay
                packet.stream = copy
                box.mux(packet)
    return out.getvalue()


def write_plane(plane, data: np.ndarray) -> None:
    """Fill a PyAV frame plane with an h × w array (16-bit samples little-endian)."""
    h, w = data.shape
    buf = np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)[:h, :w * data.dtype.itemsize]
    buf[:] = np.ascontiguousarray(data, data.dtype.newbyteorder("<")).view(np.uint8)


def read_plane(plane, h: int, w: int, dtype) -> np.ndarray:
    """An h × w plane of a PyAV frame, in ``dtype`` (16-bit samples are little-endian)."""
    dt = np.dtype(dtype).newbyteorder("<")
    rows = np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)[:h, :w * dt.itemsize]
    return np.ascontiguousarray(rows).view(dt).astype(dtype)
