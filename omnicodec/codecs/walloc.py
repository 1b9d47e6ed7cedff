"""walloc: the wavelet-autoencoder codec (WaLLoC, Jacobellis & Yadwadkar, DCC 2025) for images
and audio, its latent entropy-coded with a spatial context model instead of the paper's
lossless WebP.

    Image ─pad to ×8─► WPT ─► 1×1 conv ·gain ─bound─► q (latent, 1/8 size, symbols 0..254)
      q's coarse grid (every 8th latent): per channel, the learned level table that codes it
        in the fewest bits; the rest in interlaced passes, each latent a discretized Laplace
        around a per-channel fraction of the mean of 4 decoded neighbours, scaled by their
        spread and size and by the residuals of earlier channel groups (``code_block``) ─► DATA
    decode: DATA ─► q ─► (q·inv_gain) ─linear + residual decoder (tiles)─► bands ─► iWPT
    (images with the ``rdoq`` setting: q rounded up or down by rate-distortion, ``rd_quantize``)

    Audio (mono model, 2^J samples per latent frame): stereo as mid/side, every channel alone,
      in chunks of CHUNK samples, each computed with the model's reach (decoder and inverse
      WPT) of its neighbours on both sides (zeros beyond the ends): the same samples as a
      whole-signal decode up to float rounding, so chunk boundaries cannot click, and memory
      follows the chunk

Two models per modality, one per quality range: images the 16× model (192 wavelet bands -> 12
latent channels) below the 4× one's range (-> 48), audio a lower and an upper model; each spans
its range over its learned gain levels, so any real quality is valid (``level``; the range is
in the weights' config, the first models' in ``LEGACY_SPLIT``).  The config's
``kind`` (written when it is not "image") says which; ``for_item`` sets it from the item.  The
stream's config names the weights (sha256), so a file is decoded by the model that wrote it
whatever the defaults become.  Model: ``omnicodec.models.walloc``, trained by ``codec train
walloc`` (docs/training.md).

DATA: one entropy stream of blocks (the image; per audio chunk, each channel in turn); a block
is laid out in ``code_block``'s docstring and docs/format.md.

Determinism: the entropy decoder depends on integer tables only; the decoder network runs in a
fixed tiling (``TILE`` latents with the decoder's reach of context, part of the decoder's
definition) in the precision the config's ``synthesis`` names (``learned.tiled_synthesis``:
float32 on one torch thread per tile for new streams, float64 where the key is absent; audio
chunks and small tiles alike, through ``learned.synthesis_net``), and the inverse WPT is
element-wise arithmetic, the same on any thread count.
Grey is coded as RGB, alpha stored losslessly (``codecs.learned``).

Tiled images (``with_tiles``: config ``tile_height``/``tile_width``): a grid of independent
tiles, e.g. a dataset shard of a thousand 28×28 digits: each tile analysed and synthesized
alone, with no context from its neighbours, so a tile's latent and pixels are those it has
alone (tiles run in batches: the same arithmetic, bit-identical in the tests here, though a
float32 analysis may round its last bit differently by batch size on another machine), and the
latents of all tiles coded as one plane, laid out like the tiles: one header and one fitted
context model for the grid.

Latent (``encode_latent``/``decode_latent``): the dequantized symbols v̂ (``Walloc.dequantize``),
the decoder's input; ``synthesize`` runs the decoder and inverse WPT on a batch of them.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, ClassVar

import numpy as np

from ..errors import CorruptStreamError, UnsupportedInputError
from ..items import Audio, audio_from
from .base import quality_to_range, section, setting
from .learned import (
    SYNTHESIS_BEFORE,
    LearnedCodec,
    image_from_rgb,
    image_tiles,
    manifest,
    plane_tiles,
    rgb_and_alpha,
    synthesis_net,
    synthesis_option,
    tiled_synthesis,
    tiles_image,
    tiles_plane,
)

TILE = 64  # image decoder tiles, in latents (8 px each), computed with the decoder's reach around
LEGACY_SPLIT = 50.0  # image models without a ``qualities`` range: the 16x below, the 4x from here
CHUNK = 1 << 16  # audio samples per chunk (a multiple of the model's stride)
WEIGHTS_16X = "walloc-image-16x-28000.pt"
WEIGHTS_UPPER = "walloc-image-3x-w128-61000.pt"  # the upper image model (3x: 64 channels; decoder width 128)
WEIGHTS_AUDIO = "walloc-audio-1x-20000.pt"  # below the upper model's range
WEIGHTS_AUDIO_HIGH = "walloc-audio-1x-upper8-20000.pt"  # levels 4-7 of an 8-level run (was -upper-20000: 4-6)
KINDS = ("image", "audio")


def split(upper: str, legacy: float) -> float:
    """The quality from which new encodes use the weights ``upper`` (the 4x image model, the
    upper audio model): where their ``qualities`` range starts (``legacy`` without one)."""
    qualities = manifest().get(upper, {}).get("config", {}).get("qualities")
    return float(qualities[0]) if qualities else legacy


@dataclass
class Walloc(LearnedCodec):
    codec_id: ClassVar[str] = "walloc"
    modality: ClassVar[str] = "image"
    also: ClassVar[tuple[str, ...]] = ("audio",)
    requires: ClassVar[tuple[str, ...]] = ("torch", "compressai")
    description: ClassVar[str] = "learned wavelet autoencoder (WaLLoC): light encoder, images and audio"
    weights_file: ClassVar[str] = WEIGHTS_UPPER  # quality 50's image model; see default_weights
    stride: ClassVar[int] = 8  # images
    latent_stride: ClassVar[int] = 8
    network: ClassVar[str] = "omnicodec.models.walloc:Walloc"
    tileable: ClassVar[bool] = True
    decode_fixed_bytes: ClassVar[int] = 300 << 20
    decode_pixel_bytes: ClassVar[int] = 80  # measured: 64 B/px of RSS growth at 4.2 MP
    decode_audio_factor: ClassVar[int] = 24  # audio: bytes per byte of the decoded item (int16: 48/sample)
    kind: str = field(default="image", metadata={"omit_default": True})
    synthesis: str = synthesis_option()  # the decoder's precision (``synthesize_image``, ``decode_audio``)
    # images: round the latent by rate-distortion (``rd_quantize``) instead of to the nearest
    # integer: about 1% fewer bytes at equal PSNR for about twice the encode time; a setting
    # (how to encode), since the decoder reads the same format either way
    rdoq: bool = setting(False)
    # float audio louder than full scale: its largest |sample|, by which the encoder divides it
    # and the decoder multiplies (and clips to); 1 (not written) for everything else
    peak: float = field(default=1.0, metadata={"omit_default": True})
    before: ClassVar[dict[str, Any]] = SYNTHESIS_BEFORE

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"walloc kind must be one of {KINDS}, got {self.kind!r}")
        if not (isinstance(self.peak, (int, float)) and 1.0 <= self.peak < math.inf):
            raise ValueError(f"walloc peak must be a finite number of at least 1, got {self.peak!r}")
        if self.peak != 1.0 and self.kind != "audio":
            raise ValueError("walloc's peak is for audio")
        if self.kind == "audio" and (self.tile_height or self.tile_width):
            raise ValueError("walloc tiles are for images")
        super().__post_init__()

    def default_weights(self) -> str:
        if self.kind == "audio":
            return WEIGHTS_AUDIO if self.quality < split(WEIGHTS_AUDIO_HIGH, 100.0) else WEIGHTS_AUDIO_HIGH
        return WEIGHTS_16X if self.quality < split(WEIGHTS_UPPER, LEGACY_SPLIT) else WEIGHTS_UPPER

    def for_item(self, item):
        if item.modality in KINDS and item.modality != self.kind:
            return dataclasses.replace(self, kind=item.modality, weights="").for_item(item)
        if self.kind == "audio" and isinstance(item, Audio) and self.supports(item) is None:
            peak = max(item.peak(), 1.0) if item.frames.dtype.kind == "f" else 1.0
            return dataclasses.replace(self, peak=peak)._unclipped(item)
        return self

    def _unclipped(self, item: Audio):
        """This config at the highest quality, at most its own, at which no latent of ``item``
        passes the alphabet's bound (where a loud signal at a model's top levels would be
        clipped: the config, so the header, records the quality used); itself if none does.
        The peaks of the encoder's output come from one pass, the gains of each level decide."""
        from ..models.walloc import BOUND

        model = self.model()
        peak = audio_peaks(model, item, self.peak)
        lo = model.cfg.qualities[0] if model.cfg.qualities else 0.0

        def clips(quality: float) -> bool:
            import torch

            g, _ = model.net.gains(dataclasses.replace(self, quality=quality).level(model))
            with torch.no_grad():
                return bool(model.net.compand(torch.from_numpy(peak) * g.reshape(-1).double()).max() > BOUND)

        if not clips(self.quality):
            return self
        if clips(lo):  # (not met in testing: loud sounds are scaled to full scale first)
            raise UnsupportedInputError(f"walloc: this sound would be clipped at every quality its model covers "
                                        f"({lo:g}-{model.cfg.qualities[1] if model.cfg.qualities else 100:g}); "
                                        "try a lower quality")
        hi = self.quality
        for _ in range(20):  # bisection: lo never clips, hi does
            mid = (lo + hi) / 2
            lo, hi = (lo, mid) if clips(mid) else (mid, hi)
        return dataclasses.replace(self, quality=math.floor(lo * 1000) / 1000)  # (a short header value)

    @classmethod
    def build(cls, art):
        from ..models.walloc import InferenceModel

        return InferenceModel(art)

    def model(self):
        model = super().model()
        if (model.cfg.dims == 1) != (self.kind == "audio"):
            raise CorruptStreamError(f"walloc: the weights {self.weights[:12]}… are not a {self.kind} model")
        return model

    def level(self, model) -> float:
        """The model's level at this quality: its config's ``qualities`` range spans its levels;
        models without one (the first ones) keep the mapping their streams were written with:
        audio 0..100, images split at ``LEGACY_SPLIT``."""
        if model.cfg.qualities:
            lo, hi = model.cfg.qualities
        elif self.kind == "audio":
            lo, hi = 0.0, 100.0
        else:
            lo, hi = (0.0, LEGACY_SPLIT) if self.quality < LEGACY_SPLIT else (LEGACY_SPLIT, 100.0)
        return quality_to_range(100 * (self.quality - lo) / (hi - lo), 0, model.levels - 1)

    def supports(self, item):
        reason = super().supports(item)
        if reason is None and item.modality != self.kind:
            return f"this walloc config codes {self.kind}, not {item.modality} (see for_item)"
        if reason is None and self.rdoq and self.kind == "audio":
            return "walloc's rdoq is for images"
        return reason

    def decode_memory(self, meta, item_bytes):
        if self.kind == "audio" or "frames" in meta:  # (decode refuses a kind the header does not describe)
            return self.decode_fixed_bytes + self.decode_audio_factor * item_bytes
        return super().decode_memory(meta, item_bytes)

    def check_stream(self, meta):
        if ("frames" in meta) != (self.kind == "audio"):
            raise CorruptStreamError(f"walloc: the header describes no {self.kind}, which its config says it holds")
        if self.kind == "image":  # audio: no pixel caps; the API checked the sample caps
            super().check_stream(meta)

    def encode(self, item):
        from ..entropy import Encoder

        self.check_supports(item)
        model = self.model()
        enc = Encoder(self.coder, self.lanes)
        if self.kind == "audio":
            for block in audio_latents(model, item, self.level(model), self.peak):
                code_block(enc, model, block)
            return {"DATA": enc.finish()}
        rgb, sections = rgb_and_alpha(item)
        code_block(enc, model, self._analyse(model, rgb))
        return {"DATA": enc.finish(), **sections}

    def _analyse(self, model, rgb: np.ndarray) -> np.ndarray:
        """The latent symbols (C, h, w) of an image, tile by tile when tiled (by ``rd_quantize``
        with ``rdoq``)."""
        h, w = rgb.shape[:2]
        grid = self.grid({"height": h, "width": w})
        level, rounded = self.level(model), not self.rdoq
        if grid is None:
            u = analyse(model, rgb, level, rounded)
        else:
            tiles = image_tiles(rgb, grid)
            per = max(1, TILE * TILE * self.stride**2 // int(np.prod(self.padded(*grid[2:]))))  # tiles per batch
            u = tiles_plane(np.concatenate([analyse(model, tiles[i:i + per], level, rounded)
                                            for i in range(0, len(tiles), per)]), *grid[:2])
        return u if rounded else rd_quantize(model, u, level)

    def decode_checked(self, sections, meta):
        model = self.model()
        q = self._symbols(model, sections, meta)
        if self.kind == "audio":
            return decode_audio(q, model, meta, self.level(model), self.synthesis, self.peak)
        w, h = int(meta["width"]), int(meta["height"])
        grid = self.grid(meta)
        if grid is None:
            rgb = synthesize_image(model, q, self.level(model), self.synthesis)[:h, :w]
        else:
            rows, cols, th, tw = grid
            tiles = synthesize_tiles(model, plane_tiles(q, rows, cols), self.level(model), self.synthesis)
            rgb = tiles_image(tiles[:, :th, :tw], rows, cols)
        return image_from_rgb(np.ascontiguousarray(rgb), meta["mode"], sections, self.codec_id)

    def _symbols(self, model, sections, meta) -> np.ndarray:
        """The stream's centred latent symbols (-BOUND..BOUND): an image's (C, h, w) at the
        padded size, audio's (channels, C, frames / stride)."""
        from ..entropy import Decoder
        from ..models.walloc import BOUND

        dec = Decoder(section(sections, "DATA", self.codec_id), self.coder, self.lanes)
        if self.kind == "audio":
            q = audio_symbols(dec, model, meta)
        else:
            h, w = int(meta["height"]), int(meta["width"])
            rows, cols, th, tw = self.grid(meta) or (1, 1, h, w)
            ph, pw = self.padded(th, tw)
            q = decode_block(dec, model, (rows * ph // self.stride, cols * pw // self.stride)) - BOUND
        dec.finish()  # before any synthesis: a damaged stream costs no network time
        return q

    # ---- the latent: v̂ = the dequantized symbols (Walloc.dequantize), the decoder's input
    def encode_latent(self, item):
        """Images (latent, H/8, W/8) rounded up; audio (channels, latent, frames / 2^J) rounded
        up, stereo as mid/side, float audio louder than full scale divided by its peak (see
        ``to_float``; ``synthesize`` returns it so scaled)."""
        from ..models.walloc import BOUND

        self.check_supports(item)
        model = self.model()
        if self.kind == "audio":
            # chunk by chunk, channel by channel
            blocks = list(audio_latents(model, item, self.level(model), self.peak))
            q = np.stack([np.concatenate(blocks[c::item.channels], axis=1) for c in range(item.channels)])
        else:
            q = self._analyse(model, rgb_and_alpha(item)[0])
        return _dequantize(model, q - BOUND, self.level(model))

    def decode_latent(self, sections, meta):
        self.check_stream(meta)
        model = self.model()
        return _dequantize(model, self._symbols(model, sections, meta), self.level(model))

    def synthesize(self, latents):
        """Images in [0, 1] (N, 3, 8h, 8w); audio in [-1, 1] (N, 1, 2^J·frames) per channel
        (mid/side for stereo)."""
        import torch

        net = self.model().net
        with torch.no_grad():
            x = net.synthesize(net.decode_bands(torch.as_tensor(latents, dtype=torch.float32)))
        return x.clamp(0.0 if self.kind == "image" else -1.0, 1.0)


# ---------------------------------------------------------------------------- entropy coding
def best_tables(tables: np.ndarray, symbols: np.ndarray) -> tuple[np.ndarray, float]:
    """Per channel of ``symbols`` (C, n), the level whose table codes it in the fewest bits,
    and the bits that takes in all."""
    counts = np.stack([np.bincount(row, minlength=tables.shape[2]) for row in symbols])  # (C, S)
    bits = np.einsum("cs,kcs->kc", counts, -np.log2(tables / tables.sum(axis=2, keepdims=True)))
    return bits.argmin(axis=0), float(bits.min(axis=0).sum())


def code_block(enc, model, q: np.ndarray) -> None:
    """One block of latent symbols (C, h, w) or (C, n), 0..2·BOUND: a flag (equal frequencies)
    saying which of two layouts follows, the one the encoder estimates to be smaller:

    0. every latent by ``_code_factorized``: per channel the index of its level table (equal
       frequencies over the levels), then the channels with their tables;
    1. context coding: the coarse grid (every 2^CONTEXT_LEVELS-th latent each way) by
       ``_code_factorized``; per channel its SHRINK index, then the scale parameters' grid
       indices (all channels' a, then b, g, d; equal frequencies over each list); then each
       interlaced pass, one call per channel group, symbols in (channel, position) order."""
    from ..models.walloc import BOUND

    c, h, w = _as_planes(q.shape)
    r = q.reshape(c, h * w).astype(np.int64) - BOUND
    coarse, passes = _interlace(h, w)
    groups = _groups(c)
    shrink, features, params, passes_bits = _fit_context(r, passes, groups)
    coarse_choice, coarse_bits = best_tables(model.tables, r[:, coarse] + BOUND)
    plain_choice, plain_bits = best_tables(model.tables, r + BOUND)
    plain = plain_bits <= coarse_bits + passes_bits
    enc.encode(np.array([0 if plain else 1], np.int32), _categorical(model, ("uniform", 2)))
    if plain:
        _code_factorized(enc, model, r + BOUND, plain_choice)
        return
    _code_factorized(enc, model, r[:, coarse] + BOUND, coarse_choice)
    enc.encode(shrink.astype(np.int32), _categorical(model, ("uniform", len(SHRINK))))
    for grid, column in zip(SCALE_GRIDS, params.T):
        enc.encode(column.astype(np.int32), _categorical(model, ("uniform", len(grid))))
    laplace = _laplace()
    for (idx, _, _, _), (mu, act, mag, cross, _) in zip(passes, features):
        for g in groups:
            enc.encode(r[g][:, idx].ravel().astype(np.int32), laplace, means=mu[g].ravel().astype(np.float64),
                       scales=_scales(params[g], act[g], mag[g], cross[g]).ravel())


def _fit_context(r: np.ndarray, passes, groups):
    """The context model the encoder fits to centred symbols r (C, n): the SHRINK index per
    channel, each pass's features (μ, activity, mean |neighbour|, cross-group mean |residual|,
    |residual|), the scale parameters' grid indices and their estimated code length."""
    stats = [_neighbours(r, nb, ok, count) for _, nb, ok, count in passes]
    shrink = _fit_shrink(r, passes, stats)
    features = []
    for (idx, _, _, count), (total, act, mag) in zip(passes, stats):
        mu = _mean(total, count, shrink)
        res = np.abs(r[:, idx] - mu)
        features.append((mu, act, mag, _cross(res, groups), res))
    params, bits = _fit_scales(features, len(r))
    return shrink, features, params, bits


def decode_block(dec, model, shape: tuple[int, ...]) -> np.ndarray:
    """The inverse of ``code_block``: symbols (C, *shape)."""
    from ..models.walloc import BOUND

    c, h, w = _as_planes((model.cfg.latent, *shape))
    if dec.decode(_categorical(model, ("uniform", 2)), 1)[0] == 0:
        return _decode_factorized(dec, model, h * w).reshape(c, *shape)
    coarse, passes = _interlace(h, w)
    r = np.zeros((c, h * w), np.int64)
    r[:, coarse] = _decode_factorized(dec, model, len(coarse)) - BOUND
    shrink = dec.decode(_categorical(model, ("uniform", len(SHRINK))), c)
    params = np.stack([dec.decode(_categorical(model, ("uniform", len(grid))), c) for grid in SCALE_GRIDS], 1)
    laplace = _laplace()
    for g, idx, mu, scale in _causal(r, passes, shrink, params):
        block = dec.decode(laplace, means=mu.ravel().astype(np.float64), scales=scale.ravel())
        r[g[:, None], idx] = block.reshape(len(g), -1)
    return (r + BOUND).reshape(c, *shape)


def _causal(r: np.ndarray, passes, shrink: np.ndarray, params: np.ndarray):
    """The context model in coding order, for whoever fills ``r`` (C, n) as it goes (the
    decoder, ``rd_quantize``): per interlaced pass and channel group, yields (the group's
    channels g, the pass's indices, μ and σ of those latents); the caller sets ``r[g][:, idx]``
    before the next, since each group's scales see the residuals of the groups before it."""
    groups = _groups(len(r))
    for idx, nb, ok, count in passes:
        total, act, mag = _neighbours(r, nb, ok, count)
        mu = _mean(total, count, shrink)
        res = np.zeros((len(r), len(idx)), np.int64)
        for g in groups:
            yield g, idx, mu[g], _scales(params[g], act[g], mag[g], _cross(res, groups)[g])
            res[g] = np.abs(r[g][:, idx] - mu[g])


# Context coding of the latent: an interlaced order (a coarse grid every 2^CONTEXT_LEVELS
# latents, then per finer level the centres of its squares, then their edges' midpoints), each
# latent predicted from its 4 already decoded neighbours of the pass: μ their mean times the
# channel's SHRINK factor, rounded half up (0 for channels whose neighbours do not predict
# them), and a discretized Laplace around μ whose scale is a·(their max - min) + b + g·(mean
# |residual| of the latent channels of the earlier channel groups at the same place) +
# d·(their mean |value|), (a, b, g, d) per channel chosen by the encoder from fixed grids
# (literals, so every machine reads the same floats).  A pass is coded one call per channel
# group (CHANNEL_GROUPS of them).
CONTEXT_LEVELS = 3
CHANNEL_GROUPS = 4
FIT_SAMPLES = 2048  # latents per channel the encoder's fits look at
SHRINK = (0, 1, 2, 3, 4)  # μ = SHRINK/4 · the neighbours' mean
SCALE_GRIDS = ((0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.75, 0.9, 1.1, 1.4, 1.8, 2.4),
               (0.1, 0.15, 0.2, 0.3, 0.45, 0.65, 0.9, 1.25, 1.75, 2.5, 3.5, 5.0, 7.0, 10.0, 14.0, 20.0),
               (0.0, 0.1, 0.2, 0.3, 0.4, 0.55, 0.75, 1.0),
               (0.0, 0.1, 0.2, 0.3, 0.45, 0.65, 0.9, 1.25))


def _as_planes(shape: tuple[int, ...]) -> tuple[int, int, int]:
    return (shape[0], 1, shape[1]) if len(shape) == 2 else tuple(shape)


@lru_cache(maxsize=8)
def _interlace(h: int, w: int):
    """(flat indices of the coarse grid, passes), each pass (indices, its 4 neighbours' flat
    indices (4, n), which of them are inside the plane, how many are)."""
    def grid(i0, j0, step):
        i, j = np.meshgrid(np.arange(i0, h, step), np.arange(j0, w, step), indexing="ij")
        return i.ravel(), j.ravel()

    top = 1 << CONTEXT_LEVELS
    ci, cj = grid(0, 0, top)
    passes = []
    for level in range(CONTEXT_LEVELS - 1, -1, -1):
        st = 1 << level
        centres = grid(st, st, 2 * st)
        edges = [np.concatenate(v) for v in zip(grid(0, st, 2 * st), grid(st, 0, 2 * st))]
        for (i, j), offsets in ((centres, ((-st, -st), (-st, st), (st, -st), (st, st))),
                                (edges, ((-st, 0), (st, 0), (0, -st), (0, st)))):
            if i.size == 0:
                continue
            y = np.stack([i + di for di, _ in offsets])
            x = np.stack([j + dj for _, dj in offsets])
            ok = (y >= 0) & (y < h) & (x >= 0) & (x < w)
            nb = np.clip(y, 0, h - 1) * w + np.clip(x, 0, w - 1)
            passes.append((i * w + j, nb, ok, ok.sum(axis=0)))
    return ci * w + cj, passes


def _neighbours(r: np.ndarray, nb: np.ndarray, ok: np.ndarray, count: np.ndarray):
    """(sum, activity, mean |value|) per channel of each latent's neighbours inside the plane
    (``kernels.context``; every latent of a pass has one): activity is max - min; the mean a
    float quotient of integers, the same on every machine."""
    from ..kernels import kernel

    return kernel("context", "neighbours", size=r.shape[0] * nb.shape[1])(r, nb, ok, count)


def _mean(total: np.ndarray, count: np.ndarray, shrink: np.ndarray) -> np.ndarray:
    """μ per channel (C, n): SHRINK[k]/4 · total/count rounded half up, in integers."""
    k = np.asarray(SHRINK)[shrink][:, None]
    return (2 * k * total + 4 * count) // (8 * count)


def _fit_shrink(r: np.ndarray, passes, stats) -> np.ndarray:
    """Per channel of ``r`` (C, n), the SHRINK index whose μ leaves the smallest mean |residual|
    (the Laplace's code length grows with it) over a sample of the latents.  Encoder only."""
    if not passes:
        return np.zeros(len(r), np.int64)
    step = max(1, sum(len(p[0]) for p in passes) // FIT_SAMPLES)
    x = r[:, _sample([p[0] for p in passes], step)]
    total, count = _sample([t for t, _, _ in stats], step), _sample([p[3] for p in passes], step)
    cost = [np.abs(x - _mean(total, count, np.full(len(x), i))).sum(axis=1) for i in range(len(SHRINK))]
    return np.argmin(np.stack(cost), axis=0)


def _sample(parts: list[np.ndarray], step: int) -> np.ndarray:
    """Every ``step``-th column of the parts concatenated along their last axis, without
    concatenating them whole."""
    out, start = [], 0
    for part in parts:
        out.append(part[..., (-start) % step::step])
        start += part.shape[-1]
    return np.concatenate(out, axis=-1)


def _groups(channels: int) -> list[np.ndarray]:
    """The latent channels in CHANNEL_GROUPS consecutive groups, coded one call per group."""
    return [g for g in np.array_split(np.arange(channels), min(channels, CHANNEL_GROUPS)) if g.size]


def _cross(res: np.ndarray, groups: list[np.ndarray]) -> np.ndarray:
    """Per channel, the mean |residual| of the groups before its own at the same place (C, n);
    0 for the first group.  A float quotient of integers: the same on every machine."""
    out = np.zeros(res.shape)
    total, count = np.zeros(res.shape[1], np.int64), 0
    for g in groups:
        if count:
            out[g] = total / count
        total, count = total + res[g].sum(axis=0), count + len(g)
    return out


def _scales(index: np.ndarray, act: np.ndarray, mag: np.ndarray, cross: np.ndarray) -> np.ndarray:
    """σ per latent (channels of ``index`` rows, n): a·activity + b + g·cross + d·mean
    |neighbour|, per channel."""
    t = [_scale_term(k, index, (act, None, cross, mag)[k]) for k in range(len(SCALE_GRIDS))]
    return t[0] + t[1] + t[2] + t[3]


def _scale_term(k: int, index: np.ndarray, feature: np.ndarray | None) -> np.ndarray:
    """The k-th term of ``_scales``: a grid value per channel (rows of ``index``) times its
    feature (b, k = 1, has none)."""
    value = np.asarray(SCALE_GRIDS[k])[index[:, k]][:, None]
    return value if feature is None else value * feature


def _fit_scales(features, channels: int) -> np.ndarray:
    """Per channel, grid indices of (a, b, g, d): least squares of |residual| on (activity, 1,
    cross, mean |neighbour|) over a sample of the latents (a Laplace's maximum-likelihood
    scale is the mean absolute deviation), snapped to the grids, then one sweep of moves to a
    neighbouring grid value where it shortens the sample's code length.  Only the encoder runs
    this: the indices are in the stream.  Returns them and the code length they give all the
    latents, estimated from the sample's."""
    import torch

    if not features:
        return np.zeros((channels, len(SCALE_GRIDS)), np.int64), 0.0
    step = max(1, sum(f[4].shape[1] for f in features) // FIT_SAMPLES)
    act, mag, cross, res = (_sample([f[i] for f in features], step).astype(np.float64) for i in (1, 2, 3, 4))
    # the normal equations by element-wise products and torch's solver: NumPy's BLAS/LAPACK
    # threads stall for ~100 ms on these small systems when the machine's cores are busy
    x = [act, np.ones_like(act), cross, mag]
    gram = np.zeros((len(act), 4, 4))
    for i in range(4):
        for j in range(i, 4):
            gram[:, i, j] = gram[:, j, i] = (x[i] * x[j]).sum(axis=1)
    gram += 1e-6 * np.eye(4)
    rhs = np.stack([(u * res).sum(axis=1) for u in x], axis=1)[..., None]
    coef = np.maximum(torch.linalg.solve(torch.from_numpy(gram), torch.from_numpy(rhs)).numpy()[..., 0], 0.0)
    out = np.stack([np.abs(np.log(np.asarray(grid) + 0.05)[None] - np.log(coef[:, [k]] + 0.05)).argmin(axis=1)
                    for k, grid in enumerate(SCALE_GRIDS)], axis=1)
    # the sweep changes one term of the scale at a time: the others are kept, summed in
    # ``_scales``'s order (the same floats).  Every channel is evaluated on every move, as one
    # array: a channel the move leaves alone then ties exactly (NumPy's row sums of a subset of
    # the rows can round differently, which made such ties "better")
    xs = (act, None, cross, mag)
    terms = [_scale_term(k, out, xs[k]) for k in range(len(SCALE_GRIDS))]
    best = _laplace_bits(res, terms[0] + terms[1] + terms[2] + terms[3], axis=1)
    for k, grid in enumerate(SCALE_GRIDS):
        for move in (-1, 1):
            trial = out.copy()
            trial[:, k] = np.clip(trial[:, k] + move, 0, len(grid) - 1)
            kept = list(terms)
            kept[k] = _scale_term(k, trial, xs[k])
            bits = _laplace_bits(res, kept[0] + kept[1] + kept[2] + kept[3], axis=1)
            better = bits < best
            out[better], best[better], terms[k][better] = trial[better], bits[better], kept[k][better]
    return out, float(best.sum() * step)


def _laplace_bits(res: np.ndarray, scale: np.ndarray, axis=None):
    """Code length (bits) of |residuals| under discretized Laplace densities: the encoder's
    estimate (the coder's tables differ only by their quantization); summed over ``axis``."""
    return _laplace_code(res, scale).sum(axis=axis)


def _laplace_code(res: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``_laplace_bits`` of each residual."""
    scale = np.maximum(scale, 0.05)
    p = np.where(res == 0, 1 - np.exp(-0.5 / scale),
                 0.5 * (np.exp(-(res - 0.5) / scale) - np.exp(-(res + 0.5) / scale)))
    return -np.log2(np.maximum(p, 1e-12))


def _laplace():
    from ..entropy import QuantizedLaplace
    from ..models.walloc import BOUND

    return QuantizedLaplace(-BOUND, BOUND)


def _code_factorized(enc, model, symbols: np.ndarray, choice: np.ndarray) -> None:
    """(C, n) symbols, each channel with its level table ``choice`` (``best_tables``'s)."""
    enc.encode(choice.astype(np.int32), _categorical(model, ("uniform", model.levels)))
    for c, row in enumerate(symbols):
        enc.encode(row.astype(np.int32), _categorical(model, (int(choice[c]), c)))


def _decode_factorized(dec, model, n: int) -> np.ndarray:
    choice = dec.decode(_categorical(model, ("uniform", model.levels)), model.cfg.latent)
    return np.stack([dec.decode(_categorical(model, (int(choice[c]), c)), n) for c in range(model.cfg.latent)])


def _categorical(model, key):
    """The model's Categorical for a (level, channel) table, or ("uniform", k)."""
    from ..entropy import Categorical

    cache = model.__dict__.setdefault("_categoricals", {})
    if key not in cache:
        cache[key] = Categorical(np.ones(key[1], np.int64) if key[0] == "uniform" else model.tables[key])
    return cache[key]


# --------------------------------------------------------- rate-distortion quantization
RDOQ_LAMBDA = 8.0  # rd_quantize's λ over the model's (chosen on training images, not Kodak)
IMPULSE = 12  # latents each way of the impulse images that measure a channel's pixel error


def rd_quantize(model, u: np.ndarray, level: float) -> np.ndarray:
    """Symbols (C, h, w) in 0..2·BOUND of the centred, unrounded latent ``u``: each latent is
    the integer below or above it, whichever costs fewer bits + λ'·(squared pixel error), in
    the coding order of ``code_block`` (coarse grid, then the interlaced passes, channel group
    by channel group), so that each choice sees the context its decoder will.  Bits are the
    context model's estimate with its parameters fitted to the rounded latent; the pixel error
    of a change d of channel c is d²·(its impulse response's squared error,
    ``_distortion_weights``); λ' = RDOQ_LAMBDA · the model's λ at this level / 3 (the training
    loss per pixel: λ·MSE over 3 colours + bits).  The greedy choice ignores what a choice does
    to later latents' contexts, which is why λ' is larger than the training trade-off.
    Encoder only: streams are the same format either way."""
    from ..models.walloc import BOUND

    c, h, w = _as_planes(u.shape)
    y = u.reshape(c, h * w)
    r = np.round(y).astype(np.int64)
    coarse, passes = _interlace(h, w)
    shrink, _, params, _ = _fit_context(r, passes, _groups(c))
    lams = np.log(model.cfg.lambdas)
    weight = RDOQ_LAMBDA * float(np.exp(np.interp(level, np.arange(len(lams)), lams))) / 3 \
        * _distortion_weights(model, level)[:, None]

    def choose(target, bits_of, wt):  # the lower or the upper integer of each target
        low = np.floor(target).astype(np.int64)
        cand = np.clip(np.stack([low, low + 1]), -BOUND, BOUND)
        cost = np.stack([bits_of(k) for k in cand]) + wt * (cand - target) ** 2
        return np.take_along_axis(cand, cost.argmin(axis=0)[None], 0)[0]

    choice, _ = best_tables(model.tables, r[:, coarse] + BOUND)
    table_bits = -np.log2(model.tables / model.tables.sum(axis=2, keepdims=True))[choice, np.arange(c)]  # (C, S)
    r[:, coarse] = choose(y[:, coarse], lambda k: np.take_along_axis(table_bits, k + BOUND, 1), weight)
    for g, idx, mu, scale in _causal(r, passes, shrink, params):
        r[g[:, None], idx] = choose(y[g][:, idx], lambda k: _laplace_code(np.abs(k - mu), scale), weight[g])
    return (r + BOUND).reshape(u.shape)


def _distortion_weights(model, level: float) -> np.ndarray:
    """Per latent channel, the squared error (8-bit pixel units, summed over the image) that a
    unit change of one of its latents makes: the decoder's response to a +1 impulse at the
    centre of an otherwise zero latent (float32, IMPULSE² latents), cached per level."""
    import torch

    cache = model.__dict__.setdefault("_distortion_weights", {})
    if level not in cache:
        c, n, net = model.cfg.latent, IMPULSE, model.net
        q = torch.zeros(c + 1, c, n, n)
        q[torch.arange(1, c + 1), torch.arange(c), n // 2, n // 2] = 1
        with torch.no_grad():
            x = net.synthesize(net.bands_of(q, level)) * 255
        cache[level] = ((x[1:] - x[:1]) ** 2).flatten(1).sum(1).double().numpy()
    return cache[level]


# ---------------------------------------------------------------------------------- images
def analyse(model, rgb: np.ndarray, level: float, rounded: bool = True) -> np.ndarray:
    """The latent symbols (latent, h/8, w/8), int64 in 0..2·BOUND, of an 8-bit RGB array (H, W,
    3), or of each of a batch of them (N, H, W, 3) -> (N, latent, h/8, w/8); not ``rounded``:
    the centred latent before rounding (float64, within ±BOUND)."""
    import torch
    import torch.nn.functional as F

    from ..models.walloc import BOUND

    batch = rgb if rgb.ndim == 4 else rgb[None]
    h, w = batch.shape[1:3]
    ph, pw = Walloc.padded(h, w)
    with torch.no_grad():
        x = torch.from_numpy(np.array(batch, dtype=np.uint8)).permute(0, 3, 1, 2).float() / 255.0
        if (ph, pw) != (h, w):
            x = F.pad(x, (0, pw - w, 0, ph - h), mode="replicate")
        u = model.net.analyse(x, level)
        q = (torch.round(u).long() + BOUND).numpy() if rounded else u.double().numpy()
    return q if rgb.ndim == 4 else q[0]


def synthesize_image(model, q: np.ndarray, level: float, precision: str = "float64") -> np.ndarray:
    """8-bit RGB (H, W, 3) at the padded size from centred latent symbols (C, h, w): the
    decoder in tiles (``learned.tiled_synthesis``, in ``precision``), the inverse WPT on the
    whole image."""
    import torch

    y = torch.from_numpy(q[None]).double()
    bands = tiled_synthesis(model, "synthesis", y, 1, TILE, model.decoder_reach, lambda t: t.float(), precision,
                            apply=lambda net, v: net.bands_of(v, level))
    with torch.no_grad():
        return _to8(model.synthesis.synthesize(bands))[0]


def synthesize_tiles(model, q: np.ndarray, level: float, precision: str = "float64") -> np.ndarray:
    """8-bit RGB (N, H, W, 3) at the padded size of each tile's centred latent symbols (N, C, h,
    w): a batch of small tiles at a time (their latents within TILE²), a large tile alone."""
    n, _, lh, lw = q.shape
    if lh * lw > TILE * TILE:
        return np.stack([synthesize_image(model, t, level, precision) for t in q])
    per = TILE * TILE // (lh * lw)
    with synthesis_net(model, "synthesis", precision) as (net, dtype):
        return np.concatenate([_to8(net.synthesize(net.bands_of(_as(q[i:i + per], dtype), level).float()))
                               for i in range(0, n, per)])


def _as(x: np.ndarray, dtype):
    import torch

    return torch.from_numpy(np.asarray(x, np.float64)).to(dtype)


def _to8(x) -> np.ndarray:
    """8-bit (N, H, W, 3) of synthesized images (N, 3, H, W) in [0, 1]."""
    return (x.clamp(0, 1).permute(0, 2, 3, 1).numpy() * 255.0 + 0.5).astype(np.uint8)


# ----------------------------------------------------------------------------------- audio
def to_float(item: Audio, peak: float = 1.0) -> np.ndarray:
    """(frames, channels) in [-1, 1], stereo as (mid, side); float samples divided by ``peak``
    (``Walloc.peak``)."""
    a = item.frames
    x = a.astype(np.float64) / 2.0 ** (8 * a.dtype.itemsize - 1) if a.dtype.kind == "i" else a.astype(np.float64) / peak
    if x.shape[1] == 2:
        x = np.stack([(x[:, 0] + x[:, 1]) / 2, (x[:, 0] - x[:, 1]) / 2], 1)
    return x


def from_float(x: np.ndarray, meta: dict, peak: float = 1.0) -> Audio:
    """The inverse of ``to_float``, rounded to the header's subtype (floats within ±``peak``)."""
    from ..items import AUDIO_SUBTYPES

    if x.shape[1] == 2:
        x = np.stack([x[:, 0] + x[:, 1], x[:, 0] - x[:, 1]], 1)
    dtype = np.dtype(AUDIO_SUBTYPES.get(meta["subtype"], "int16"))
    if dtype.kind == "f":
        return audio_from(np.clip(x * peak, -peak, peak).astype(dtype), meta)
    full = 2.0 ** (8 * dtype.itemsize - 1)
    return audio_from(np.clip(np.rint(x * full), -full, full - 1).astype(dtype), meta)


def _windows(n: int):
    """(start, stop) of each chunk of a signal of n samples."""
    return [(a, min(n, a + CHUNK)) for a in range(0, max(n, 1), CHUNK)]


def audio_latents(model, item: Audio, level: float, peak: float = 1.0):
    """The latent symbols (latent, frames of the chunk) of each chunk, channel after channel
    (``peak``: see ``to_float``)."""
    import torch

    from ..models.walloc import BOUND

    for window, keep in _audio_windows(model, item, peak):
        with torch.no_grad():
            u = model.net.analyse(window, level)[:, :, keep]
        yield from (torch.round(u).long() + BOUND).numpy()  # per channel: (latent, frames)


def audio_peaks(model, item: Audio, scale: float = 1.0) -> np.ndarray:
    """Per latent channel, the largest |v| the encoder gives ``item`` at gain 1 (before the
    bound: ``Walloc.encode_raw``), over every chunk and channel (``scale``: ``to_float``'s peak)."""
    import torch

    peak = np.zeros(model.cfg.latent)
    for window, keep in _audio_windows(model, item, scale):
        with torch.no_grad():
            v = model.net.encode_raw(window)[:, :, keep]
        if v.numel():  # (an empty item has one empty chunk)
            peak = np.maximum(peak, v.abs().amax(dim=(0, 2)).double().numpy())
    return peak


def _audio_windows(model, item: Audio, peak: float):
    """Each chunk of ``item`` (float32 (channels, 1, samples) with the model's reach of
    samples on both sides, zeros beyond the ends) and the slice of its latent frames it owns."""
    import torch

    x = to_float(item, peak)
    stride, halo = model.stride, model.reach * model.stride
    n = -(-len(x) // stride) * stride
    padded = np.zeros((n + 2 * halo, x.shape[1]))
    padded[halo:halo + len(x)] = x
    for a, b in _windows(n):
        yield (torch.from_numpy(padded[a:b + 2 * halo].T[:, None].astype(np.float32)),
               slice(model.reach, (halo + b - a) // stride))


def audio_symbols(dec, model, meta: dict) -> np.ndarray:
    """The centred latent symbols (channels, latent, frames / stride) of an audio stream."""
    from ..models.walloc import BOUND

    frames, channels, stride = int(meta["frames"]), int(meta["channels"]), model.stride
    n = -(-frames // stride) * stride
    q = np.zeros((channels, model.cfg.latent, n // stride), np.int64)
    for a, b in _windows(n):
        for c in range(channels):
            q[c, :, a // stride: b // stride] = decode_block(dec, model, ((b - a) // stride,)) - BOUND
    return q


def decode_audio(q: np.ndarray, model, meta: dict, level: float, precision: str = "float64",
                 peak: float = 1.0) -> Audio:
    """Audio from its centred latent symbols: each chunk with the model's reach of latents on
    both sides (zeros beyond the ends), the decoder in ``precision``."""
    frames, channels = int(meta["frames"]), int(meta["channels"])
    stride, halo = model.stride, model.reach
    n = q.shape[2] * stride
    q = np.pad(q.astype(np.float64), ((0, 0), (0, 0), (halo, halo)))
    out = np.empty((n, channels))
    with synthesis_net(model, "synthesis", precision) as (net, dtype):
        for a, b in _windows(n):
            x = net.synthesize(net.bands_of(_as(q[:, :, a // stride: b // stride + 2 * halo], dtype), level).float())
            out[a:b] = x[:, 0, halo * stride:halo * stride + b - a].double().numpy().T
    return from_float(out[:frames], meta, peak)


def _dequantize(model, q: np.ndarray, level: float) -> np.ndarray:
    """float32 v̂ of centred symbols (an image's (C, h, w) or audio's (channels, C, frames)),
    computed in float64 (the same on every machine) and rounded once."""
    import torch

    with torch.no_grad():
        v = model.synthesis.dequantize(torch.from_numpy(np.asarray(q, np.float64)), level)
    return v.reshape(q.shape).float().numpy()
