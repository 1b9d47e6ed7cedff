"""Items <-> the media libraries (Pillow, libsndfile, PyAV): the conversions that both the file
readers/writers (:mod:`.files`) and the codecs built on these libraries use.  Each library is
imported where it is first needed.
"""

from __future__ import annotations

import io
import re
from collections import deque
from fractions import Fraction
from typing import Iterator

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
    _, h, w = item.planes[0].shape
    out = io.BytesIO()
    # bitexact: no random segment UID, no muxing date: the same input gives the same bytes
    with av.open(out, "w", format="matroska", options={"fflags": "+bitexact"}) as box:
        stream = box.add_stream(encoder, rate=Fraction(*item.fps))
        stream.width, stream.height, stream.pix_fmt = w, h, pix_fmt
        stream.codec_context.time_base = Fraction(item.fps[1], item.fps[0])
        stream.options = options
        muxed: deque = deque(maxlen=8)  # (pts, dts) of the last packets, named if the muxer refuses one
        for frame in _av_frames(item, pix_fmt):
            packets = stream.encode(frame)
            try:
                box.mux(packets)
            except av.error.FFmpegError as exc:  # seen once under load (x265, EINVAL): say what it was given
                exc.add_note(f"{encoder}: last packets muxed (pts, dts): {list(muxed)}; refused: "
                             f"{[(p.pts, p.dts) for p in packets]}")
                raise
            muxed.extend((p.pts, p.dts) for p in packets)
    return out.getvalue()


def _av_frames(item: items.Video, pix_fmt: str) -> Iterator:
    """The item's frames as PyAV frames in ``pix_fmt`` (pts = frame index), then None (an
    encoder's flush)."""
    import av

    y, u, v = item.planes
    t, h, w = y.shape
    for i in range(t):
        frame = av.VideoFrame(w, h, item.pix_fmt)
        for plane, data in zip(frame.planes, (y[i], u[i], v[i])):
            write_plane(plane, data)
        frame = frame if pix_fmt == item.pix_fmt else frame.reformat(format=pix_fmt)
        frame.pts = i
        yield frame
    yield None


def _decode_times(pts: list[int]) -> list[int]:
    """Decode timestamps for packets of presentation times ``pts`` (in decode order), which a
    container such as Matroska does not keep: the presentation times in order, shifted back by
    the reordering delay so that none comes after its packet's presentation time."""
    order = sorted(pts)
    delay = max(0, max((t - p for t, p in zip(order, pts)), default=0))
    return [t - delay for t in order]


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
        out = io.BytesIO()
        with av.open(out, "w", format=fmt, options={"fflags": "+bitexact"}) as box:
            copy = box.add_stream_from_template(stream, opaque=True)
            for dts, packet in zip(_decode_times([p.pts for p in packets]), packets):
                packet.dts, packet.stream = dts, copy
                box.mux(packet)
    return out.getvalue()


def ffmpeg_version() -> str:
    """FFmpeg's codec library and its version ("libavcodec 62.28.102")."""
    import av

    return "libavcodec " + ".".join(map(str, av.library_versions["libavcodec"]))


# the version x264 and x265 state in an SEI unit of their first access unit, which
# ``elementary`` leaves out of the stream: kind -> (name, the pattern of its version)
_BANNERS = {"h264": ("x264", re.compile(rb"x264 - (core \d+(?: r\d+)?)")),
            "hevc": ("x265", re.compile(rb"x265 \(build \d+\) - ([\w.+-]+)"))}


# elementary streams: kind -> (FFmpeg's decoder, FFmpeg's raw demuxer)
ELEMENTARY = {"h264": ("h264", "h264"), "hevc": ("hevc", "hevc"), "av1": ("libdav1d", "obu")}


def elementary(item: items.Video, encoder: str, pix_fmt: str, options: dict[str, str],
               kind: str) -> tuple[bytes, str]:
    """``item`` encoded by FFmpeg's ``encoder`` into an elementary stream of ``kind`` (a raw
    .264/.265 Annex B or .obu file: parameter sets in-band, no container), SEI units left out
    (x264 writes its settings there, x265 its build; no decoder needs them), and the encoder's
    version as its SEI states it ("" if none does)."""
    import os

    import av

    os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 prints its config to stderr otherwise
    _, h, w = item.planes[0].shape
    ctx = av.CodecContext.create(encoder, "w")
    ctx.width, ctx.height, ctx.pix_fmt = w, h, pix_fmt
    ctx.time_base, ctx.framerate = Fraction(item.fps[1], item.fps[0]), Fraction(*item.fps)
    ctx.options = options
    out, version = [], ""
    for frame in _av_frames(item, pix_fmt):
        for packet in ctx.encode(frame):
            data, sei = (bytes(packet), []) if kind == "av1" else _without_sei(bytes(packet), kind)
            out.append(data)
            for unit in sei:
                found = _BANNERS[kind][1].search(unit)
                version = version or (found and f"{_BANNERS[kind][0]} {found[1].decode()}")
    return b"".join(out), version or ""


def _without_sei(data: bytes, kind: str) -> tuple[bytes, list[bytes]]:
    """An Annex B access unit with its SEI NAL units (H.264 type 6, HEVC 39 and 40) left out,
    each remaining unit behind a 4-byte start code; and the SEI units left out."""
    units = data.split(b"\x00\x00\x01")[1:]  # a unit never holds 00 00 01 (emulation prevention)
    kept, sei = [], []
    for n, unit in enumerate(units):
        unit = unit[:-1] if n + 1 < len(units) and unit.endswith(b"\x00") else unit  # 4-byte code
        kind_of = unit[0] & 0x1F if kind == "h264" else (unit[0] >> 1) & 0x3F
        if (kind == "h264" and kind_of == 6) or (kind == "hevc" and kind_of in (39, 40)):
            sei.append(unit)
        else:
            kept.append(b"\x00\x00\x00\x01" + unit)
    return b"".join(kept), sei


def elementary_decoder(kind: str, width: int, height: int):
    """A decoder for an elementary stream of ``kind`` that refuses frames much larger than
    ``width`` x ``height`` before allocating them (FFmpeg's max_pixels, which dav1d takes as
    its frame size limit): a forged sequence header cannot make it decode a giant frame."""
    import av

    ctx = av.CodecContext.create(ELEMENTARY[kind][0], "r")
    ctx.options = {"max_pixels": str((width + 128) * (height + 128))}  # coded sizes pad to 64-px blocks
    if kind == "av1":  # one thread: dav1d's thread pool, freed after a decode error, could wait forever
        ctx.options = {**ctx.options, "threads": "1"}
    return ctx


def access_units(data: bytes, kind: str) -> list:
    """The packets (access units, AV1 temporal units) of an elementary stream, in decode
    order, as PyAV packets: H.264/HEVC split by FFmpeg's parser, AV1 at its temporal
    delimiters (each OBU has its size field, as encoders write them)."""
    import av

    if kind != "av1":
        ctx = av.CodecContext.create(ELEMENTARY[kind][0], "r")
        return ctx.parse(data) + ctx.parse(None)
    starts, at = [], 0
    while at < len(data):
        header = data[at]
        if not header & 0x02:
            raise UnsupportedInputError("an AV1 OBU without a size field")
        if (header >> 3) & 0xF == 2:  # temporal delimiter
            starts.append(at)
        at += 1 + ((header >> 2) & 1)  # the header, and its extension byte
        size = shift = 0
        while True:  # leb128
            byte = data[at]
            size, at, shift = size | (byte & 0x7F) << shift, at + 1, shift + 7
            if not byte & 0x80:
                break
        at += size
    if not starts or starts[0] != 0:
        raise UnsupportedInputError("an AV1 stream that does not start with a temporal delimiter")
    return [av.Packet(data[a:b]) for a, b in zip(starts, starts[1:] + [len(data)])]


def elementary_container(data: bytes, kind: str, size: tuple[int, int], fps: tuple[int, int], fmt: str) -> bytes:
    """An elementary stream in a container (``fmt``: "matroska", "mp4"), its packets copied.
    The stream holds no timestamps: a decode of it gives the presentation order and the key
    frames, and the decode timestamps are the presentation times in order, shifted back by
    the reordering delay."""
    import av

    packets = access_units(data, kind)
    ctx = elementary_decoder(kind, *size)
    shown, keys = [], set()  # decode index of each frame in presentation order; key frames
    for n, packet in enumerate(packets + [None]):
        if packet is not None:
            packet.pts = n
        for frame in ctx.decode(packet):
            shown.append(frame.pts)
            if frame.key_frame:
                keys.add(frame.pts)
    if sorted(shown) != list(range(len(packets))):
        raise UnsupportedInputError("the stored stream does not decode one frame per access unit")
    pts = [0] * len(packets)
    for at, n in enumerate(shown):
        pts[n] = at
    rate = Fraction(fps[1], fps[0])
    out = io.BytesIO()
    with av.open(io.BytesIO(data), format=ELEMENTARY[kind][1]) as src, \
            av.open(out, "w", format=fmt, options={"fflags": "+bitexact"}) as box:
        stream = box.add_stream_from_template(src.streams.video[0], opaque=True)
        stream.time_base = rate
        for n, (packet, dts) in enumerate(zip(packets, _decode_times(pts))):  # the packets decoded above
            packet.pts, packet.dts, packet.time_base, packet.stream = pts[n], dts, rate, stream
            packet.duration = 1  # one frame: the last one too (MP4 edit lists end where durations do)
            packet.is_keyframe = n in keys
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
