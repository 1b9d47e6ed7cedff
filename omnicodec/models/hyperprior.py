"""Variable-rate mean-scale hyperprior (Minnen et al. 2018) with gain units (Cui et al. 2021)
and an optional checkerboard context model (He et al. 2021), built from compressai's layers, and
its integer entropy-parameter path for deterministic decoding.

    x ─g_a─► y ·gain[q] ─h_a─► z ─Q─► ẑ (factorized prior, integer CDF tables)
                               ẑ ─h_s (integer arithmetic)─► p   (exact on every machine)
    plain:        μ, σ = p
    checkerboard: anchors (i+j even):  μ, σ = p + E(p, 0)
                  the rest:            μ, σ = p + E(p, C(ŷ at anchors))     (integer C and E too)
    q = round(y·gain − μ) ─ANS/range, QuantizedGaussian(0, σ)─► ŷ = (q + μ) / gain ─g_s─► x̂

The checkerboard decodes in two parallel passes (anchors, then the rest), not pixel by pixel.
C is a 5×5 convolution over the anchors' ŷ and E a stack of 1×1 convolutions whose last layer
starts at zero, so a checkerboard model starts out as the plain model it is initialised from.

One network covers the whole rate range: ``gain`` is a per-channel vector chosen from K learned
levels (one per training λ) and interpolated geometrically between neighbours, so any real
quality in [0, K-1] is valid.

Determinism (CompressAI issues #279, #309, #54): the values the entropy decoder depends on (μ, σ,
and the ẑ tables) must be identical at encode and decode time on any machine, thread count or
device.  ``IntegerNet`` runs h_s (and the context model) on integer-valued float64 tensors with weights and
biases rounded to fixed point: every product and partial sum is an integer below 2**53, so the
result is exact whatever order the convolution sums in, and the flooring between layers is exact
too.  The encoder uses the same integer path, so the quantization of h_s costs a little rate,
never correctness.  The ẑ prior is stored as integer frequency tables computed at export.  The
synthesis g_s, which only shapes pixels, runs in float64 so that thread count does not move them.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
from compressai.entropy_models import EntropyBottleneck, GaussianConditional
from compressai.layers import GDN
from compressai.models.utils import conv, deconv
from torch import nn

# λ per level (MSE on [0, 1] pixels scaled by 255², as in CompressAI's training recipe): from
# about 0.1 bpp to about 1.5 bpp on Kodak.
LAMBDAS = (0.0018, 0.0035, 0.0067, 0.013, 0.025, 0.0483, 0.0932)
SCALE_BOUND = 0.11
ACT_BITS = 8  # fractional bits of the integer h_s activations
EXACT_TILE = 32  # latents per tile side for the integer nets (exact whatever the tiling)
WEIGHT_BITS = 12  # fractional bits of its weights


@dataclass(frozen=True)
class HyperpriorConfig:
    N: int = 96
    M: int = 128
    levels: int = len(LAMBDAS)
    context: str = "none"  # "none" or "checkerboard"

    def to_dict(self) -> dict:
        return asdict(self)


class Hyperprior(nn.Module):
    def __init__(self, cfg: HyperpriorConfig = HyperpriorConfig()):
        super().__init__()
        N, M = cfg.N, cfg.M
        self.cfg = cfg
        self.g_a = nn.Sequential(conv(3, N), GDN(N), conv(N, N), GDN(N), conv(N, N), GDN(N), conv(N, M))
        self.g_s = nn.Sequential(deconv(M, N), GDN(N, inverse=True), deconv(N, N), GDN(N, inverse=True),
                                 deconv(N, N), GDN(N, inverse=True), deconv(N, 3))
        self.h_a = nn.Sequential(conv(M, N, 3, 1), nn.LeakyReLU(inplace=True), conv(N, N), nn.LeakyReLU(inplace=True),
                                 conv(N, N))
        self.h_s = nn.Sequential(deconv(N, M), nn.ReLU(inplace=True), deconv(M, M * 3 // 2), nn.ReLU(inplace=True),
                                 conv(M * 3 // 2, M * 2, 3, 1))
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

    # ---- gains
    def gains(self, level: torch.Tensor | float) -> tuple[torch.Tensor, torch.Tensor]:
        """(gain, inverse gain), shape (B or 1, M, 1, 1), for integer or fractional levels."""
        level = torch.as_tensor(level, dtype=torch.float32).reshape(-1)
        level = level.clamp(0, self.cfg.levels - 1)
        lo = level.floor().long().clamp(max=self.cfg.levels - 2)
        t = (level - lo)[:, None]
        g = self.gain.abs()[lo] ** (1 - t) * self.gain.abs()[lo + 1] ** t
        ig = self.inv_gain.abs()[lo] ** (1 - t) * self.inv_gain.abs()[lo + 1] ** t
        return g[:, :, None, None], ig[:, :, None, None]

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


# -------------------------------------------------------------------------- integer nets
class IntegerNet:
    """A conv/deconv/ReLU stack in exact integer arithmetic on float64 tensors (see the module
    docstring).

    Built from a float stack; holds integer weights and biases.  ``__call__`` takes a float64
    tensor of integers, the input in units of 2**-in_bits (ẑ: in_bits=0; ŷ or parameters:
    in_bits=ACT_BITS), and returns integers in units of 2**-ACT_BITS, identical on every machine.
    """

    def __init__(self, layers: list[dict]):
        self.layers = layers  # each: kind, weight (int-valued float64), bias (int-valued), shift

    @classmethod
    def from_module(cls, net: nn.Module, in_bits: int = 0) -> IntegerNet:
        layers = []
        for m in (net if isinstance(net, nn.Sequential) else [net]):
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                w = torch.round(m.weight.detach().double() * 2**WEIGHT_BITS)
                b = torch.round(m.bias.detach().double() * 2 ** (WEIGHT_BITS + in_bits))
                layers.append({"kind": "deconv" if isinstance(m, nn.ConvTranspose2d) else "conv",
                               "weight": w, "bias": b, "shift": WEIGHT_BITS + in_bits - ACT_BITS,
                               "stride": m.stride[0], "padding": m.padding[0],
                               "output_padding": getattr(m, "output_padding", (0,))[0]})
                in_bits = ACT_BITS
            elif isinstance(m, nn.ReLU):
                layers.append({"kind": "relu"})
            else:
                raise TypeError(f"an integer net cannot run {type(m).__name__}")
        return cls(layers)

    @torch.no_grad()
    def __call__(self, x_int: torch.Tensor) -> torch.Tensor:
        x = x_int.double().cpu()
        for layer in self.layers:
            if layer["kind"] == "relu":
                x = x.clamp_min(0)
                continue
            if layer["kind"] == "conv":
                x = torch.nn.functional.conv2d(x, layer["weight"], layer["bias"], layer["stride"], layer["padding"])
            else:
                x = torch.nn.functional.conv_transpose2d(x, layer["weight"], layer["bias"], layer["stride"],
                                                         layer["padding"], layer["output_padding"])
            x = torch.floor(x / 2 ** layer["shift"])  # exact: power-of-two division of integers
        return x


def tiled(fn, x: torch.Tensor, in_per: int, out_per: int, tile: int, halo: int, finish=None):
    """``fn`` (fully convolutional) over ``x`` (1, C, H, W) in a fixed tiling, so that memory
    follows the tile and not the image.  Tiles are ``tile`` grid cells square from the top-left,
    each computed with up to ``halo`` cells of its neighbours on every side; a cell is
    ``in_per`` input and ``out_per`` output positions.  ``finish`` maps each kept tile (e.g. to
    8-bit numpy) before it is stitched.  Exact for the integer nets (any tiling gives the same
    integers); for float nets the tiling is part of the computation's definition."""
    _, _, height, width = x.shape
    h, w = height // in_per, width // in_per
    out = None
    for r0 in range(0, h, tile):
        for c0 in range(0, w, tile):
            r1, c1 = min(h, r0 + tile), min(w, c0 + tile)
            a, b = max(0, r0 - halo), max(0, c0 - halo)
            t = fn(x[:, :, a * in_per: min(h, r1 + halo) * in_per, b * in_per: min(w, c1 + halo) * in_per])
            t = t[:, :, (r0 - a) * out_per: (r1 - a) * out_per, (c0 - b) * out_per: (c1 - b) * out_per]
            t = finish(t) if finish else t
            if out is None:
                shape = (*t.shape[:2], h * out_per, w * out_per)
                out = np.empty(shape, t.dtype) if isinstance(t, np.ndarray) else torch.empty(shape, dtype=t.dtype)
            out[:, :, r0 * out_per: r1 * out_per, c0 * out_per: c1 * out_per] = t
    return out


def z_tables(bottleneck: EntropyBottleneck) -> dict:
    """Integer frequency tables of the factorized ẑ prior, one row per channel, and the integer
    offsets of their first symbol (ẑ = symbol + offset).  Built once, at export."""
    bottleneck.update(force=True)
    cdf = bottleneck._quantized_cdf.to(torch.int64)
    length = bottleneck._cdf_length.to(torch.int64)
    width = int(length.max()) - 1
    freqs = torch.zeros(cdf.shape[0], width, dtype=torch.int64)
    for c in range(cdf.shape[0]):
        f = cdf[c, 1:length[c]] - cdf[c, :length[c] - 1]
        freqs[c, :f.numel()] = f
    medians = torch.round(bottleneck._get_medians().detach().reshape(-1)).to(torch.int64)
    offsets = bottleneck._offset.to(torch.int64) + medians
    return {"freqs": freqs[:, :-1].clamp_min(0), "offsets": offsets}  # last bin: compressai's overflow


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def psnr(mse: float) -> float:
    return 10 * math.log10(1.0 / max(mse, 1e-12))


# ------------------------------------------------------------------------------ artefacts
ENTROPY_MODULES = {"none": ("h_s",), "checkerboard": ("h_s", "context", "entropy_parameters")}


def export_weights(model: Hyperprior) -> dict:
    """The shipped artefact: fp16 transforms (the integer nets are derived from their fp16
    weights exactly at load time), gains, and the integer ẑ tables.  Loadable with
    weights_only=True."""
    model = model.cpu().eval()
    names = ("g_a", "g_s", "h_a") + ENTROPY_MODULES[model.cfg.context]
    half = {name: {k: v.detach().half() for k, v in getattr(model, name).state_dict().items()}
            for name in names}
    return {"format": 1, "config": model.cfg.to_dict(), **half,
            "gain": model.gain.detach().float(), "inv_gain": model.inv_gain.detach().float(),
            "z": z_tables(model.entropy_bottleneck)}


class InferenceModel:
    """The parts of a Hyperprior that encoding and decoding need, loaded from an artefact.

    The latent is coded in ``len(masks())`` stages (one for the plain model; anchors, then the
    rest for the checkerboard); ``stage_params`` gives each stage's exact (σ, μ).
    """

    def __init__(self, art: dict):
        cfg = HyperpriorConfig(**art["config"])
        net = Hyperprior(cfg)
        for name in ("g_a", "g_s", "h_a") + ENTROPY_MODULES[cfg.context]:
            getattr(net, name).load_state_dict({k: v.float() for k, v in art[name].items()})
        net.gain.data.copy_(art["gain"])
        net.inv_gain.data.copy_(art["inv_gain"])
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
