"""What every learned model shares: the trainable contract, exact integer nets, fixed tiling,
and the integer tables of a factorized prior.

The contract (``LearnedModel``), which ``omnicodec.models.train`` drives for any model:

    batch (float tensor from a datasets.training source) ─► model.loss(batch) ─► (loss, {name: value})
    optional auxiliary objective: aux_parameters() + aux_loss()   (e.g. a factorized prior's quantiles)
    model.validate(batch) ─► {name: value}   on the fixed held-out slice, in eval mode
    optional model.prepare(batch): a fresh run's data-dependent init (e.g. a PCA of the input)
             from ``prepare_items`` training items
    optional model.update(batch, lr): a model with its own update rule (EM for a probabilistic
             circuit) takes the step itself, ``lr`` its step size; the trainer's Adam stays idle
    model.export() ─► artefact dict (loadable with torch.load(weights_only=True)); load_artefact()
                     reads one back, so a run can start from shipped weights

A model declares ``codec_id`` (the codec its weights are for), ``Config`` (a frozen dataclass
saved with every checkpoint and artefact) and ``source`` (which training data it eats:
``images``, ``audio``, ``video`` or ``mnist``).

Determinism: the values an entropy decoder depends on must be identical at encode and decode
time on any machine, thread count or device (CompressAI issues #279, #309, #54).
``IntegerNet`` runs a conv/deconv/ReLU stack on integer-valued float64 tensors with weights and
biases rounded to fixed point: every product and partial sum is an integer below 2**53, so the
result is exact whatever order a convolution sums in, and the flooring between layers is exact
too.  ``tiled`` runs any fully convolutional net in fixed tiles so that memory follows the tile,
not the image: exact for integer nets, part of the definition for float ones.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn


def import_parts(*modules: str) -> None:
    """Import ``modules`` (dotted names) without running the ``__init__`` of the packages above
    them, which are stood in for while they load and removed again.  compressai's ``__init__``
    imports every dataset, model and the zoo (4.3 s here, 0.5 s for the three modules the
    hyperprior uses); a later ``import compressai`` still runs it, and finds these modules
    already loaded (the same objects, so the same classes)."""
    import importlib
    import importlib.util
    import sys
    import types

    stand_ins = []
    for name in modules:
        parts = name.split(".")
        for i in range(1, len(parts)):
            package = ".".join(parts[:i])
            if package not in sys.modules:
                spec = importlib.util.find_spec(package)
                if spec is None or spec.submodule_search_locations is None:
                    raise ModuleNotFoundError(f"no package {package}", name=package)
                stub = types.ModuleType(package)
                stub.__path__ = list(spec.submodule_search_locations)
                sys.modules[package] = stub
                stand_ins.append(package)
    try:
        for name in modules:
            importlib.import_module(name)
    finally:
        for package in stand_ins:
            del sys.modules[package]


ACT_BITS = 8  # fractional bits of integer-net activations
WEIGHT_BITS = 12  # fractional bits of integer-net weights
SOURCES = ("images", "audio", "video", "mnist")


class TupleConfig:
    """Mixin of a model's frozen config dataclass whose tuple fields come back from JSON (a
    checkpoint's or an artefact's config) as lists."""

    @classmethod
    def from_dict(cls, d: dict[str, Any]):
        from dataclasses import fields

        tuples = {f.name for f in fields(cls) if "tuple" in str(f.type)}
        return cls(**{k: tuple(v) if k in tuples else v for k, v in d.items()})


class LearnedModel(nn.Module):
    """Base of every trainable model (see the module docstring for the contract)."""

    codec_id: ClassVar[str] = ""
    Config: ClassVar[type] = object
    source: ClassVar[str] = "images"
    stride: ClassVar[int] = 1  # training and validation crops are multiples of this
    prepare_items: ClassVar[int] = 64  # training items a fresh model's ``prepare`` sees
    shipped: ClassVar[str] = "float16 transforms, integer prior tables"  # what an export holds (MANIFEST dtype)

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg

    @classmethod
    def config_from(cls, d: dict[str, Any]):
        return cls.Config.from_dict(d) if issubclass(cls.Config, TupleConfig) else cls.Config(**d)

    def config_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self.cfg).items()}

    def loss(self, batch: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        raise NotImplementedError

    def prepare(self, batch: torch.Tensor) -> None:
        """Data-dependent initialisation of a fresh run from a batch of training items (not
        called on resume or ``--init``); the default is none."""

    def update(self, batch: torch.Tensor, lr: float) -> dict[str, float] | None:
        """A training step by the model's own rule, returning its metrics (``loss`` among
        them); None (the default): the trainer's gradient step on ``loss``."""
        return None

    def aux_parameters(self) -> list[nn.Parameter]:
        return []

    def aux_loss(self) -> torch.Tensor | None:
        return None

    def main_parameters(self) -> list[nn.Parameter]:
        aux = {id(p) for p in self.aux_parameters()}
        return [p for p in self.parameters() if id(p) not in aux]

    @torch.no_grad()
    def validate(self, batch: torch.Tensor) -> dict[str, float]:
        return {k: round(v, 4) for k, v in self.loss(batch)[1].items()}

    def export(self) -> dict[str, Any]:
        raise NotImplementedError

    def load_artefact(self, art: dict[str, Any], strict: bool = True) -> None:
        raise NotImplementedError

    def weights_name(self, step: int) -> str:
        """The default file name of an export: never the name of a shipped file."""
        return f"{self.codec_id}-{step}.pt"


@contextlib.contextmanager
def one_thread():
    """torch on one thread for the block: float32 convolutions are identical on any thread
    count only when the count is fixed (a float synthesis must be, design rule 6)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def half_state(module: nn.Module) -> dict[str, torch.Tensor]:
    """A module's weights in fp16, the shipped precision (integer nets derive from these)."""
    return {k: v.detach().half() for k, v in module.state_dict().items()}


def load_half(module: nn.Module, state: dict[str, torch.Tensor]) -> None:
    module.load_state_dict({k: v.float() for k, v in state.items()})


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
                               "stride": m.stride[0], "padding": m.padding[0], "dilation": m.dilation[0],
                               "output_padding": getattr(m, "output_padding", (0,))[0]})
                in_bits = ACT_BITS
            elif isinstance(m, nn.ReLU):
                layers.append({"kind": "relu"})
            else:
                raise TypeError(f"an integer net cannot run {type(m).__name__}")
        return cls(layers)

    @torch.no_grad()
    def __call__(self, x_int: torch.Tensor) -> torch.Tensor:
        with one_thread():  # small nets; and a float64 conv_transpose2d on two OpenMP threads once
            return self._run(x_int.double().cpu())  # spun for 600 s in a fresh clone's test run

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            if layer["kind"] == "relu":
                x = x.clamp_min(0)
                continue
            if layer["kind"] == "conv":
                x = torch.nn.functional.conv2d(x, layer["weight"], layer["bias"], layer["stride"], layer["padding"],
                                               layer.get("dilation", 1))
            else:
                x = torch.nn.functional.conv_transpose2d(x, layer["weight"], layer["bias"], layer["stride"],
                                                         layer["padding"], layer["output_padding"], 1,
                                                         layer.get("dilation", 1))
            x = torch.floor(x / 2 ** layer["shift"])  # exact: power-of-two division of integers
        return x


def tiled(fn, x: torch.Tensor, in_per: int, out_per: int, tile: int, halo: int, finish=None, workers: int = 1):
    """``fn`` (fully convolutional) over ``x`` (1, C, H, W) in a fixed tiling, so that memory
    follows the tile and not the image.  Tiles are ``tile`` grid cells square from the top-left,
    each computed with up to ``halo`` cells of its neighbours on every side; a cell is
    ``in_per`` input and ``out_per`` output positions.  ``finish`` maps each kept tile (e.g. to
    8-bit numpy) before it is stitched.  Exact for the integer nets (any tiling gives the same
    integers); for float nets the tiling is part of the computation's definition.  ``workers``
    > 1 computes that many tiles at a time in threads (torch releases the GIL in its kernels):
    each tile is the same computation as alone, so only for nets whose result does not depend
    on what else runs (torch on one thread: ``one_thread``)."""
    _, _, height, width = x.shape
    h, w = height // in_per, width // in_per
    cells = [(r0, c0) for r0 in range(0, h, tile) for c0 in range(0, w, tile)]

    def one(cell):
        r0, c0 = cell
        r1, c1 = min(h, r0 + tile), min(w, c0 + tile)
        a, b = max(0, r0 - halo), max(0, c0 - halo)
        t = fn(x[:, :, a * in_per: min(h, r1 + halo) * in_per, b * in_per: min(w, c1 + halo) * in_per])
        t = t[:, :, (r0 - a) * out_per: (r1 - a) * out_per, (c0 - b) * out_per: (c1 - b) * out_per]
        return finish(t) if finish else t

    out = None
    for (r0, c0), t in zip(cells, _each(one, cells, workers)):
        if out is None:
            shape = (*t.shape[:2], h * out_per, w * out_per)
            out = np.empty(shape, t.dtype) if isinstance(t, np.ndarray) else torch.empty(shape, dtype=t.dtype)
        out[:, :, r0 * out_per: r0 * out_per + t.shape[2], c0 * out_per: c0 * out_per + t.shape[3]] = t
    return out


def _each(fn, items: list, workers: int):
    """``fn`` of each item, in order; ``workers`` > 1: that many at a time in threads."""
    if workers <= 1 or len(items) <= 1:
        return map(fn, items)
    from concurrent.futures import ThreadPoolExecutor

    # thread-local state the workers take from the caller: autograd's mode, and the OpenMP team
    # size (a new thread's is every core, whatever torch.set_num_threads said elsewhere)
    grad, threads = torch.is_grad_enabled(), torch.get_num_threads()

    def run(item):
        torch.set_num_threads(threads)
        with torch.set_grad_enabled(grad):
            return fn(item)

    with ThreadPoolExecutor(min(workers, len(items))) as pool:
        return list(pool.map(run, items))


def factorized_tables(bottleneck) -> dict[str, torch.Tensor]:
    """Integer frequency tables of a compressai ``EntropyBottleneck`` (a factorized prior), one
    row per channel, and the integer offsets of their first symbol (value = symbol + offset).
    Built once, at export; the codec codes with these tables alone."""
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


def level_gains(gain: torch.Tensor, inv_gain: torch.Tensor, level) -> tuple[torch.Tensor, torch.Tensor]:
    """Variable rate by gain units (Cui et al. 2021): ``gain`` and ``inv_gain`` hold one learned
    per-channel vector per rate level (K, C); a real ``level`` in [0, K-1] interpolates
    geometrically between neighbours.  Returns (gain, inverse gain) shaped (B or 1, C, 1, 1)."""
    k = gain.shape[0]
    level = torch.as_tensor(level, dtype=torch.float32).reshape(-1).to(gain.device)
    level = level.clamp(0, k - 1)
    lo = level.floor().long().clamp(max=k - 2)
    t = (level - lo)[:, None]
    g = gain.abs()[lo] ** (1 - t) * gain.abs()[lo + 1] ** t
    ig = inv_gain.abs()[lo] ** (1 - t) * inv_gain.abs()[lo + 1] ** t
    return g[:, :, None, None], ig[:, :, None, None]
