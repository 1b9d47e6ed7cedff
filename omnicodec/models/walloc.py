"""WaLLoC: a wavelet packet transform, a linear encoder and a deeper decoder, with a bounded,
entropy-coded latent (after Jacobellis & Yadwadkar, "Learned Compression for Compressed
Learning", DCC 2025; our own code, read from the paper and its reference package).

    x ─WPT (J levels, bior4.4)─► X (C·bands channels, 1/2^J size) ─1×1 conv─► y
    y ·gain[level] ─bound (B·tanh(·/B), or K·asinh(·/K) for audio)─► u ─round─► q ∈ [-B, B]
    q (audio: K·sinh(q/K)) ·inv_gain ─► linear 1×1 conv + residual 3-tap conv stack ─► X̂
    X̂ ─inverse WPT─► x̂      (per-channel integer tables code q)

The encoder is one matrix per latent position on top of a fixed filter bank, so encoding is
cheap on a CPU; the dimensionality reduction (C·bands / latent, e.g. 192/12 = 16×) sets the
rate range of a model.  Where the paper packs 8-bit latents into lossless WebP, we train a
rate term and code the latent through the shared entropy backend: one learned factorized
density per channel and rate level (compressai's ``EntropyBottleneck``), exported as integer
frequency tables over the whole bounded alphabet (every symbol codable, nothing clipped).  The
gain units (Cui et al. 2021, ``models.base.level_gains``) make one network variable-rate: any
real level in [0, K-1] is valid, and the encoder picks, per channel, the level table that
codes the image's symbols in the fewest bits (one byte each in the stream).

Images (dims=2): RGB in [0, 1], sizes multiples of 2^J; audio (dims=1): channels × samples in
[-1, 1], lengths multiples of 2^J.  Loss: λ[level]·peak²·MSE + bits per sample (per pixel for
images: peak 255; audio: peak 2^15).  Determinism: the entropy decoder depends only on the
integer tables; the synthesis runs in float64 (``InferenceModel``), so pixels do not move with
the thread count.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ..metrics import psnr_of_mse
from .base import LearnedModel, half_state, level_gains, load_half
from .wavelets import WaveletPacket

BOUND = 127  # |q| <= BOUND: an 8-bit alphabet of 2·BOUND + 1 symbols
ASINH_K = 20.0  # the "asinh" bound's linear range: K·asinh(6000/K) < BOUND
SYMBOLS = 2 * BOUND + 1
TABLE_TOTAL = 1 << 16  # the tables' frequencies sum to this (uint16 in the artefact)
# λ per level for the two image models; the 16× model serves low rates, the 4× one high rates
LAMBDAS_16X = (0.0009, 0.0018, 0.0035, 0.0067, 0.013)
LAMBDAS_4X = (0.0067, 0.013, 0.025, 0.0483, 0.0932, 0.18)
# audio (44.1 kHz mono, 128 bands, 128 latents): about 20 to 170 kbit/s a channel
LAMBDAS_AUDIO = (5e-7, 1.5e-6, 4.5e-6, 1.35e-5, 4e-5, 1.2e-4, 3.6e-4)


@dataclass(frozen=True)
class WallocConfig:
    channels: int = 3  # image: 3 (RGB); audio: 1 or 2
    dims: int = 2  # 2: images, 1: audio
    levels: int = 3  # J, wavelet packet levels
    latent: int = 12  # latent channels (reduction = channels · bands / latent)
    width: int = 96  # decoder channels
    blocks: int = 3  # decoder residual blocks
    wave: str = "bior4.4"
    lambdas: tuple[float, ...] = LAMBDAS_16X
    step: float = 0.5  # the initial quantization step at gain 1, in wavelet-band units (``prepare``)
    # the bound: "tanh" (B·tanh(v/B): uniform steps up to about B/2, then saturating) or "asinh"
    # (K·asinh(v/K): uniform steps near 0, logarithmic beyond, so |v| up to ~6000 fits the
    # alphabet; the decoder sees K·sinh(q/K)): audio's dynamic range needs the second
    compand: str = "tanh"
    # a fixed factor between the learned weights and the latent (v = scale·encoder(X)·gain), so
    # that the weights of a model with a fine step stay O(1) (Adam's steps are absolute)
    scale: float = 1.0
    gain_span: float = 8.0  # top level's initial gain over the bottom's (geometric from 0.5)
    # images: the quality range (lo, hi) this model's levels span; () for the first models, which
    # split at 50 (the codec's ``LEGACY_SPLIT``); the decoder maps a stream's quality with it
    qualities: tuple[float, ...] = ()

    def __post_init__(self):
        if self.compand not in ("tanh", "asinh"):
            raise ValueError(f"unknown compand {self.compand!r}")
        if self.qualities and not (len(self.qualities) == 2 and 0 <= self.qualities[0] < self.qualities[1] <= 100):
            raise ValueError(f"qualities must be (lo, hi) with 0 <= lo < hi <= 100, got {self.qualities}")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> WallocConfig:
        return cls(**{**d, "lambdas": tuple(d.get("lambdas", LAMBDAS_16X)),
                      "qualities": tuple(d.get("qualities", ()))})

    @property
    def centre(self) -> float:
        """The input's mid-value, removed before the transform: images in [0, 1], audio in [-1, 1]."""
        return 0.5 if self.dims == 2 else 0.0

    @property
    def peak(self) -> float:
        return 255.0 if self.dims == 2 else 32768.0

    @property
    def reduction(self) -> float:
        return self.channels * (2**self.dims) ** self.levels / self.latent


class Residual(nn.Module):
    def __init__(self, conv, width: int):
        super().__init__()
        self.body = nn.Sequential(nn.GELU(), conv(width, width, 3, padding=1), nn.GELU(),
                                  conv(width, width, 3, padding=1))

    def forward(self, x):
        return x + self.body(x)


class Walloc(LearnedModel):
    codec_id = "walloc"
    Config = WallocConfig

    def __init__(self, cfg: WallocConfig = WallocConfig(), priors: bool = True):
        """``priors=False`` leaves out the float densities, which coding never uses (it codes
        with their integer tables) and which import compressai's entropy models (scipy)."""
        super().__init__(cfg)
        self.wpt = WaveletPacket(cfg.wave, cfg.levels, cfg.dims)
        bands = cfg.channels * self.wpt.bands
        conv = nn.Conv2d if cfg.dims == 2 else nn.Conv1d
        self.encoder = conv(bands, cfg.latent, 1)
        self.linear = conv(cfg.latent, bands, 1)
        self.decoder = nn.Sequential(conv(cfg.latent, cfg.width, 3, padding=1),
                                     *[Residual(conv, cfg.width) for _ in range(cfg.blocks)],
                                     nn.GELU(), conv(cfg.width, bands, 1))
        nn.init.zeros_(self.decoder[-1].weight)  # starts as a linear (PCA-like) codec
        nn.init.zeros_(self.decoder[-1].bias)
        k = len(cfg.lambdas)
        init = torch.exp(torch.linspace(np.log(0.5), np.log(0.5 * cfg.gain_span), k))[:, None]
        self.gain = nn.Parameter(init.repeat(1, cfg.latent))
        self.inv_gain = nn.Parameter((1 / init).repeat(1, cfg.latent))
        self.register_buffer("lambdas", torch.tensor(cfg.lambdas), persistent=False)
        self.priors = None
        if priors:
            from compressai.entropy_models import EntropyBottleneck

            self.priors = nn.ModuleList(EntropyBottleneck(cfg.latent) for _ in range(k))

    @property
    def source(self) -> str:  # the training data it eats
        return "images" if self.cfg.dims == 2 else "audio"

    @property
    def stride(self) -> int:
        return self.wpt.stride

    @classmethod
    def config_from(cls, d):
        return WallocConfig.from_dict(d)

    def config_dict(self):
        return {**asdict(self.cfg), "lambdas": list(self.cfg.lambdas), "qualities": list(self.cfg.qualities)}

    def weights_name(self, step: int) -> str:
        kind = "audio" if self.cfg.dims == 1 else "image"
        return f"walloc-{kind}-{self.cfg.reduction:g}x-{step}.pt"

    def gains(self, level) -> tuple[torch.Tensor, torch.Tensor]:
        g, ig = level_gains(self.gain, self.inv_gain, level)
        return (g, ig) if self.cfg.dims == 2 else (g[..., 0], ig[..., 0])

    # ---- the transforms (shared by training and inference)
    def analyse(self, x: torch.Tensor, level) -> torch.Tensor:
        """u: the bounded latent (before rounding) of x (images in [0, 1], audio in [-1, 1])."""
        g, _ = self.gains(level)
        v = self.encoder(self.wpt.analysis(x - self.cfg.centre)) * (g * self.cfg.scale)
        u = self.compand(v)
        return torch.clamp(u, -BOUND, BOUND) if self.cfg.compand == "asinh" else u

    def compand(self, v: torch.Tensor) -> torch.Tensor:
        """v through the bound, before its clamp: beyond BOUND, ``analyse`` clips (asinh; tanh
        never reaches it)."""
        if self.cfg.compand == "asinh":
            return ASINH_K * torch.asinh(v / ASINH_K)
        return BOUND * torch.tanh(v / BOUND)

    def encode_raw(self, x: torch.Tensor) -> torch.Tensor:
        """The latent at gain 1, before the bound (``analyse`` up to float rounding)."""
        return self.encoder(self.wpt.analysis(x - self.cfg.centre)) * self.cfg.scale

    def dequantize(self, q: torch.Tensor, level) -> torch.Tensor:
        """v̂, the latent in the decoder's units, of the (rounded) latent at a gain level: the
        same scale at every level, so it is what compressed-domain learning reads."""
        _, ig = self.gains(level)
        if self.cfg.compand == "asinh":
            q = ASINH_K * torch.sinh(q / ASINH_K)
        return q * (ig / self.cfg.scale)

    def decode_bands(self, v: torch.Tensor) -> torch.Tensor:
        """X̂, the decoded wavelet bands of a dequantized latent."""
        return self.linear(v) + self.decoder(v)

    def bands_of(self, q: torch.Tensor, level) -> torch.Tensor:
        """X̂, the decoded wavelet bands of the (rounded) latent."""
        return self.decode_bands(self.dequantize(q, level))

    def synthesize(self, bands: torch.Tensor) -> torch.Tensor:
        return self.wpt.synthesis(bands) + self.cfg.centre

    # ---- the trainer's contract
    @torch.no_grad()
    def prepare(self, batch: torch.Tensor) -> None:
        """Start as the best linear codec: the encoder projects the wavelet bands onto their
        top principal components (mean removed) with one quantization step ``cfg.step`` for
        all of them (transform coding's uniform step in an orthonormal basis), the linear
        decoder maps back; the residual decoder starts at zero."""
        bands = self.wpt.analysis(batch - self.cfg.centre)
        v = bands.transpose(0, 1).reshape(bands.shape[1], -1).double()
        mean = v.mean(1)
        basis = torch.linalg.eigh(torch.cov(v))[1].flip(1)[:, :self.cfg.latent]  # (bands, latent)
        w = basis.T / (self.cfg.step * self.cfg.scale)
        self.encoder.weight.copy_(w.reshape(self.encoder.weight.shape))
        self.encoder.bias.copy_(-(w @ mean))
        self.linear.weight.copy_((basis * self.cfg.step * self.cfg.scale).reshape(self.linear.weight.shape))
        self.linear.bias.copy_(mean)

    def forward(self, x: torch.Tensor, level: torch.Tensor):
        u = self.analyse(x, level)
        bits = self.bits(u, level)
        q = u + (torch.round(u) - u).detach()  # the decoder sees rounded values (straight-through)
        return self.synthesize(self.bands_of(q, level)), bits

    def bits(self, u: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
        """Bits of each item of the batch under its level's densities: of u plus uniform noise in
        training (the relaxation), of the rounded latent in eval (what the tables code)."""
        v = u + torch.rand_like(u) - 0.5 if self.training else torch.round(u)
        bits = torch.zeros(u.shape[0], device=u.device)
        for k in torch.unique(level.long()).tolist():
            rows = level.long() == k
            bits[rows] = -torch.log2(_likelihood(self.priors[k], v[rows])).sum(1)
        return bits

    def loss(self, batch):
        level = torch.randint(0, len(self.cfg.lambdas), (batch.shape[0],), device=batch.device)
        x_hat, bits = self(batch, level.float())
        per = batch[:, 0].numel() // batch.shape[0]  # pixels or samples of one item
        mse = ((batch - x_hat) ** 2).flatten(1).mean(1)
        rate = bits / per
        loss = (self.lambdas[level] * self.cfg.peak**2 * mse + rate).mean()
        return loss, {"bpp": rate.mean().item(), "psnr": _psnr(mse.mean().item(), self.cfg)}

    def aux_parameters(self):
        return [p for n, p in self.named_parameters() if n.endswith(".quantiles")]

    def aux_loss(self):
        return sum(p.loss() for p in self.priors)

    @torch.no_grad()
    def validate(self, batch):
        """Rate (from the densities, rounded latent) and PSNR at the lowest, middle and top level."""
        out, k = {}, len(self.cfg.lambdas)
        per = batch[:, 0].numel()
        for level in (0, k // 2, k - 1):
            x_hat, bits = self(batch, torch.full((batch.shape[0],), float(level), device=batch.device))
            out[f"L{level}_bpp"] = round(bits.sum().item() / per, 4)
            lo = 0.0 if self.cfg.dims == 2 else -1.0
            out[f"L{level}_psnr"] = round(_psnr(((batch - x_hat.clamp(lo, 1)) ** 2).mean().item(), self.cfg), 3)
        return out

    def export(self) -> dict[str, Any]:
        """fp16 transforms, gains, and per level the integer tables of every channel's density
        over the whole alphabet (plus the densities in fp16, so a run can start from it)."""
        return {"format": 1, "config": self.config_dict(),
                **{n: half_state(getattr(self, n)) for n in ("encoder", "linear", "decoder")},
                "gain": self.gain.detach().float().cpu(), "inv_gain": self.inv_gain.detach().float().cpu(),
                "tables": pack_tables(self.tables()),
                "priors": half_state(self.priors)}

    @torch.no_grad()
    def tables(self) -> np.ndarray:
        """Integer frequencies (levels, latent, SYMBOLS), uint16, each row summing to 2**16 with
        every symbol at least 1: the densities' mass on each symbol's bin (stored: the decoder
        never recomputes them, so only the stored integers must agree)."""
        values = torch.arange(-BOUND, BOUND + 1, dtype=torch.float32)
        rows = []
        for prior in self.priors:
            pmf = prior._likelihood(values.repeat(self.cfg.latent, 1, 1))[0][:, 0].double().cpu().numpy()
            freq = 1 + np.floor(pmf / pmf.sum(1, keepdims=True) * (TABLE_TOTAL - SYMBOLS)).astype(np.int64)
            freq[np.arange(len(freq)), pmf.argmax(1)] += TABLE_TOTAL - freq.sum(1)
            rows.append(freq)
        return np.stack(rows).astype(np.uint16)

    def load_artefact(self, art: dict[str, Any], strict: bool = True) -> None:
        for name in ("encoder", "linear", "decoder"):
            load_half(getattr(self, name), art[name])
        self.gain.data.copy_(art["gain"])
        self.inv_gain.data.copy_(art["inv_gain"])
        if self.priors is not None and "priors" in art:
            # parameters only: the densities' constant buffers (the likelihood's lower bound,
            # 1e-9) underflow to 0 in the shipped fp16, and log2(0) made training from shipped
            # weights diverge within 50 steps
            params = dict(self.priors.named_parameters())
            self.priors.load_state_dict({k: v.float() for k, v in art["priors"].items() if k in params},
                                        strict=False)


def ladder(art: dict[str, Any], levels: list[int], qualities: tuple[float, float]) -> dict[str, Any]:
    """The artefact of a trained model restricted to some of its rate ``levels`` (in order),
    which the ``qualities`` range then spans: the gains, prior tables, densities and λ of those
    levels only, the transforms unchanged.  One run's model serves part of the quality range
    where a model trained for more levels shares its capacity worse (audio: the 8-level run's
    top levels beat the 7-level model above ~60 kbit/s, its lower ones lose below)."""
    cfg = dict(art["config"])
    k, latent = len(cfg["lambdas"]), cfg["latent"]
    if not levels or sorted(set(levels)) != list(levels) or levels[-1] >= k or levels[0] < 0:
        raise ValueError(f"levels must be increasing indices below {k}, got {levels}")
    tables = unpack_tables(art["tables"], (k, latent, SYMBOLS))[list(levels)]
    priors = {}
    for key, value in art["priors"].items():
        n, _, rest = key.partition(".")
        if int(n) in levels:
            priors[f"{levels.index(int(n))}.{rest}"] = value
    return {**art, "config": {**cfg, "lambdas": [cfg["lambdas"][i] for i in levels], "qualities": list(qualities)},
            "gain": art["gain"][list(levels)], "inv_gain": art["inv_gain"][list(levels)],
            "tables": pack_tables(tables), "priors": priors}


def pack_tables(tables: np.ndarray) -> torch.Tensor:
    """uint16 tables as a uint8 tensor of their zlib-compressed little-endian bytes (the tails
    of 1s and smooth rows shrink 6-13×, which keeps the shipped weights inside the size budget)."""
    import zlib

    return torch.frombuffer(bytearray(zlib.compress(tables.astype("<u2").tobytes(), 9)), dtype=torch.uint8)


def unpack_tables(packed: torch.Tensor, shape: tuple[int, ...]) -> np.ndarray:
    """The inverse of ``pack_tables``, refusing data that does not inflate to exactly ``shape``."""
    import zlib

    size = 2 * int(np.prod(shape))
    inflate = zlib.decompressobj()
    try:
        raw = inflate.decompress(packed.numpy().tobytes(), size)
    except zlib.error as exc:
        raise ValueError(f"prior tables do not inflate: {exc}") from None
    if len(raw) != size or inflate.unconsumed_tail or not inflate.eof:
        raise ValueError(f"prior tables are not {shape}")
    return np.frombuffer(raw, "<u2").reshape(shape).astype(np.int64)


def _likelihood(prior, v: torch.Tensor) -> torch.Tensor:
    """A factorized density's likelihood of the bins [v - 1/2, v + 1/2], (B, C, ...) -> (B, rest)."""
    b, c = v.shape[:2]
    lik = prior._likelihood(v.transpose(0, 1).reshape(c, 1, -1))[0]
    return prior.likelihood_lower_bound(lik).reshape(c, b, -1).transpose(0, 1).reshape(b, -1)


def _psnr(mse: float, cfg: WallocConfig) -> float:
    return psnr_of_mse(mse * (1.0 if cfg.dims == 2 else 0.25))  # audio: peak-to-peak 2 -> 1


class InferenceModel:
    """What coding needs, from an artefact: the float32 analysis, the float64 synthesis (the
    same on any thread count) and the integer tables."""

    def __init__(self, art: dict):
        cfg = WallocConfig.from_dict(art["config"])
        net = Walloc(cfg, priors=False)
        net.load_artefact(art)
        self.synthesis = copy.deepcopy(net).double().eval()
        net.wpt.compiled = True  # the encoder's analysis through the Numba kernel
        self.net = net.eval()
        tables = unpack_tables(art["tables"], (len(cfg.lambdas), cfg.latent, SYMBOLS))
        if tables.min() < 1 or (tables.sum(axis=2) != TABLE_TOTAL).any():
            raise ValueError(f"prior tables of {cfg} do not sum to {TABLE_TOTAL} with every symbol >= 1")
        self.tables = tables
        self.cfg = cfg
        self.levels = len(cfg.lambdas)
        self.stride = net.stride
        # latents of context that determine a latent's decoded bands (the 3-tap convolutions) and,
        # with the inverse WPT's filters (reach ≤ taps/2 latents over all levels), its samples
        self.decoder_reach = 1 + 2 * cfg.blocks
        self.reach = self.decoder_reach + net.wpt.reach + 2
