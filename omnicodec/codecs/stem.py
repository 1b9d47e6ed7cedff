"""Learned video codec: the spatiotemporal entropy model (STEM, ``models.stem``) over the
hyperprior image autoencoder.  No motion estimation: every frame goes through the same
autoencoder, and an inter frame's latent is coded under an entropy model conditioned on the
previous frame's decoded latent (exact integer nets), its hyperprior and a checkerboard context.

    Video (8-bit 4:2:0 or 4:4:4) ─frame─► RGB ─g_a·gain─► y ─► ẑ, q   (intra: the image codec's
        path; inter: conditioned on ŷ of the frame before)  ─► one entropy-coded payload per frame
    DATA = u32 frame count · u32 payload length per frame · the payloads
    decode: payload ─► ẑ ─► μ, σ (exact) ─► ŷ ─g_s (float32, one thread; float64 for streams
        without ``synthesis``)─► RGB ─► Y'CbCr ─► the frame

A group of pictures (``gop`` frames) starts with an intra frame, so a decoder can start at any
GOP: ``decode_frames`` decodes a range from the GOP that holds its first frame.  Encoder and
decoder hold one frame's latents and the previous frame's ŷ at a time; the payload index is
checked against the header (frame count, lengths) before anything is allocated.  Files stream
(``api.encode_file``/``decode_file``): ``encode_frames`` codes frames as a reader gives them,
spooling the payloads, and a streamed ``decode_frames`` reads payloads from the file as it needs
them, a GOP a job in worker processes (``parallel.in_order``) when there are several.

Colour: full-range BT.601 (``items.yuv_to_rgb``/``rgb_to_yuv``, as training reads clips), chroma
upsampled by repetition and downsampled by block means.  Quality 0..100 maps linearly onto the
image model's gain levels, one level per stream.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from typing import Any, BinaryIO, ClassVar, Iterable, Iterator

import numpy as np

from .. import limits
from ..errors import CorruptStreamError, UnsupportedInputError
from ..items import Video, check_meta, chroma_shape, rgb_to_yuv, yuv_to_rgb
from ..parallel import in_order
from .base import option, section, setting
from .hyperprior import Hyperprior, analyse, synthesize
from .learned import (
    SYNTHESIS_BEFORE,
    LearnedCodec,
    code_factorized,
    code_stages,
    decode_factorized,
    decode_stages,
    synthesis_option,
)

PIX_FMTS_CODED = ("yuv420p", "yuv444p")


@dataclass
class Stem(LearnedCodec):
    codec_id: ClassVar[str] = "stem"
    modality: ClassVar[str] = "video"
    requires: ClassVar[tuple[str, ...]] = ("torch", "compressai")
    description: ClassVar[str] = "learned video: spatiotemporal entropy model over the hyperprior, no motion"
    weights_file: ClassVar[str] = "stem-64-1915.pt"
    stride: ClassVar[int] = 64
    latent_stride: ClassVar[int] = 16
    network: ClassVar[str] = "omnicodec.models.stem:Stem"
    standard: ClassVar[tuple[str, ...]] = ()
    # per frame, as the hyperprior (the previous frame's ŷ and parameters add little); the
    # output planes come on top
    decode_fixed_bytes: ClassVar[int] = 400 << 20
    decode_pixel_bytes: ClassVar[int] = 96
    gop: int = option(32, 1, 1 << 20)  # frames per group of pictures: each starts with an intra frame
    synthesis: str = synthesis_option()  # the pixels' precision (hyperprior's ``synthesize``)
    before: ClassVar[dict[str, Any]] = SYNTHESIS_BEFORE
    # worker processes for a streamed decode of several GOPs (``decode_frames``); None: every
    # core the memory limit allows
    workers: int | None = setting(None)

    @classmethod
    def build(cls, art):
        from ..models.stem import InferenceModel

        # the base image model by its digest, through the image codec's own (cached) loader
        return InferenceModel(art, Hyperprior(weights=art["base_sha256"]).model())

    def decode_memory(self, meta, item_bytes):
        return super().decode_memory(meta, item_bytes) + item_bytes

    def supports(self, item):
        reason = super().supports(item)
        if reason is None:
            if item.pix_fmt not in PIX_FMTS_CODED:
                return f"stem codes 8-bit {' or '.join(PIX_FMTS_CODED)}, not {item.pix_fmt}"
            frames, h, w = item.planes[0].shape
            if h * w > limits.MAX_LEARNED_PIXELS:
                return f"stem decodes frames of at most {limits.MAX_LEARNED_PIXELS} pixels; these have {h * w}"
            if frames == 0:
                return "stem codes at least one frame"
        return reason

    def check_stream(self, meta, streamed: bool = False):
        """Every video header's checks (``items.check_meta``: types, rate, caps; ``streamed``:
        the caps of one frame), then stem's own: a pixel format it codes, at least one frame,
        frames within the learned pixel cap."""
        check_meta("video", meta, streamed)
        if meta["pix_fmt"] not in PIX_FMTS_CODED or meta["frames"] < 1:
            raise CorruptStreamError(f"stem: bad frame count or pixel format in header ({meta['frames']} "
                                     f"{meta['pix_fmt']} frames)")
        limits.check_learned_pixels(meta["width"], meta["height"])

    # ---- coding
    def encode(self, item):
        self.check_supports(item)
        spool = io.BytesIO()
        index = self.encode_frames(zip(*item.planes), item.pix_fmt, spool)
        return {"DATA": index + spool.getvalue()}

    def encode_frames(self, frames: Iterable[tuple], pix_fmt: str, spool: BinaryIO, progress=None) -> bytes:
        """Code (Y, U, V) frames of ``pix_fmt`` one at a time, each payload written to ``spool``
        as it is made (``api.encode_file`` streams a clip through this: memory holds one
        frame); returns DATA's index, which precedes the spooled payloads.  The frames are
        checked as a one-frame clip would be (``supports``)."""
        from ..entropy import Encoder

        model = self.model()
        level, prev, lengths = self.level(model), None, []
        for t, planes in enumerate(frames):
            if t == 0:
                self.check_supports(Video(tuple(p[None] for p in planes), (1, 1), pix_fmt))
            y, z_sym = analyse(model.image, frame_rgb(planes), level)
            hyper = model.image.hyper(z_sym)
            enc = Encoder(self.coder, self.lanes)
            code_factorized(enc, z_sym, model.image, model.image.z_freqs)
            prev = code_stages(enc, y, model.image if t % self.gop == 0 else model.inter(prev), hyper)
            lengths.append(spool.write(enc.finish()))
            if progress:
                progress(t + 1)
        if not lengths:
            raise UnsupportedInputError("stem codes at least one frame")
        return payload_index(lengths)

    def decode_checked(self, sections, meta):
        w, h, t = int(meta["width"]), int(meta["height"]), int(meta["frames"])
        pix_fmt = meta["pix_fmt"]
        frames = self.decode_frames(sections, meta)  # checks the payload index before allocating
        ch, cw = chroma_shape(pix_fmt, h, w)
        planes = (np.empty((t, h, w), np.uint8), np.empty((t, ch, cw), np.uint8), np.empty((t, ch, cw), np.uint8))
        for i, frame in enumerate(frames):
            for plane, p in zip(planes, frame):
                plane[i] = p
        return Video(planes, (int(meta["fps"][0]), int(meta["fps"][1])), pix_fmt)

    def decode_frames(self, sections, meta, start: int = 0, count: int | None = None,
                      streamed: bool = False) -> Iterator[tuple]:
        """Frames ``start`` .. ``start + count - 1`` as (Y, U, V) arrays, one at a time, decoding
        from the intra frame that starts their GOP (earlier GOPs are not touched).  The header
        and the payload index are checked here, before the first frame is asked for; DATA may be
        a ``container.LazySection`` (payloads read as they are needed).  ``streamed``: the
        caller holds one frame at a time (the whole clip's size cap does not apply)."""
        self.check_stream(meta, streamed)
        t = int(meta["frames"])
        count = t - start if count is None else count
        if not (0 <= start and 0 <= count and start + count <= t):
            raise ValueError(f"stem: frames {start}..{start + count - 1} are outside 0..{t - 1}")
        payloads = frame_payloads(section(sections, "DATA", self.codec_id), t)
        first = start - start % self.gop
        gops = range(first, start + count, self.gop)
        workers = self._workers(meta, len(gops)) if streamed else 1
        if workers <= 1:
            return self._frames(payloads, meta, start, count)
        # a GOP a job (each decodes alone from its intra frame), frames handed on in order
        jobs = ((self.get_config(), meta, [payloads(i) for i in range(a, min(a + self.gop, start + count))], a,
                 max(start - a, 0)) for a in gops)
        return (frame for done in in_order(_decode_gop, jobs, workers) for frame in done)

    def _workers(self, meta, gops: int) -> int:
        """``workers``, or every core, as many as the memory limit holds (a worker loads the
        models and decodes a frame at a time), at most one a GOP; one (no workers) where a
        GOP's decoded frames, which a job returns whole, would exceed PARALLEL_GOP_BYTES."""
        import os

        one = {**meta, "frames": 1}
        frame = check_meta("video", one)
        if self.gop * frame > PARALLEL_GOP_BYTES:  # a job's frames come back whole
            return 1
        each = self.decode_memory(one, frame) + WORKER_BYTES
        return max(1, min(self.workers or os.cpu_count() or 1, gops, limits.MAX_MEMORY // each))

    def _frames(self, payloads, meta, start: int, count: int) -> Iterator[tuple]:
        from ..entropy import Decoder

        h, w = int(meta["height"]), int(meta["width"])
        model = self.model()
        image = model.image
        ph, pw = self.padded(h, w)
        inv_gain = image.net.gains(self.level(model))[1].double()
        prev = None
        for i in range(start - start % self.gop, start + count):
            dec = Decoder(payloads(i), self.coder, self.lanes)
            z_sym = decode_factorized(dec, (1, image.cfg.N, ph // self.stride, pw // self.stride), image,
                                      image.z_freqs)
            hyper = image.hyper(z_sym)
            stages = image if i % self.gop == 0 else model.inter(prev)
            prev = decode_stages(dec, (1, image.cfg.M, *hyper.shape[2:]), stages, hyper)
            dec.finish()
            if i >= start:
                yield rgb_to_yuv(synthesize(image, prev * inv_gain, self.synthesis)[0, :h, :w], meta["pix_fmt"])


# ---------------------------------------------------------------------------- helpers
WORKER_BYTES = 400 << 20  # a worker process's own: Python, torch, the models
PARALLEL_GOP_BYTES = 256 << 20  # decoded frames of a GOP above which a decode stays in one process


def _decode_gop(config: dict, meta: dict, payloads: list[bytes], first: int, skip: int) -> list[tuple]:
    """A worker's job: the frames of the GOP starting at frame ``first`` (its ``payloads``),
    the first ``skip`` left out; torch on one thread (the workers share the cores)."""
    import torch

    torch.set_num_threads(1)
    codec = Stem.from_config(config)
    return list(codec._frames(lambda i: payloads[i - first], meta, first + skip, len(payloads) - skip))


def payload_index(lengths: list[int]) -> bytes:
    """DATA's index: the frame count, then each frame's payload length (u32 little-endian)."""
    return struct.pack(f"<{len(lengths) + 1}I", len(lengths), *lengths)


def frame_payloads(data, frames: int):
    """Frame i's payload of DATA (bytes, or a ``container.LazySection`` read on demand) as
    ``payloads(i)``, the index checked against the header's frame count and the section's size
    first."""
    if len(data) < 4 * (frames + 1) or struct.unpack("<I", data[:4])[0] != frames:
        raise CorruptStreamError("stem: the payload index disagrees with the header's frame count")
    lengths = np.frombuffer(data[4:4 * (frames + 1)], "<u4")
    offsets = np.cumsum(np.concatenate([[4 * (frames + 1)], lengths]), dtype=np.int64)
    if offsets[-1] != len(data):
        raise CorruptStreamError("stem: the payload lengths disagree with the stream's size")
    return lambda i: data[int(offsets[i]):int(offsets[i + 1])]


def frame_rgb(planes: tuple) -> np.ndarray:
    """A (Y, U, V) frame as 8-bit RGB (H, W, 3)."""
    return (yuv_to_rgb(*planes).transpose(1, 2, 0) * 255.0 + 0.5).astype(np.uint8)

