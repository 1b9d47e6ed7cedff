"""YUV4MPEG2 (.y4m) reader and writer: 4:2:0, 4:2:2 and 4:4:4 at 8, 10, 12 and 16 bits.

    YUV4MPEG2 W<w> H<h> F<num>:<den> [I.] [A.:.] [C420jpeg|C420mpeg2|C420paldv|C420|C422|C444|
              C420p10|C422p10|C444p10|...p12|...p16] [X...]\\n
    then per frame: FRAME[ params]\\n Y plane, U plane, V plane (16-bit samples little-endian)

Sizes are checked against ``omnicodec.limits`` before any frame buffer is allocated.  The
stream header line, and the frame header lines when any is not a bare ``FRAME``, are kept as side
data (``y4mh``), so that :func:`serialize` restores the file byte for byte.
"""

from __future__ import annotations

import io
from typing import BinaryIO, Iterable, Iterator

import numpy as np

from .. import limits
from ..errors import CorruptStreamError, UnsupportedInputError
from ..items import PIX_FMTS, Video, chroma_shape

MAGIC = b"YUV4MPEG2 "
_CHROMA = {"420": "yuv420p", "420jpeg": "yuv420p", "420mpeg2": "yuv420p", "420paldv": "yuv420p",
           "422": "yuv422p", "444": "yuv444p",
           **{f"{c}p{b}": f"yuv{c}p{b}le" for c in ("420", "422", "444") for b in (10, 12, 16)}}
_TAG = {**{v: k for k, v in _CHROMA.items() if not k.startswith("420")}, "yuv420p": "420jpeg",
        **{f"yuv420p{b}le": f"420p{b}" for b in (10, 12, 16)}}


class Reader:
    """A y4m stream read frame by frame from a binary file: the stream header's fields at
    construction (checked against the pixel caps), then ``frames()`` one (Y, U, V) at a time;
    ``side()`` is the side data once the frames are read."""

    def __init__(self, f: BinaryIO):
        self.f = f
        self.head = f.readline(1 << 16)
        if not self.head.startswith(MAGIC) or not self.head.endswith(b"\n"):
            raise UnsupportedInputError("not a YUV4MPEG2 stream")
        fields = {t[:1]: t[1:] for t in self.head[len(MAGIC):-1].decode("ascii", "replace").split()}
        try:
            self.width, self.height = int(fields["W"]), int(fields["H"])
            self.fps = tuple(int(x) for x in fields.get("F", "30:1").split(":"))
            if len(self.fps) != 2:
                raise ValueError
        except (KeyError, ValueError):
            raise UnsupportedInputError("y4m header lacks a valid W, H or F field") from None
        chroma = fields.get("C", "420jpeg")
        if chroma not in _CHROMA:
            raise UnsupportedInputError(f"y4m colour space C{chroma} is not supported "
                                        "(4:2:0, 4:2:2 and 4:4:4 at 8 to 16 bits are)")
        self.pix_fmt = _CHROMA[chroma]
        limits.check_pixels(self.width, self.height)
        self.lines: list[bytes] = []

    def frames(self) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        w, h = self.width, self.height
        ch, cw = chroma_shape(self.pix_fmt, h, w)
        dtype = np.dtype(PIX_FMTS[self.pix_fmt][2]).newbyteorder("<")
        frame_bytes = (w * h + 2 * ch * cw) * dtype.itemsize
        while line := self.f.readline(256):
            if not line.startswith(b"FRAME") or not line.endswith(b"\n"):
                raise CorruptStreamError(f"y4m frame {len(self.lines)} does not start with FRAME")
            self.lines.append(line)
            raw = self.f.read(frame_bytes)
            if len(raw) != frame_bytes:
                raise CorruptStreamError(f"y4m frame {len(self.lines) - 1} is truncated")
            flat = np.frombuffer(raw, dtype).astype(dtype.name)
            yield (flat[:w * h].reshape(h, w), flat[w * h:w * h + ch * cw].reshape(ch, cw),
                   flat[w * h + ch * cw:].reshape(ch, cw))

    def side(self) -> bytes:
        """The stream header line, and the frame lines when any is not a bare FRAME."""
        return self.head + (b"".join(self.lines) if any(x != b"FRAME\n" for x in self.lines) else b"")

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc) -> None:
        pass


def parse(data: bytes) -> Video:
    """Parse a whole .y4m byte string."""
    reader = Reader(io.BytesIO(data))
    planes: list[list[np.ndarray]] = [[], [], []]
    for frame in reader.frames():
        limits.check_video(reader.width, reader.height, (len(planes[0]) + 1) * frame[0].itemsize)
        for plane, p in zip(planes, frame):
            plane.append(p)
    if not planes[0]:
        raise UnsupportedInputError("y4m file holds no frames")
    return Video(tuple(np.stack(p) for p in planes), reader.fps, reader.pix_fmt, extra={"y4mh": reader.side()})


def serialize(video: Video) -> bytes:
    """The .y4m bytes of a video (C420jpeg or C444)."""
    out = io.BytesIO()
    write(out, video.meta(), zip(*video.planes), video.extra.get("y4mh"))
    return out.getvalue()


def side_range(side: bytes, frames: int, start: int, stop: int) -> bytes:
    """``y4mh`` side data of a clip of ``frames`` frames, cut to frames ``start`` to ``stop``
    (its header line, and those frames' lines if it has frame lines)."""
    if not side.startswith(MAGIC) or b"\n" not in side:
        raise CorruptStreamError("y4m side data is damaged")
    cut = side.index(b"\n") + 1
    lines = side[cut:].split(b"\n")[:-1]
    if lines and len(lines) != frames:
        raise CorruptStreamError(f"y4m side data has {len(lines)} frame lines for {frames} frames")
    return side[:cut] + b"".join(x + b"\n" for x in lines[start:stop])


def write(out: BinaryIO, meta: dict, frames: Iterable[tuple[np.ndarray, ...]], side: bytes | None) -> None:
    """A video's .y4m to ``out``, frame by frame: ``meta`` as ``Video.meta()`` gives it,
    ``side`` its ``y4mh`` side data (the original header line and frame lines) or None."""
    t, (w, h), fps = meta["frames"], (meta["width"], meta["height"]), meta["fps"]
    head = f"YUV4MPEG2 W{w} H{h} F{fps[0]}:{fps[1]} Ip A1:1 C{_TAG[meta['pix_fmt']]}\n".encode()
    lines = None
    if side:  # the original header, and frame lines if they were not all bare
        if not side.startswith(MAGIC) or b"\n" not in side:
            raise CorruptStreamError("y4m side data is damaged")
        cut = side.index(b"\n") + 1
        head, rest = side[:cut], [x + b"\n" for x in side[cut:].split(b"\n")[:-1]]
        if rest:
            if len(rest) != t:
                raise CorruptStreamError(f"y4m side data has {len(rest)} frame lines for {t} frames")
            lines = rest
    out.write(head)
    for i, planes in enumerate(frames):
        out.write(lines[i] if lines else b"FRAME\n")
        for p in planes:
            out.write(p.astype(p.dtype.newbyteorder("<")).tobytes())
