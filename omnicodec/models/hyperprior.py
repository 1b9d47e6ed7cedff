"""Variable-rate mean-scale hyperprior (Minnen et al. 2018) with gain units (Cui et al. 2021),
built from compressai's layers, and its integer hyper-synthesis for deterministic decoding.

    x ─g_a─► y ·gain[q] ─h_a─► z ─Q─► ẑ (factorized prior, integer CDF tables)
                               ẑ ─h_s (integer arithmetic)─► μ, σ   (exact on every machine)
    q = round(y·gain − μ) ─ANS/range, QuantizedGaussian(0, σ)─► ŷ = (q + μ) / gain ─g_s─► x̂

One network covers the whole rate range: ``gain`` is a per-channel vector chosen from K learned
levels (one per training λ) and interpolated geometrically between neighbours, so any real
quality in [0, K-1] is valid.

Determinism (CompressAI issues #279, #309, #54): the values the entropy decoder depends on (μ, σ,
and the ẑ tables) must be identical at encode and decode time on any machine, thread count or
device.  ``IntegerHyperSynthesis`` runs h_s on integer-valued float64 tensors with weights and
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
WEIGHT_BITS = 12  # fractional bits of its weights


@dataclass(frozen=True)
class HyperpriorConfig:
    N: int = 96
    M: int = 128
    levels: int = len(LAMBDAS)

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
        scales, means = self.h_s(z_hat).chunk(2, 1)
        y_hat, y_lik = self.gaussian_conditional(y, scales, means=means)
        x_hat = self.g_s(y_hat * ig)
        return x_hat, y_lik, z_lik


def rd_loss(x, x_hat, y_lik, z_lik, lambdas: torch.Tensor):
    """Per-sample λ·255²·MSE + bpp, averaged; returns (loss, bpp, mse) for logging."""
    pixels = x.shape[2] * x.shape[3]
    bits = (-torch.log2(y_lik).flatten(1).sum(1) - torch.log2(z_lik).flatten(1).sum(1)) / pixels
    mse = ((x - x_hat) ** 2).flatten(1).mean(1)
    loss = (lambdas * 255**2 * mse + bits).mean()
    return loss, bits.mean(), mse.mean()


# ---------------------------------------------------------------------------- integer h_s
class IntegerHyperSynthesis:
    """h_s in exact integer arithmetic on float64 tensors (see the module docstring).

    Built from the float h_s; holds integer weights and biases.  ``__call__`` takes integer ẑ
    (float64 tensor holding integers) and returns (scales, means) as float64 multiples of
    2**-ACT_BITS, identical on every machine.
    """

    def __init__(self, layers: list[dict]):
        self.layers = layers  # each: kind, weight (int-valued float64), bias (int-valued), shift

    @classmethod
    def from_module(cls, h_s: nn.Sequential) -> IntegerHyperSynthesis:
        layers, in_bits = [], 0
        for m in h_s:
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
                raise TypeError(f"integer h_s cannot run {type(m).__name__}")
        return cls(layers)

    def state(self) -> dict:
        return {"layers": [{k: (v.to(torch.int64) if torch.is_tensor(v) else v) for k, v in layer.items()}
                           for layer in self.layers]}

    @classmethod
    def from_state(cls, state: dict) -> IntegerHyperSynthesis:
        return cls([{k: (v.double() if torch.is_tensor(v) else v) for k, v in layer.items()}
                    for layer in state["layers"]])

    @torch.no_grad()
    def __call__(self, z_int: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = z_int.double().cpu()
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
        scales, means = x.chunk(2, 1)
        unit = 2.0**-ACT_BITS
        return (scales * unit).clamp_min(SCALE_BOUND), means * unit


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
def export_weights(model: Hyperprior) -> dict:
    """The shipped artefact: fp16 transforms (the integer h_s is derived from its fp16 weights
    exactly at load time), gains, and the integer ẑ tables.  Loadable with weights_only=True."""
    model = model.cpu().eval()
    half = {name: {k: v.detach().half() for k, v in getattr(model, name).state_dict().items()}
            for name in ("g_a", "g_s", "h_a", "h_s")}
    return {"format": 1, "config": model.cfg.to_dict(), **half,
            "gain": model.gain.detach().float(), "inv_gain": model.inv_gain.detach().float(),
            "z": z_tables(model.entropy_bottleneck)}


class InferenceModel:
    """The parts of a Hyperprior that encoding and decoding need, loaded from an artefact."""

    def __init__(self, art: dict):
        cfg = HyperpriorConfig(**art["config"])
        net = Hyperprior(cfg)
        for name in ("g_a", "g_s", "h_a", "h_s"):
            getattr(net, name).load_state_dict({k: v.float() for k, v in art[name].items()})
        net.gain.data.copy_(art["gain"])
        net.inv_gain.data.copy_(art["inv_gain"])
        self.net = net.eval()
        # synthesis in float64: a float32 convolution sums in an order that depends on the thread
        # count, which moved some pixels by one level; in float64 such a flip needs an output
        # within ~1e-13 of a rounding boundary.
        self.g_s = copy.deepcopy(net.g_s).double().eval()
        # integer h_s from the fp16 values: fp16 -> float64 and the power-of-two scaling are exact
        h_s = Hyperprior(cfg).h_s
        h_s.load_state_dict({k: v.double() for k, v in art["h_s"].items()})
        self.h_s = IntegerHyperSynthesis.from_module(h_s.double())
        self.z_freqs = art["z"]["freqs"].long()
        self.z_offsets = art["z"]["offsets"].long()
        self.cfg = cfg
