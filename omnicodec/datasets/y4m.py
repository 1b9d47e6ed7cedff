"""YUV4MPEG2 (.y4m) reader and writer: 4:2:0, 4:2:2 and 4:4:4 at 8, 10, 12 and 16 bits.

    YUV4MPEG2 W<w> H<h> F<num>:<den> [I.] [A.:.] [C420jpeg|C420mpeg2|C420paldv|C420|C422|C444|
              C420p10|C422p10|C444p10|...p12|...p16] [X...]\\n
    then per frame: FRAME[ params]\\n Y plane, U plane, V plane (16-bit samples little-endian)

Sizes are checked against ``omnicodec.limits`` before any frame buffer is allocated.  The
stream header line, and the frame header lines when any is not a bare ``FRAME``, are kept as side
data (``y4mh``), so that :func:`serialize` restores the file byte for byte.
"""

from __future__ import annotations

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


def parse(data: bytes) -> Video:
    """Parse a whole .y4m byte string."""
    end = data.find(b"\n")
    if not data.startswith(MAGIC) or end < 0:
        raise UnsupportedInputError("not a YUV4MPEG2 stream")
    fields = {t[:1]: t[1:] for t in data[len(MAGIC):end].decode("ascii", "replace").split()}
    try:
        w, h = int(fields["W"]), int(fields["H"])
        num, den = (int(x) for x in fields.get("F", "30:1").split(":"))
    except (KeyError, ValueError):
        raise UnsupportedInputError("y4m header lacks a valid W, H or F field") from None
    chroma = fields.get("C", "420jpeg")
    if chroma not in _CHROMA:
        raise UnsupportedInputError(f"y4m colour space C{chroma} is not supported "
                                    "(4:2:0, 4:2:2 and 4:4:4 at 8 to 16 bits are)")
    pix_fmt = _CHROMA[chroma]
    limits.check_pixels(w, h)
    ch, cw = chroma_shape(pix_fmt, h, w)
    dtype = np.dtype(PIX_FMTS[pix_fmt][2]).newbyteorder("<")
    frame_bytes = (w * h + 2 * ch * cw) * dtype.itemsize
    pos, frames, lines = end + 1, [], []
    while pos < len(data):
        nl = data.find(b"\n", pos, pos + 256)
        if not data.startswith(b"FRAME", pos) or nl < 0:
            raise CorruptStreamError(f"y4m frame {len(frames)} does not start with FRAME")
        lines.append(data[pos:nl + 1])
        pos = nl + 1
        if pos + frame_bytes > len(data):
            raise CorruptStreamError(f"y4m frame {len(frames)} is truncated")
        frames.append(np.frombuffer(data, np.uint8, frame_bytes, pos))
        pos += frame_bytes
    if not frames:
        raise UnsupportedInputError("y4m file holds no frames")
    limits.check_video(w, h, len(frames) * dtype.itemsize)
    stack = np.stack(frames).view(dtype).astype(dtype.name)
    y = stack[:, : w * h].reshape(-1, h, w)
    u = stack[:, w * h: w * h + ch * cw].reshape(-1, ch, cw)
    v = stack[:, w * h + ch * cw:].reshape(-1, ch, cw)
    side = data[:end + 1] + (b"".join(lines) if any(x != b"FRAME\n" for x in lines) else b"")
    return Video((y.copy(), u.copy(), v.copy()), (num, den), pix_fmt, extra={"y4mh": side})


def serialize(video: Video) -> bytes:
    """The .y4m bytes of a video (C420jpeg or C444)."""
    t, h, w = video.planes[0].shape
    head = f"YUV4MPEG2 W{w} H{h} F{video.fps[0]}:{video.fps[1]} Ip A1:1 C{_TAG[video.pix_fmt]}\n".encode()
    lines = [b"FRAME\n"] * t
    side = video.extra.get("y4mh")
    if side:  # the original header, and frame lines if they were not all bare
        if not side.startswith(MAGIC) or b"\n" not in side:
            raise CorruptStreamError("y4m side data is damaged")
        cut = side.index(b"\n") + 1
        head, rest = side[:cut], [x + b"\n" for x in side[cut:].split(b"\n")[:-1]]
        if rest:
            if len(rest) != t:
                raise CorruptStreamError(f"y4m side data has {len(rest)} frame lines for {t} frames")
            lines = rest
    parts = [head]
    for i in range(t):
        parts += [lines[i]] + [p[i].astype(p.dtype.newbyteorder("<")).tobytes() for p in video.planes]
    return b"".join(parts)
