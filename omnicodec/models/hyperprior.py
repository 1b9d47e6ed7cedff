"""Variable-rate mean-scale hyperprior (Minnen et al. 2018) with gain units (Cui et al. 2021)
and an optional checkerboard context model (He et al. 2021), built from compressai's layers, and
its integer entropy-parameter path for deterministic decoding.

    x ─g_a─► y ·gain[q] ─h_a─► z ─Q─► ẑ (factorized prior, integer CDF tables)
                               ẑ ─h_s (integer arithmetic)─► p   (exact on every machine)
    plain:        μ, σ = p
    checkerboard: anchors (i+j even):  μ, σ = p + E(p, 0)
                  the rest:            μ, σ = p + E(p, C(ŷ at anchors))     (integer C and E too)
    q = round(y·gain − μ) ─ANS/range, QuantizedGaussian(0, σ)─► ŷ = (q + μ)·inv_gain ─g_s─► x̂
    (inv_gain is learned beside gain, about 1/gain)

The checkerboard decodes in two parallel passes (anchors, then the rest), not pixel by pixel.
C is a 5×5 convolution over the anchors' ŷ and E a stack of 1×1 convolutions whose last layer
starts at zero, so a checkerboard model starts out as the plain model it is initialised from.

One network covers the whole rate range: ``gain`` is a per-channel vector chosen from K learned
levels (one per training λ) and interpolated geometrically between neighbours, so any real
quality in [0, K-1] is valid.

Determinism: the values the entropy decoder depends on (μ, σ and the ẑ tables) come from
``IntegerNet`` copies of h_s (and of the context model), built at load time from the fp16
weights (see ``models.base``); the encoder uses the same integer path, so their quantization
costs a little rate, never correctness.  The ẑ prior ships as integer frequency tables.  The
synthesis g_s, which only shapes pixels, runs in float64 so that thread count does not move them.

Training (``codec train hyperprior``, ``models.train``): each sample of a batch draws a rate
level; the loss is λ[level]·255²·MSE + bpp.  The λ of each level are part of the config, saved
with every checkpoint and artefact.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from ..metrics import psnr_of_mse
from .base import (
    ACT_BITS,
    IntegerNet,
    LearnedModel,
    factorized_tables,
    half_state,
    import_parts,
    level_gains,
    load_half,
    tiled,
)

import_parts("compressai.layers", "compressai.models.utils")  # not compressai's __init__ (4 s)
from compressai.layers import GDN  # noqa: E402
from compressai.models.utils import conv, deconv  # noqa: E402

# λ per level (MSE on [0, 1] pixels scaled by 255², as in CompressAI's training recipe): from
# about 0.1 bpp to about 1.5 bpp on Kodak.  The default of the config; a config may hold others.
LAMBDAS = (0.0018, 0.0035, 0.0067, 0.013, 0.025, 0.0483, 0.0932)
SCALE_BOUND = 0.11
EXACT_TILE = 32  # latents per tile side for the integer nets (exact whatever the tiling)
ENTROPY_MODULES = {"none": ("h_s",), "checkerboard": ("h_s", "context", "entropy_parameters")}


@dataclass(frozen=True)
class HyperpriorConfig:
    N: int = 96
    M: int = 128
    context: str = "none"  # "none" or "checkerboard"
    lambdas: tuple[float, ...] = LAMBDAS

    @property
    def levels(self) -> int:
        return len(self.lambdas)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> HyperpriorConfig:
        """From a saved config; the first artefacts stored ``levels`` and no λ (they used LAMBDAS)."""
        d = dict(d)
        levels = d.pop("levels", None)
        cfg = cls(**{**d, "lambdas": tuple(d.get("lambdas", LAMBDAS))})
        if levels is not None and levels != cfg.levels:
            raise ValueError(f"config says {levels} levels but holds {cfg.levels} λ")
        return cfg

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "lambdas": list(self.lambdas), "levels": self.levels}


class Hyperprior(LearnedModel):
    codec_id = "hyperprior"
    Config = HyperpriorConfig
    source = "images"
    stride = 64

    def __init__(self, cfg: HyperpriorConfig = HyperpriorConfig(), priors: bool = True):
        """``priors=False`` leaves out the float entropy models, which coding never uses (it
        codes with integer tables) and whose import and construction pull in scipy and all of
        compressai (5 s of a CLI call)."""
        super().__init__(cfg)
        N, M = cfg.N, cfg.M
        self.g_a = nn.Sequential(conv(3, N), GDN(N), conv(N, N), GDN(N), conv(N, N), GDN(N), conv(N, M))
        self.g_s = nn.Sequential(deconv(M, N), GDN(N, inverse=True), deconv(N, N), GDN(N, inverse=True),
                                 deconv(N, N), GDN(N, inverse=True), deconv(N, 3))
        self.h_a = nn.Sequential(conv(M, N, 3, 1), nn.LeakyReLU(inplace=True), conv(N, N), nn.LeakyReLU(inplace=True),
                                 conv(N, N))
        self.h_s = nn.Sequential(deconv(N, M), nn.ReLU(inplace=True), deconv(M, M * 3 // 2), nn.ReLU(inplace=True),
                                 conv(M * 3 // 2, M * 2, 3, 1))
        self.entropy_bottleneck = self.gaussian_conditional = None
        if priors:
            from compressai.entropy_models import EntropyBottleneck, GaussianConditional  # scipy: 1 s

            self.entropy_bottleneck = EntropyBottleneck(N)
            self.gaussian_conditional = GaussianConditional(None, scale_bound=SCALE_BOUND)
        if cfg.context == "checkerboard":
            self.context = nn.Conv2d(M, 2 * M, 5, padding=2)
            self.entropy_parameters = nn.Sequential(
                nn.Conv2d(4 * M, M * 10 // 3, 1), nn.ReLU(inplace=True),
                nn.Conv2d(M * 10 // 3, M * 8 // 3, 1), nn.ReLU(inplace=True), nn.Conv2d(M * 8 // 3, 2 * M, 1))
            nn.init.zeros_(self.entropy_parameters[-1].weight)
            nn.init.zeros_(self.entropy_parameters[-1].bias)
        elif cfg.context != "none":
            raise ValueError(f"unknown context model {cfg.context!r}")
        # geometric initial gains, so the levels differ in rate from the first step (quantization
        # step ∝ 1/gain; λ spans ~50x, i.e. ~7x in step size)
        init = torch.exp(torch.linspace(math.log(0.35), math.log(2.5), cfg.levels))[:, None]
        self.gain = nn.Parameter(init.repeat(1, M))
        self.inv_gain = nn.Parameter((1 / init).repeat(1, M))
        self.register_buffer("lambdas", torch.tensor(cfg.lambdas), persistent=False)

    @classmethod
    def config_from(cls, d):
        return HyperpriorConfig.from_dict(d)

    def config_dict(self):
        return self.cfg.to_dict()

    def weights_name(self, step: int) -> str:
        return f"hyperprior-{self.cfg.context}-{step}.pt"

    def gains(self, level) -> tuple[torch.Tensor, torch.Tensor]:
        """(gain, inverse gain), shape (B or 1, M, 1, 1), for integer or fractional levels."""
        return level_gains(self.gain, self.inv_gain, level)

    def forward(self, x: torch.Tensor, level: torch.Tensor):
        g, ig = self.gains(level)
        y = self.g_a(x) * g
        z = self.h_a(y)
        z_hat, z_lik = self.entropy_bottleneck(z)
        params = self.h_s(z_hat)
        if self.cfg.context == "checkerboard":
            params = self._checkerboard(y, params)
        scales, means = params.chunk(2, 1)
        y_hat, y_lik = self.gaussian_conditional(y, scales, means=means)
        x_hat = self.g_s(y_hat * ig)
        return x_hat, y_lik, z_lik

    def _checkerboard(self, y: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        """Entropy parameters for every position: anchors from the hyperprior alone, the rest
        also from the anchors' ŷ, rounded as the decoder sees them (straight-through)."""
        anchor = anchor_mask(*y.shape[2:], y.device)
        p_anchor = params + self.entropy_parameters(torch.cat([params, torch.zeros_like(params)], 1))
        mu = p_anchor.chunk(2, 1)[1]
        y_round = y + (torch.round(y - mu) - (y - mu)).detach()
        ctx = self.context(y_round * anchor) * (1 - anchor)
        p_rest = params + self.entropy_parameters(torch.cat([params, ctx], 1))
        return torch.where(anchor.bool(), p_anchor, p_rest)

    # ---- the trainer's contract (models.base.LearnedModel)
    def loss(self, batch):
        level = torch.randint(0, self.cfg.levels, (batch.shape[0],), device=batch.device)
        x_hat, y_lik, z_lik = self(batch, level.float())
        loss, bpp, mse = rd_loss(batch, x_hat, y_lik, z_lik, self.lambdas[level])
        return loss, {"bpp": bpp.item(), "psnr": psnr_of_mse(mse.item())}

    def aux_parameters(self):
        return [p for n, p in self.named_parameters() if n.endswith(".quantiles")]

    def aux_loss(self):
        return self.entropy_bottleneck.loss()

    @torch.no_grad()
    def validate(self, batch):
        """bpp (from the likelihoods) and PSNR at the lowest, middle and highest level."""
        out = {}
        for level in (0, self.cfg.levels // 2, self.cfg.levels - 1):
            x_hat, y_lik, z_lik = self(batch, torch.full((batch.shape[0],), float(level), device=batch.device))
            bits = -torch.log2(y_lik).sum() - torch.log2(z_lik).sum()
            out[f"L{level}_bpp"] = round(bits.item() / batch[:, 0].numel(), 4)
            out[f"L{level}_psnr"] = round(psnr_of_mse(((batch - x_hat.clamp(0, 1)) ** 2).mean().item()), 3)
        return out

    def export(self) -> dict[str, Any]:
        """The shipped artefact: fp16 transforms (the integer nets are derived from their fp16
        weights exactly at load time), gains, the integer ẑ tables, and the float factorized
        prior (not used for coding; it lets a training run start from shipped weights)."""
        names = ("g_a", "g_s", "h_a") + ENTROPY_MODULES[self.cfg.context]
        return {"format": 2, "config": self.config_dict(), **{n: half_state(getattr(self, n)) for n in names},
                "gain": self.gain.detach().float().cpu(), "inv_gain": self.inv_gain.detach().float().cpu(),
                "z": factorized_tables(self.entropy_bottleneck),
                "entropy_bottleneck": {k: v.detach().float().cpu()
                                       for k, v in self.entropy_bottleneck.named_parameters()}}

    def load_artefact(self, art: dict[str, Any], strict: bool = True) -> None:
        """Weights from an artefact.  Not ``strict`` (a training run's start), modules it lacks
        keep their init: a checkerboard's context when starting from a plain model, the
        factorized prior of a format-1 artefact."""
        for name in ("g_a", "g_s", "h_a") + ENTROPY_MODULES[self.cfg.context]:
            if name in art:
                load_half(getattr(self, name), art[name])
            elif strict:
                raise KeyError(f"the artefact lacks {name}")
        self.gain.data.copy_(art["gain"])
        self.inv_gain.data.copy_(art["inv_gain"])
        if "entropy_bottleneck" in art and self.entropy_bottleneck is not None:
            self.entropy_bottleneck.load_state_dict(art["entropy_bottleneck"], strict=False)


def anchor_mask(h: int, w: int, device=None) -> torch.Tensor:
    """1 at checkerboard anchors ((i + j) even), shape (1, 1, h, w)."""
    i = torch.arange(h, device=device)[:, None]
    j = torch.arange(w, device=device)[None, :]
    return ((i + j) % 2 == 0).float()[None, None]


def rd_loss(x, x_hat, y_lik, z_lik, lambdas: torch.Tensor):
    """Per-sample λ·255²·MSE + bpp, averaged; returns (loss, bpp, mse) for logging."""
    pixels = x.shape[2] * x.shape[3]
    bits = (-torch.log2(y_lik).flatten(1).sum(1) - torch.log2(z_lik).flatten(1).sum(1)) / pixels
    mse = ((x - x_hat) ** 2).flatten(1).mean(1)
    loss = (lambdas * 255**2 * mse + bits).mean()
    return loss, bits.mean(), mse.mean()


class InferenceModel:
    """The parts of a Hyperprior that encoding and decoding need, loaded from an artefact.

    The latent is coded in ``len(masks())`` stages (one for the plain model; anchors, then the
    rest for the checkerboard); ``stage_params`` gives each stage's exact (σ, μ).
    """

    def __init__(self, art: dict):
        cfg = HyperpriorConfig.from_dict(art["config"])
        net = Hyperprior(cfg, priors=False)
        net.load_artefact(art)
        # synthesis in float64: a float32 convolution sums in an order that depends on the thread
        # count, which moved some pixels by one level; in float64 such a flip needs an output
        # within ~1e-13 of a rounding boundary.
        self.g_s = copy.deepcopy(net.g_s).double().eval()
        # integer nets from the fp16 values: fp16 -> float32 -> float64 and power-of-two scaling
        # are exact
        self.h_s = IntegerNet.from_module(net.h_s)
        if cfg.context == "checkerboard":
            self.context = IntegerNet.from_module(net.context, ACT_BITS)
            self.entropy_parameters = IntegerNet.from_module(net.entropy_parameters, ACT_BITS)
        self.net = net.eval()
        self.z_freqs = art["z"]["freqs"].long()
        self.z_offsets = art["z"]["offsets"].long()
        self.cfg = cfg
        self.levels = cfg.levels
        self.dropped = tuple(art.get("dropped", ()))  # a decode-only file's missing nets (g_a, h_a)

    def hyper(self, z_sym: torch.Tensor) -> torch.Tensor:
        """Integer hyper-parameters (units of 2**-ACT_BITS) from the ẑ symbols (in tiles: exact)."""
        z = z_sym.double() + self.z_offsets[None, :, None, None].double()
        return tiled(self.h_s, z, 1, 4, EXACT_TILE // 4, 2)

    def masks(self, h: int, w: int) -> list[torch.Tensor]:
        """Boolean (1, 1, h, w) masks of the latent positions coded in each stage."""
        if self.cfg.context == "none":
            return [torch.ones(1, 1, h, w, dtype=torch.bool)]
        anchor = anchor_mask(h, w).bool()
        return [anchor, ~anchor]

    def stage_params(self, hyper: torch.Tensor, y_hat: torch.Tensor, stage: int):
        """(σ, μ) as float64 for a stage, from the hyper-parameters and ŷ of earlier stages."""
        p = hyper
        if self.cfg.context == "checkerboard":
            ctx = torch.zeros_like(hyper) if stage == 0 else tiled(self.context, y_hat * 2**ACT_BITS, 1, 1,
                                                                     EXACT_TILE, 2)
            p = hyper + tiled(self.entropy_parameters, torch.cat([hyper, ctx], 1), 1, 1, EXACT_TILE, 0)
        scales, means = p.chunk(2, 1)
        unit = 2.0**-ACT_BITS
        return (scales * unit).clamp_min(SCALE_BOUND), means * unit
