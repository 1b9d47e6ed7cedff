"""Spatiotemporal entropy model for video (after Sun et al. 2021, "Spatiotemporal Entropy Model
is All You Need for Learned Video Compression"): no motion estimation or compensation; one
image autoencoder codes every frame (raw frames, not residuals), and the entropy model of a
frame's latent is conditioned on its hyperprior, on the previous frame's decoded latent
(temporal prior) and on a checkerboard spatial context that decodes in two parallel passes.

    intra (first frame of a GOP): the base hyperprior image model, unchanged
    inter (frame t):   y_t = g_a(x_t)·gain ─h_a─► ẑ_t ─integer h_s─► σ_h, μ_h
                       T = temporal(ŷ_{t-1}),  d = ŷ_{t-1} − μ_h           (integer net)
                       anchors:  Δσ, Δμ, g = E(σ_h, μ_h, T, 0, d)
                       the rest: Δσ, Δμ, g = E(σ_h, μ_h, T, C(ŷ_t at anchors), d)
                       σ = σ_h + Δσ,  μ = μ_h + Δμ + g·d
                       q = round(y_t − μ) ─QuantizedGaussian(σ)─► ŷ_t = q + μ ─·inv_gain─► g_s

The gain g (per channel and position, unbounded) lets the model copy the previous frame's
latent where the scene holds still (g ≈ 1) and fall back on the hyperprior where it moves
(g ≈ 0): a linear path that a ReLU net would otherwise have to learn as an identity.

The transforms (g_a, g_s, h_a, h_s), the gains, the ẑ tables and the intra path are the shipped
hyperprior's, frozen, and named by the weights (``base`` in the config, ``base_sha256`` beside it): a stem weights
file holds only its own three nets (temporal, context, entropy parameters), and a stream decodes
only with the base it was trained on.  Since the autoencoder is frozen, the distortion of every
frame is the image codec's at the same level; training lowers the rate of inter frames alone:
the loss is the bits of y_t under the conditional Gaussian (uniform noise for y, as in training
the image model's prior), nothing else.  E's last layer starts at zero, so a fresh model codes
exactly like the image model: training can only move it down from there.

The gain level is one per stream, so ŷ_{t-1} is in the same units as y_t.  Everything the
entropy decoder depends on runs as ``IntegerNet`` (exact, any tiling, any thread count); the
synthesis is the image codec's float64 one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .base import ACT_BITS, IntegerNet, LearnedModel, TupleConfig, half_state, load_half, tiled
from .hyperprior import EXACT_TILE, SCALE_BOUND, Hyperprior, anchor_mask
from .hyperprior import InferenceModel as ImageModel

NETS = ("temporal", "context", "entropy_parameters")
TEMPORAL_HALO = 4  # latents of context the temporal net reads each way (5x5, 3x3, 3x3)


@dataclass(frozen=True)
class StemConfig(TupleConfig):
    base: str = "hyperprior-none-84000.pt"  # the frozen image model (weights file name)
    width: int = 64  # channels of the temporal net (its output: twice as many)
    context: int = 64  # channels of the checkerboard context
    hidden: int = 192  # channels of the entropy-parameter net


def _base_path(name: str) -> Path:
    from ..codecs.learned import weights_dir

    return weights_dir() / name


def base_digest(name: str) -> str:
    from . import packing

    return packing.open_weights(_base_path(name)).sha256


def nets(M: int, cfg: StemConfig) -> dict[str, nn.Module]:
    """The three trainable nets for an image model of M latent channels (small: a stem weights
    file is about 0.9 MB packed)."""
    w, c, e = cfg.width, cfg.context, cfg.hidden
    entropy = nn.Sequential(nn.Conv2d(3 * M + 2 * w + c, e, 1), nn.ReLU(), nn.Conv2d(e, e, 1), nn.ReLU(),
                            nn.Conv2d(e, 3 * M, 1))
    nn.init.zeros_(entropy[-1].weight)
    nn.init.zeros_(entropy[-1].bias)
    return {"temporal": nn.Sequential(nn.Conv2d(M, w, 5, padding=2), nn.ReLU(), nn.Conv2d(w, w, 3, padding=1),
                                      nn.ReLU(), nn.Conv2d(w, 2 * w, 3, padding=1)),
            "context": nn.Conv2d(M, c, 3, padding=1),
            "entropy_parameters": entropy}


class Stem(LearnedModel):
    codec_id = "stem"
    Config = StemConfig
    source = "video"
    stride = 64

    def __init__(self, cfg: StemConfig = StemConfig()):
        from . import packing

        super().__init__(cfg)
        art = packing.load(_base_path(cfg.base))
        self.image = Hyperprior(Hyperprior.config_from(art["config"]))
        self.image.load_artefact(art)
        self.image.requires_grad_(False)
        for name, net in nets(self.image.cfg.M, cfg).items():
            setattr(self, name, net)

    def train(self, mode: bool = True):
        super().train(mode)
        self.image.eval()  # frozen: its entropy models must not add training noise
        return self

    def main_parameters(self):
        return [p for p in self.parameters() if p.requires_grad]

    def weights_name(self, step: int) -> str:
        return f"stem-{self.cfg.width}-{step}.pt"

    # ---- the entropy model of an inter frame
    def params(self, hyper, temporal, ctx, prev):
        """(σ, μ) of an inter frame's positions (see the module docstring)."""
        scales, means = hyper.chunk(2, 1)
        d = prev - means
        ds, dm, g = self.entropy_parameters(torch.cat([hyper, temporal, ctx, d], 1)).chunk(3, 1)
        return torch.cat([scales + ds, means + dm + g * d], 1)

    def inter(self, y, hyper, prev, noise: bool):
        """Bits (per sample) of inter-frame latent y given the previous frame's ŷ, and ŷ."""
        temporal = self.temporal(prev)
        anchor = anchor_mask(*y.shape[2:], y.device)
        p_anchor = self.params(hyper, temporal, torch.zeros_like(y[:, :self.cfg.context]), prev)
        y_anchor = _rounded(y, p_anchor.chunk(2, 1)[1]) * anchor
        p_rest = self.params(hyper, temporal, self.context(y_anchor) * (1 - anchor), prev)
        scales, means = torch.where(anchor.bool(), p_anchor, p_rest).chunk(2, 1)
        bits = _bits(y, means, scales, noise)
        return bits, _rounded(y, means).detach()

    def _latents(self, clips, level):
        """y (B, K, M, h, w) and the float hyper-parameters of every frame, frozen."""
        b, k = clips.shape[:2]
        gain = self.image.gains(level)[0]
        with torch.no_grad():
            y = self.image.g_a(clips.flatten(0, 1)).unflatten(0, (b, k)) * gain[:, None]
            hyper = self.image.h_s(torch.round(self.image.h_a(y.flatten(0, 1)))).unflatten(0, (b, k))
        return y, hyper

    def _clip_bits(self, clips, level, noise: bool):
        """(inter bits, the image model's bits of the same frames) per sample, summed over the
        inter frames: the saving is what the temporal and spatial context buy."""
        y, hyper = self._latents(clips, level)
        prev = _rounded(y[:, 0], hyper[:, 0].chunk(2, 1)[1])
        inter = intra = 0
        for t in range(1, clips.shape[1]):
            bits, prev = self.inter(y[:, t], hyper[:, t], prev, noise)
            inter = inter + bits
            with torch.no_grad():
                scales, means = hyper[:, t].chunk(2, 1)
                intra = intra + _bits(y[:, t], means, scales, False)
        return inter, intra

    def loss(self, batch):
        level = torch.randint(0, self.image.cfg.levels, (batch.shape[0],), device=batch.device).float()
        inter, intra = self._clip_bits(batch, level, noise=True)
        pixels = (batch.shape[1] - 1) * batch.shape[3] * batch.shape[4]
        bpp = inter.mean() / pixels
        return bpp, {"bpp": bpp.item(), "saving": 1 - inter.sum().item() / max(intra.sum().item(), 1e-9)}

    @torch.no_grad()
    def validate(self, batch):
        """Bits per pixel of the inter frames at their coded values, and the image model's bits
        of the same frames, at the lowest, middle and highest level."""
        out = {}
        pixels = batch.shape[0] * (batch.shape[1] - 1) * batch.shape[3] * batch.shape[4]
        for level in (0, self.image.cfg.levels // 2, self.image.cfg.levels - 1):
            lv = torch.full((batch.shape[0],), float(level), device=batch.device)
            inter, intra = self._clip_bits(batch, lv, noise=False)
            out[f"L{level}_bpp"] = round(inter.sum().item() / pixels, 4)
            out[f"L{level}_intra_bpp"] = round(intra.sum().item() / pixels, 4)
        return out

    def export(self) -> dict[str, Any]:
        return {"format": 1, "config": self.config_dict(), "base_sha256": base_digest(self.cfg.base),
                **{n: half_state(getattr(self, n)) for n in NETS}}

    def load_artefact(self, art: dict[str, Any], strict: bool = True) -> None:
        for name in NETS:
            if name in art:
                load_half(getattr(self, name), art[name])
            elif strict:
                raise KeyError(f"the artefact lacks {name}")


def _rounded(y, means):
    """ŷ as the decoder sees it: round(y − μ) + μ (μ's gradient passes straight through)."""
    return y + (torch.round(y - means) - (y - means)).detach()


def _bits(y, means, scales, noise: bool):
    """Bits per sample of y under N(μ, σ) discretized to unit bins: at y + uniform noise
    (training) or at the coded value round(y − μ)."""
    r = y - means
    r = r + torch.empty_like(r).uniform_(-0.5, 0.5) if noise else torch.round(r)
    s = scales.clamp_min(SCALE_BOUND)
    normal = torch.distributions.Normal(0.0, 1.0)
    upper, lower = normal.cdf((0.5 - r.abs()) / s), normal.cdf((-0.5 - r.abs()) / s)
    return -torch.log2((upper - lower).clamp_min(1e-9)).flatten(1).sum(1)


class InferenceModel:
    """The exact inference parts of a stem artefact over its base image model: ``inter(prev)``
    gives the staged entropy model (``masks``, ``stage_params``) of a frame after ``prev``."""

    def __init__(self, art: dict, image: ImageModel):
        cfg = StemConfig.from_dict(art["config"])
        built = nets(image.cfg.M, cfg)
        for name in NETS:
            load_half(built[name], art[name])
        self.temporal = IntegerNet.from_module(built["temporal"], ACT_BITS)
        self.context = IntegerNet.from_module(built["context"], ACT_BITS)
        self.entropy_parameters = IntegerNet.from_module(built["entropy_parameters"], ACT_BITS)
        self.image, self.cfg, self.levels = image, cfg, image.levels

    def inter(self, prev: torch.Tensor) -> InterFrame:
        """The entropy model of the frame after one whose ŷ (gain units, float64) is ``prev``."""
        prev = prev * 2**ACT_BITS  # integers: ŷ = q + μ, μ in units of 2**-ACT_BITS
        return InterFrame(self, tiled(self.temporal, prev, 1, 1, EXACT_TILE, TEMPORAL_HALO), prev)


class InterFrame:
    """Checkerboard stages of one inter frame (``codecs.learned.code_stages`` drives it)."""

    def __init__(self, model: InferenceModel, temporal: torch.Tensor, prev: torch.Tensor):
        self.model, self.temporal, self.prev = model, temporal, prev

    def masks(self, h: int, w: int) -> list[torch.Tensor]:
        anchor = anchor_mask(h, w).bool()
        return [anchor, ~anchor]

    def stage_params(self, hyper: torch.Tensor, y_hat: torch.Tensor, stage: int):
        m = self.model
        ctx = (torch.zeros_like(y_hat[:, :m.cfg.context]) if stage == 0 else
               tiled(m.context, y_hat * 2**ACT_BITS, 1, 1, EXACT_TILE, 1))
        scales, means = hyper.chunk(2, 1)
        d = self.prev - means
        e = tiled(m.entropy_parameters, torch.cat([hyper, self.temporal, ctx, d], 1), 1, 1, EXACT_TILE, 0)
        ds, dm, g = e.chunk(3, 1)
        unit = 2.0**-ACT_BITS
        means = means + dm + torch.floor(g * d * unit)  # exact: integer products, a power-of-two division
        return ((scales + ds) * unit).clamp_min(SCALE_BOUND), means * unit
