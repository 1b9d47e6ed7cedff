"""Files <-> codec items: modality sniffing, readers and writers.

Sniffing looks at magic bytes first and the extension second; anything unrecognised is bytes,
so every file can be compressed losslessly.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

from .. import limits
from ..codecs.base import Bytes, Image, Item, Video
from ..errors import UnsupportedInputError

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff", ".ppm", ".pgm",
              ".pnm", ".tga", ".avif", ".qoi"}
AUDIO_EXTS = {".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aiff", ".aif", ".au", ".caf"}
VIDEO_EXTS = {".y4m", ".mp4", ".mkv", ".webm", ".mov", ".avi"}
# formats a decoded item can be written back to without loss, per modality
WRITABLE = {"image": {".png", ".webp", ".tif", ".tiff", ".bmp", ".ppm", ".pgm"},
            "audio": {".wav", ".flac", ".aiff", ".aif"}, "video": {".y4m", ".mkv"}}
DEFAULT_EXT = {"image": ".png", "audio": ".wav", "video": ".y4m"}


def sniff(head: bytes, ext: str) -> str:
    """The modality of a file from its first bytes and its extension."""
    if head.startswith(b"YUV4MPEG2"):
        return "video"
    if head.startswith((b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"BM", b"II*\0", b"MM\0*", b"qoif")):
        return "image"
    if head[:4] == b"RIFF" and head[8:12] in (b"WEBP", b"AVI "):
        return "image" if head[8:12] == b"WEBP" else "video"
    if (head[:4] == b"RIFF" and head[8:12] == b"WAVE") or head.startswith((b"fLaC", b"OggS", b"ID3")):
        return "audio"
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "audio"
    if head[4:8] == b"ftyp":
        return "image" if head[8:12] in (b"avif", b"avis", b"heic", b"mif1") else "video"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video"
    for modality, exts in (("image", IMAGE_EXTS), ("audio", AUDIO_EXTS), ("video", VIDEO_EXTS)):
        if ext in exts:
            return modality
    return "bytes"


def read_item(path: str | os.PathLike, modality: str | None = None) -> Item:
    """Read a file as an item of its sniffed (or the given) modality."""
    path = Path(path)
    data = path.read_bytes()
    modality = modality or sniff(data[:64], path.suffix.lower())
    if modality == "bytes":
        return Bytes(data)
    if modality == "image":
        return _read_image(data)
    if modality == "audio":
        from ..codecs.sndfile_audio import read_audio

        try:
            return read_audio(data)
        except RuntimeError as exc:  # soundfile.LibsndfileError
            raise UnsupportedInputError(f"cannot read {path.name} as audio: {exc}") from None
    if modality == "video":
        from . import y4m

        return y4m.parse(data) if data.startswith(y4m.MAGIC) else _read_video_av(data, path.name)
    raise UnsupportedInputError(f"unknown modality {modality!r}")


def _read_image(data: bytes) -> Image:
    from PIL import Image as PILImage

    from ..codecs.pillow_image import from_pil

    try:
        with PILImage.open(io.BytesIO(data)) as im:
            limits.check_pixels(*im.size)
            im.load()
            return from_pil(im)
    except (OSError, SyntaxError, PILImage.DecompressionBombError) as exc:
        raise UnsupportedInputError(f"cannot read image: {exc}") from None


def _read_video_av(data: bytes, name: str) -> Video:
    """Decode the first video stream of an mp4/mkv/... to 8-bit planar YUV."""
    import av
    import numpy as np

    from .y4m import chroma_shape

    try:
        with av.open(io.BytesIO(data)) as box:
            vs = box.streams.video[0]
            rate = vs.average_rate or vs.guessed_rate or 30
            fmt = "yuv444p" if vs.codec_context.pix_fmt in ("yuv444p", "yuvj444p") else "yuv420p"
            planes: list[list[np.ndarray]] = [[], [], []]
            for frame in box.decode(vs):
                limits.check_video(frame.width, frame.height, len(planes[0]) + 1)
                frame = frame.reformat(format=fmt)
                ch, cw = chroma_shape(fmt, frame.height, frame.width)
                for i, (p, (h, w)) in enumerate(zip(frame.planes, ((frame.height, frame.width), (ch, cw), (ch, cw)))):
                    planes[i].append(np.frombuffer(p, np.uint8).reshape(-1, p.line_size)[:h, :w].copy())
    except (av.FFmpegError, IndexError) as exc:
        raise UnsupportedInputError(f"cannot read {name} as video: {exc}") from None
    if not planes[0]:
        raise UnsupportedInputError(f"{name} holds no video frames")
    return Video(tuple(np.stack(p) for p in planes), (rate.numerator, rate.denominator), fmt)


def write_item(item: Item, path: Path) -> None:
    """Write ``item`` to ``path`` in the format its extension names (see WRITABLE)."""
    ext = path.suffix.lower()
    if item.modality == "bytes":
        path.write_bytes(item.data)
        return
    if ext not in WRITABLE[item.modality]:
        raise UnsupportedInputError(
            f"cannot write {item.modality} as {ext or 'a file without extension'}; use one of "
            f"{', '.join(sorted(WRITABLE[item.modality]))}")
    if item.modality == "image":
        from ..codecs.pillow_image import to_pil

        args = {"lossless": True, "exact": True} if ext == ".webp" else {}
        to_pil(item).save(path, format=None if ext != ".webp" else "WEBP", **args)
    elif item.modality == "audio":
        import soundfile as sf

        fmt = {".wav": "WAV", ".flac": "FLAC", ".aiff": "AIFF", ".aif": "AIFF"}[ext]
        subtype = item.subtype if sf.check_format(fmt, item.subtype) else None
        sf.write(path, item.samples, item.sample_rate, subtype=subtype, format=fmt)
    elif ext == ".y4m":
        from .y4m import serialize

        path.write_bytes(serialize(item))
    else:
        from ..codecs.av_video import FFV1

        path.write_bytes(FFV1().encode(item)["DATA"])
