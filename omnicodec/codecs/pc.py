"""pc: lossless coding of 8-bit grayscale digits with a probabilistic circuit (Liu, Mandt and
Van den Broeck, "Lossless Compression with Probabilistic Circuits", ICLR 2022).

    Image L, a grid of H x W tiles (the model's size: 28 x 28, MNIST)
      ─► tiles ─► kernels/pc.bounds: each pixel's exact conditional given the pixels coded
                  before it, in the HCLT's depth-first order, as a 24-bit CDF interval
      ─► lane rANS (entropy/lanes.py), up to 16 lanes of whole tiles ─► DATA
    decode: DATA ─► kernels/pc.decode (conditionals and rANS interleaved, lanes in parallel)

Model: ``omnicodec.models.pc`` (an HCLT), trained by ``codec train pc`` on MNIST with
mini-batch EM (docs/training.md); its float parameters become integer tables when loaded
(``models.pc.tables``), and everything after is exact integer arithmetic, so every machine and
thread count decodes the same pixels.

Config: the learned codecs' fields; ``quality`` is ignored (lossless) and ``coder``/``lanes``
must stay at their defaults (the lane count follows the tile count).

Out of domain: only 8-bit grayscale images whose sides are multiples of the model's tile are
coded (anything else is refused with the reason: use png or jxl-lossless).  An image the
model codes worse than PNG would (not a digit) is stored as that PNG instead, section
``PNGF`` in place of ``DATA``, so pc is never larger than ``png -compress_level 9`` plus the
header.

Payload layout: ``DATA`` is the lane format of ``entropy/lanes.py`` with ``lanes_for(tiles)``
lanes (the largest divisor of the tile count up to 16); tile j (row by row) is on lane
``j % lanes`` and a lane's tiles follow each other: symbol ``(k·D + t)·lanes + L`` is pixel
``order[t]`` (its row-major index in the tile) of tile ``k·lanes + L``, ``order`` the tree's
depth-first order (children by increasing index).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .. import limits
from ..errors import CorruptStreamError
from ..items import Image
from .base import check_image_meta, section
from .learned import LearnedCodec, image_tiles, tiles_image

LANES = 16  # the most lanes a stream is split into (each costs 12 bytes; see lanes_for)


class Inference:
    """An artefact's integer tables and tile size."""

    def __init__(self, art):
        from ..models.pc import tables

        cfg = art["config"]
        self.height, self.width = int(cfg["height"]), int(cfg["width"])
        t = tables(art)
        if t["parent"].size != self.height * self.width:
            raise ValueError("the tree does not cover the tile")
        self.args = tuple(np.ascontiguousarray(t[k]) for k in ("prior", "trans", "up", "emit", "parent", "order"))
        self.hidden = int(cfg["hidden"])

    def work(self, pixels: int) -> int:
        """A job's size for the kernels' NumPy-or-numba choice (``kernels.chosen``): a pixel
        costs about H²/16 of the cheap kernels' items."""
        return pixels * self.hidden ** 2 // 16


@dataclass
class PC(LearnedCodec):
    codec_id: ClassVar[str] = "pc"
    modality: ClassVar[str] = "image"
    lossless: ClassVar[bool] = True
    description: ClassVar[str] = "probabilistic circuit (HCLT): lossless 28x28 grey digits (MNIST) and grids of them"
    network: ClassVar[str] = "omnicodec.models.pc:HCLT"
    weights_file: ClassVar[str] = "pc-hclt32x64-3500.pt"
    decode_fixed_bytes: ClassVar[int] = 160 << 20  # the integer tables (52 MB at H=32) and their loading
    decode_pixel_bytes: ClassVar[int] = 8

    def __post_init__(self):
        super().__post_init__()
        if self.coder != "ans" or self.lanes:
            raise ValueError("pc always writes the lane format (coder 'ans', its lanes set by the tile count)")

    @classmethod
    def build(cls, art):
        return Inference(art)

    def supports(self, item):
        if item.modality != "image":
            return f"pc encodes images, not {item.modality}"
        h, w = item.pixels.shape[:2]
        if h * w > limits.MAX_LEARNED_PIXELS:
            return f"pc decodes at most {limits.MAX_LEARNED_PIXELS} pixels; this image has {h * w}"
        return _off_grid(item.meta(), self.model())

    def check_stream(self, meta):
        """The caps and the mode, before the model loads (the grid is checked after)."""
        w, h = check_image_meta(meta)
        limits.check_learned_pixels(w, h)
        if meta.get("mode") != "L":
            raise CorruptStreamError(f"pc: the header's mode {meta.get('mode')!r} is not grayscale")

    def encode(self, item):
        from ..entropy.lanes import LaneEncoder
        from ..kernels import kernel
        from ..kernels.pc import lane_order
        from .learned import _png

        self.check_supports(item)
        model = self.model()
        h, w = item.pixels.shape[:2]
        grid = (h // model.height, w // model.width, model.height, model.width)
        tiles = image_tiles(item.pixels, grid).reshape(grid[0] * grid[1], -1)
        start, freq = kernel("pc", "bounds", size=model.work(tiles.size))(tiles, *model.args)
        n = lanes_for(len(tiles))
        lanes = LaneEncoder(n)
        lanes.push(lane_order(start, n), lane_order(freq, n))
        data = lanes.finish()
        png = _png(item.pixels[:, :, 0])
        return {"DATA": data} if len(data) < len(png) else {"PNGF": png}

    def decode_checked(self, sections, meta):
        from ..entropy.lanes import LaneDecoder
        from ..kernels import kernel

        w, h = int(meta["width"]), int(meta["height"])
        if "PNGF" in sections:
            return Image(_png_pixels(sections["PNGF"], w, h), "L")
        model = self.model()
        problem = _off_grid(meta, model)
        if problem:
            raise CorruptStreamError(f"pc: {problem}")
        rows, cols = h // model.height, w // model.width
        lanes = LaneDecoder(section(sections, "DATA", self.codec_id), lanes_for(rows * cols))
        run = kernel("pc", "decode", size=model.work(h * w))
        tiles = lanes.run(run, rows * cols, *model.args)
        lanes.finish()
        return Image(tiles_image(tiles.reshape(-1, model.height, model.width, 1), rows, cols), "L")


def lanes_for(tiles: int) -> int:
    """Lanes of a stream of ``tiles`` tiles: the largest divisor of ``tiles`` up to ``LANES``."""
    return max(d for d in range(1, min(LANES, tiles) + 1) if tiles % d == 0)


def _off_grid(meta, model) -> str | None:
    """Why an image of this header is not a grid of the model's grayscale tiles; None if it is."""
    w, h = int(meta["width"]), int(meta["height"])
    if meta.get("mode") != "L" or h % model.height or w % model.width or not h or not w:
        return (f"pc codes 8-bit grayscale {model.width}x{model.height} digits (MNIST) or grids of them; "
                f"this is a {w}x{h} {meta.get('mode')} image (use png or jxl-lossless)")
    return None


def _png_pixels(data: bytes, w: int, h: int) -> np.ndarray:
    from PIL import Image as PILImage

    try:
        with PILImage.open(io.BytesIO(data), formats=["PNG"]) as im:
            if im.size != (w, h) or im.mode != "L":
                raise CorruptStreamError("pc: the PNG fallback disagrees with the header")
            return np.asarray(im)[:, :, None]
    except (OSError, SyntaxError, ValueError) as exc:
        raise CorruptStreamError(f"pc: the PNG fallback does not decode: {exc}") from None
