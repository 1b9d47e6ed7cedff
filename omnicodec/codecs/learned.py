"""What every learned codec shares: weights lookup and loading, quality -> rate level, padding to
the model's stride, the staged entropy-coding loop, the factorized-prior tables, the RGB/alpha
split of images, and the size caps checked before any network runs.

    stream config "weights" (sha256) ─► MANIFEST.json ─► weights file ─digest check─► artefact
    artefact ─► Codec.build(art) ─► inference model (cached per file)
    encode: item ─check caps─► model-specific analysis ─► code_stages / code_factorized ─► DATA
    decode: meta ─check caps─► (only then) model ─► decode_factorized / decode_stages ─► synthesis

A new learned codec subclasses ``LearnedCodec`` and writes its model-specific parts only:
``weights_file`` (the default weights for new streams, a MANIFEST entry), ``build(art)`` (the
inference model from an artefact), ``encode`` and ``decode_checked`` (``decode`` checks the caps
first).  The inference model exposes ``levels`` when the codec is variable-rate, and for staged
coding ``masks(h, w)`` and ``stage_params(hyper, y_hat, stage)`` (see ``code_stages``).

Weights: one ``weights/MANIFEST.json`` maps each shipped file to its codec id, sha256 and
provenance (data, steps, hardware, measured score).  A stream records the sha256 of the weights
that wrote it; decoding finds the file by that digest among the codec's entries, so retrained
weights ship as new files and old streams keep decoding.  ``OMNICODEC_WEIGHTS`` points the
lookup at another folder.  Shipped files are stored packed (``NAME.pt.omw``, restored byte for
byte by ``models.packing``; an unpacked ``NAME.pt`` is read first).  Artefacts load with
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from .. import limits
from ..errors import CorruptStreamError, MissingDependencyError, UnsupportedInputError
from ..items import Image
from .base import LossyCodec, check_image_meta, option, quality_to_range, section

Y_RANGE = 255  # |q| <= Y_RANGE for Gaussian-coded latents; larger residuals are clipped


def weights_dir() -> Path:
    return Path(os.environ.get("OMNICODEC_WEIGHTS", Path(__file__).resolve().parents[1] / "weights"))


def manifest() -> dict[str, dict[str, Any]]:
    path = weights_dir() / "MANIFEST.json"
    try:
        st = path.stat()
        return _read_manifest(str(path), st.st_mtime_ns, st.st_size)
    except (OSError, ValueError):
        raise MissingDependencyError(f"weights manifest {path} is missing or unreadable; "
                                     "reinstall omnicodec") from None


@lru_cache(maxsize=4)
def _read_manifest(path: str, mtime_ns: int, size: int) -> dict[str, dict[str, Any]]:
    """The parsed manifest, read again when the file changes (callers must not modify it)."""
    return json.loads(Path(path).read_text())


def find_weights(codec_id: str, default: str, sha256: str = "") -> tuple[Path, str]:
    """(file, sha256) of the weights to use: ``default`` for new encodes, or the codec's file
    whose manifest digest is ``sha256`` (the one a stream was written with)."""
    entries = manifest()
    if not sha256:
        entry = entries.get(default)
        if not entry or entry.get("codec", codec_id) != codec_id:
            raise MissingDependencyError(f"no {codec_id} entry for {default} in {weights_dir() / 'MANIFEST.json'}")
        return weights_dir() / default, entry["sha256"]
    for name, entry in entries.items():
        if entry.get("sha256") == sha256 and entry.get("codec", codec_id) == codec_id:
            return weights_dir() / name, sha256
    raise MissingDependencyError(f"this stream needs {codec_id} weights sha256={sha256[:12]}…, "
                                 "which this installation does not have")


def load_artefact(path: Path, sha256: str, codec_id: str) -> dict[str, Any]:
    """The artefact dict of a weights file whose digest must be ``sha256``; a decode-only file
    (``models.packing``) answers to its original's digest, and its artefact lists the keys it
    lacks under ``dropped`` (the codec then refuses to encode with it)."""
    import torch

    from ..models import packing

    if not packing.exists(path):
        raise MissingDependencyError(
            f"{codec_id} weights not found at {path}; reinstall omnicodec or train them with "
            f"`codec train {codec_id}` (docs/training.md)")
    w = packing.open_weights(path)
    if w.sha256 != sha256:
        raise CorruptStreamError(f"{codec_id} weights {path} have sha256 {w.sha256[:12]}…, expected "
                                 f"{sha256[:12]}… (corrupt or different weights)")
    try:
        art = torch.load(io.BytesIO(w.data), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged pickle
        raise CorruptStreamError(f"{codec_id} weights {path} do not load: {exc}") from None
    return {**art, "dropped": list(w.dropped)} if w.dropped else art


@lru_cache(maxsize=4)
def _inference(cls: type[LearnedCodec], path: str, sha256: str):
    art = load_artefact(Path(path), sha256, cls.codec_id)
    try:
        return cls.build(art)
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise CorruptStreamError(f"{cls.codec_id} weights {path} do not fit the model: {exc}") from None


SYNTHESES = ("float32", "float64")
# what a config without ``synthesis`` means: streams written before 2026-12-06 were decoded so
SYNTHESIS_BEFORE: dict[str, Any] = {"synthesis": "float64"}


def synthesis_option():
    """The ``synthesis`` config field of the codecs whose pixels come from a float net
    (``tiled_synthesis``): the precision a stream's pixels are synthesized in, float32 for new
    streams.  Only the pixels depend on it: the entropy decoding is exact integers either way."""
    return option("float32", choices=SYNTHESES)


@dataclass
class LearnedCodec(LossyCodec):
    """Base of every learned codec; see the module docstring."""

    requires: ClassVar[tuple[str, ...]] = ("torch",)
    extra: ClassVar[str] = "neural"
    weights_file: ClassVar[str] = ""  # the default for new streams; older files stay for old streams
    stride: ClassVar[int] = 1  # inputs are padded to a multiple of this
    latent_stride: ClassVar[int] = 1  # input samples per latent, each way
    network: ClassVar[str] = ""  # "module:Class" of its trainable models.base.LearnedModel
    tileable: ClassVar[bool] = False  # codes grids of independent tiles (``with_tiles``)
    quality: float = option(50.0, 0, 100)
    coder: str = "ans"
    # 0: constriction's sequential stream; N: the lane format (entropy/lanes.py)
    lanes: int = field(default=0, metadata={"omit_default": True})
    weights: str = ""  # sha256 of the weights file; a new codec takes the default file's
    # a tiled image: a grid of independent tiles of this size (a dataset shard, a sprite sheet),
    # each analysed and synthesized alone (its own padding, no context from its neighbours),
    # the latents of all tiles coded as one plane laid out like the tiles
    tile_height: int = field(default=0, metadata={"omit_default": True})
    tile_width: int = field(default=0, metadata={"omit_default": True})
    # decode memory = a fixed part (tile buffers, the networks' activations) + a part per pixel
    # (latents, parameters, the output); the hyperprior's measured RSS growth: 315 MiB at
    # 0.39 MP, 472 MiB at 3.1 MP, 594 MiB at 12 MP.  A new codec measures its own.
    decode_fixed_bytes: ClassVar[int] = 400 << 20
    decode_pixel_bytes: ClassVar[int] = 64

    def encoder_version(self):
        from .. import __version__

        return f"omnicodec {__version__}"

    def decode_memory(self, meta, item_bytes):
        return self.decode_fixed_bytes + self.decode_pixel_bytes * int(meta["width"]) * int(meta["height"])

    def __post_init__(self):
        """The config is complete before anything is encoded: a new codec names the digest of
        its default weights (left empty only when they are missing, which encode reports)."""
        from ..entropy import check_coder

        check_coder(self.coder, self.lanes)
        tile = (self.tile_height, self.tile_width)
        if any(type(t) is not int or t < 0 for t in tile) or (min(tile) == 0) != (max(tile) == 0):
            raise ValueError(f"tiles need two positive sizes, got {tile}")
        if max(tile) and not self.tileable:
            raise ValueError(f"{self.codec_id} does not code grids of tiles")
        if not self.weights:
            try:
                self.weights = find_weights(self.codec_id, self.default_weights())[1]
            except MissingDependencyError:
                pass

    @classmethod
    def from_config(cls, config):
        """A stream's codec: its config must name the weights it was written with."""
        if not isinstance(config.get("weights"), str) or not config["weights"]:
            raise CorruptStreamError(f"{cls.codec_id}: the stream does not name its weights")
        return super().from_config(config)

    def default_weights(self) -> str:
        """The weights file new streams of this config use (a codec with several models, e.g.
        one per rate range, chooses by its config)."""
        return self.weights_file

    @classmethod
    def build(cls, art: dict[str, Any]):
        """The inference model of an artefact."""
        raise NotImplementedError

    def model(self):
        """The inference model of the weights the config names."""
        path, sha = find_weights(self.codec_id, self.default_weights(), self.weights)
        return _inference(type(self), str(path), sha)

    def level(self, model) -> float:
        """The model's rate level for this quality: 0..100 maps linearly onto [0, levels - 1]."""
        return quality_to_range(self.quality, 0, model.levels - 1)

    def supports(self, item):
        reason = super().supports(item)
        if reason is None and item.modality == "image":
            if item.mode not in LEARNED_IMAGE_MODES:
                return f"{self.codec_id} codes 8-bit images; convert {item.mode} to 8-bit RGB first"
            h, w = item.pixels.shape[:2]
            if h * w > limits.MAX_LEARNED_PIXELS:
                return (f"{self.codec_id} decodes at most {limits.MAX_LEARNED_PIXELS} pixels within its memory "
                        f"cap; this image has {h * w}")
            return self.tiling_problem(item.meta())
        return reason

    def decode(self, sections, meta):
        """Checks the size caps, then (only then) loads the model and decodes."""
        self.check_stream(meta)
        return self.decode_checked(sections, meta)

    def check_stream(self, meta: dict[str, Any]) -> None:
        """Refuses a header that this codec must not decode (the size caps, a broken grid of
        tiles), before any model loads; ``decode`` and ``decode_latent`` call it first."""
        if self.modality == "image":
            limits.check_learned_pixels(*check_image_meta(meta))
            if meta.get("mode") not in LEARNED_IMAGE_MODES:
                raise CorruptStreamError(f"{self.codec_id}: bad mode {meta.get('mode')!r} in header")
            problem = self.tiling_problem(meta)
            if problem:
                raise CorruptStreamError(f"{self.codec_id}: {problem}")

    def decode_checked(self, sections: dict[str, bytes], meta: dict[str, Any]):
        raise NotImplementedError

    # ---- the latent, for compressed-domain learning (omnicodec.datasets.latents)
    def encode_latent(self, item) -> np.ndarray:
        """The dequantized latent that encoding ``item`` stores, computed without entropy
        coding: the same array ``decode_latent`` reads back from that stream.  float32; an
        image's is (C, ceil(H / latent_stride), ceil(W / latent_stride)): the latents that
        cover the image (those covering only the padding are left out)."""
        raise NotImplementedError(f"{self.codec_id} does not expose its latent")

    def decode_latent(self, sections: dict[str, bytes], meta: dict[str, Any]) -> np.ndarray:
        """The dequantized latent a stream holds, entropy-decoded only: no synthesis runs."""
        raise NotImplementedError(f"{self.codec_id} does not expose its latent")

    # ---- grids of tiles
    def with_tiles(self, height: int, width: int) -> LearnedCodec:
        """This codec for images that are grids of independent tiles of height × width (dataset
        shards), if the codec can code them so."""
        if not self.tileable:
            raise UnsupportedInputError(f"{self.codec_id} does not code grids of independent tiles")
        return dataclasses.replace(self, tile_height=height, tile_width=width)

    def grid(self, meta: dict[str, Any]) -> tuple[int, int, int, int] | None:
        """(rows, columns, tile height, tile width) of a tiled image's header; None when untiled."""
        if not self.tile_height or "width" not in meta:
            return None
        h, w = int(meta["height"]), int(meta["width"])
        return h // self.tile_height, w // self.tile_width, self.tile_height, self.tile_width

    def tiling_problem(self, meta: dict[str, Any]) -> str | None:
        """Why a tiled image of this header cannot be coded: not a whole grid, or padded tiles
        beyond the pixel cap; None when fine (or untiled)."""
        grid = self.grid(meta)
        if grid is None:
            return None
        rows, cols, th, tw = grid
        if rows * th != int(meta["height"]) or cols * tw != int(meta["width"]):
            return f"a {meta['width']}x{meta['height']} image is not a grid of {tw}x{th} tiles"
        if rows * cols * int(np.prod(self.padded(th, tw))) > limits.MAX_LEARNED_PIXELS:
            return f"{rows * cols} tiles padded to x{self.stride} exceed {limits.MAX_LEARNED_PIXELS} pixels"
        return None

    def tiles(self, meta: dict[str, Any]) -> int:
        """How many tiles a stream of this header holds; 1 when untiled."""
        grid = self.grid(meta)
        return 1 if grid is None else grid[0] * grid[1]

    def latent_tiles(self, latent: np.ndarray, meta: dict[str, Any]) -> np.ndarray:
        """A stream's latent as one latent per tile (tiles, C, h, w), row by row, each the
        latent ``decode_latent`` gives for that tile alone: one tile unless the stream is a grid."""
        grid = self.grid(meta)
        if grid is None:
            return latent[None]
        rows, cols, th, tw = grid
        s = self.latent_stride  # each tile's latent at its padded size, cropped like decode_latent's
        return np.ascontiguousarray(plane_tiles(latent, rows, cols)[:, :, :-(-th // s), :-(-tw // s)])

    def crop_latent(self, latent, meta: dict[str, Any]) -> np.ndarray:
        """A (1, C, h, w) torch latent at the padded size -> the float32 latents that cover the
        image, (C, ceil(H / latent_stride), ceil(W / latent_stride)); a grid's whole plane
        (``latent_tiles`` crops each tile)."""
        y = latent[0].detach().float().numpy()
        if self.grid(meta) is not None:
            return y
        s = self.latent_stride
        return np.ascontiguousarray(y[:, :-(-int(meta["height"]) // s), :-(-int(meta["width"]) // s)])

    def synthesize(self, latents):
        """A batch of latents (N, C, h, w) as ``decode_latent`` gives them (a torch tensor or
        array) -> float32 torch images (N, 3, h·latent_stride, w·latent_stride) in [0, 1], by
        the model's synthesis in float32: the path for learning, not the bit-exact decoder."""
        raise NotImplementedError(f"{self.codec_id} does not expose its latent")

    @classmethod
    def padded(cls, *sizes: int) -> tuple[int, ...]:
        """Sizes rounded up to the model's stride (inputs are padded by edge replication)."""
        return tuple(-(-s // cls.stride) * cls.stride for s in sizes)


@dataclass
class IndexCodec(LearnedCodec):
    """Base of the codecs that code codebook indices in the lane format their own way (vq,
    mcquic): the coder is not an option, and the quality picks a whole level."""

    def __post_init__(self):
        super().__post_init__()
        if self.coder != "ans" or self.lanes:
            raise ValueError(f"{self.codec_id} always writes the lane format (coder 'ans', its own lanes)")

    def level(self, model) -> int:
        return int(round(super().level(model)))

    synthesis: str = synthesis_option()
    before: ClassVar[dict[str, Any]] = SYNTHESIS_BEFORE

    def synthesize(self, latents):
        """The inference model's float32 ``decoder`` copy (``float32_net``) on a batch."""
        import torch

        x = torch.as_tensor(np.asarray(latents), dtype=torch.float32)
        with torch.no_grad():
            return float32_net(self.model(), "decoder")(x).clamp(0, 1)


def padded_input(rgb: np.ndarray, height: int, width: int):
    """8-bit RGB (H, W, 3) -> float32 torch (1, 3, height, width) in [0, 1], edge-replicated."""
    import torch
    import torch.nn.functional as F

    h, w = rgb.shape[:2]
    x = torch.from_numpy(np.array(rgb, np.float32)).permute(2, 0, 1)[None] / 255
    return F.pad(x, (0, width - w, 0, height - h), mode="replicate")


def float32_net(model, name: str):
    """A float32, channels-last copy of ``model.<name>`` (a float64 net), cached on the model."""
    import copy

    import torch

    cache = model.__dict__.setdefault("_float32", {})
    if name not in cache:
        cache[name] = copy.deepcopy(getattr(model, name)).float().to(memory_format=torch.channels_last)
    return cache[name]


@contextlib.contextmanager
def synthesis_net(model, name: str, precision: str):
    """(``model.<name>`` in ``precision``, its torch dtype) for the block, without gradients:
    float64, the net as loaded on torch's threads (the same results on every machine), or
    float32 (``float32_net``) on one torch thread (``models.base.one_thread``), so that the
    results do not depend on the thread count."""
    import torch

    from ..models.base import one_thread

    with torch.no_grad():
        if precision == "float64":
            yield getattr(model, name), torch.float64
        else:
            with one_thread():
                yield float32_net(model, name), torch.float32


def tiled_synthesis(model, name: str, z, out_per: int, tile: int, halo: int, finish, precision: str = "float64",
                    workers: int | None = None, apply=None):
    """``model.<name>`` over the latent ``z`` (N, C, h, w) in its fixed tiling
    (``models.base.tiled``), each tile mapped by ``finish``, in ``precision``
    (``synthesis_net``): float32 runs channels-last (oneDNN's fast layout: 3-4x faster on one
    core) and ``workers`` tiles at a time (default: torch's thread count), each on one torch
    thread, so that the pixels do not depend on the thread count; another CPU's vector unit may
    round a rare pixel differently, by 1.  ``apply(net, tile)`` runs the net on a tile
    (default: ``net(tile)``)."""
    import functools

    import torch

    from ..models.base import tiled

    workers = workers or torch.get_num_threads()  # before synthesis_net sets one thread
    with synthesis_net(model, name, precision) as (net, dtype):
        fn = net if apply is None else functools.partial(apply, net)
        if dtype == torch.float64:
            return tiled(fn, z, 1, out_per, tile, halo, finish)
        return tiled(fn, z.float().contiguous(memory_format=torch.channels_last), 1, out_per, tile, halo, finish,
                     workers)


def tiled_rgb(model, name: str, z, out_per: int, tile: int, halo: int, precision: str = "float64") -> np.ndarray:
    """``tiled_synthesis`` of a latent ``z`` (1, C, h, w) -> 8-bit RGB (h·out_per, w·out_per,
    3), each tile rounded as it is made."""
    def to_uint8(t):
        return np.rint(t.clamp(0, 1).numpy() * 255).astype(np.uint8)

    return tiled_synthesis(model, name, z, out_per, tile, halo, to_uint8, precision)[0].transpose(1, 2, 0)


# ------------------------------------------------------------------------- entropy coding
@lru_cache(maxsize=1)
def gaussian_model():
    from ..entropy import QuantizedGaussian

    return QuantizedGaussian(-Y_RANGE, Y_RANGE)


def code_stages(enc, y, model, hyper):
    """Code the latent ``y`` (float64 tensor) in the model's stages: for each stage mask, its
    positions are quantized around their exact means and coded with the exact scales, given ŷ
    of the earlier stages.  Returns ŷ, the decoder's reconstruction of y."""
    import torch

    y_hat = torch.zeros_like(y)
    for stage, mask in enumerate(model.masks(*y.shape[2:])):
        scales, means = model.stage_params(hyper, y_hat, stage)
        m = mask.expand_as(y)
        q = torch.clamp(torch.round(y[m] - means[m]), -Y_RANGE, Y_RANGE)
        enc.encode(q.numpy().astype(np.int32), gaussian_model(), means=np.zeros(q.numel()),
                   scales=scales[m].numpy())
        y_hat[m] = q + means[m]
    return y_hat


def decode_stages(dec, shape: tuple[int, ...], model, hyper):
    """The inverse of ``code_stages``: ŷ of ``shape`` from the decoder."""
    import torch

    y_hat = torch.zeros(shape, dtype=torch.float64)
    for stage, mask in enumerate(model.masks(*shape[2:])):
        scales, means = model.stage_params(hyper, y_hat, stage)
        m = mask.expand_as(y_hat)
        q = dec.decode(gaussian_model(), means=np.zeros(int(m.sum())), scales=scales[m].numpy())
        y_hat[m] = torch.from_numpy(q.astype(np.float64)) + means[m]
    return y_hat


def _categoricals(model, freqs):
    from ..entropy import Categorical

    cache = getattr(model, "_categoricals", None)
    if cache is None:
        cache = model._categoricals = [Categorical(row.numpy()) for row in freqs]
    return cache


def code_factorized(enc, symbols, model, freqs) -> None:
    """Code (1, C, H, W) symbols channel by channel with one integer table per channel."""
    for c, cat in enumerate(_categoricals(model, freqs)):
        enc.encode(symbols[0, c].numpy().ravel().astype(np.int32), cat)


def decode_factorized(dec, shape: tuple[int, int, int, int], model, freqs):
    import torch

    _, n, h, w = shape
    rows = [dec.decode(cat, h * w) for cat in _categoricals(model, freqs)]
    return torch.from_numpy(np.stack(rows).reshape(1, n, h, w).astype(np.int64))


# ----------------------------------------------------------------------------------- tiles
def image_tiles(a: np.ndarray, grid: tuple[int, int, int, int]) -> np.ndarray:
    """An image (H, W, C) that is a grid of tiles -> the tiles (rows·cols, th, tw, C), row by row."""
    rows, cols, th, tw = grid
    return a.reshape(rows, th, cols, tw, -1).transpose(0, 2, 1, 3, 4).reshape(rows * cols, th, tw, -1)


def tiles_image(t: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """The inverse of ``image_tiles``: tiles (n, th, tw, C) -> the image (rows·th, cols·tw, C)."""
    _, th, tw, c = t.shape
    return t.reshape(rows, cols, th, tw, c).transpose(0, 2, 1, 3, 4).reshape(rows * th, cols * tw, c)


def tiles_plane(t, rows: int, cols: int):
    """Per-tile latents (n, C, h, w) -> one plane (C, rows·h, cols·w) laid out like the tiles
    (numpy arrays or torch tensors)."""
    _, c, h, w = t.shape
    return _permute(t.reshape(rows, cols, c, h, w), (2, 0, 3, 1, 4)).reshape(c, rows * h, cols * w)


def plane_tiles(plane, rows: int, cols: int):
    """The inverse of ``tiles_plane``: (C, rows·h, cols·w) -> (rows·cols, C, h, w)."""
    c, hh, ww = plane.shape
    h, w = hh // rows, ww // cols
    return _permute(plane.reshape(c, rows, h, cols, w), (1, 3, 0, 2, 4)).reshape(rows * cols, c, h, w)


def _permute(t, order):
    return t.permute(*order) if hasattr(t, "permute") else t.transpose(order)


# ---------------------------------------------------------------------------------- images
LEARNED_IMAGE_MODES = ("L", "LA", "RGB", "RGBA")


def rgb_and_alpha(item: Image) -> tuple[np.ndarray, dict[str, bytes]]:
    """The RGB array a learned image model codes (grey is repeated to RGB), and the alpha plane
    as a lossless PNG section ``ALFA`` when there is one."""
    p = item.pixels
    rgb = p[:, :, :3] if item.mode in ("RGB", "RGBA") else np.repeat(p[:, :, :1], 3, 2)
    return rgb, ({"ALFA": _png(p[:, :, -1])} if item.mode in ("RGBA", "LA") else {})


def image_from_rgb(rgb: np.ndarray, mode: str, sections, codec_id: str) -> Image:
    """The decoded item in the stream's mode: grey from RGB, alpha from section ``ALFA``."""
    from PIL import Image as PILImage

    h, w = rgb.shape[:2]
    color = np.asarray(PILImage.fromarray(rgb, "RGB").convert("L"))[:, :, None] if mode in ("L", "LA") else rgb
    if mode in ("RGBA", "LA"):
        try:
            with PILImage.open(io.BytesIO(section(sections, "ALFA", codec_id)), formats=["PNG"]) as im:
                if im.size != (w, h):
                    raise CorruptStreamError(f"{codec_id}: alpha plane size disagrees with header")
                alpha = np.asarray(im.convert("L"))[:, :, None]
        except (OSError, SyntaxError) as exc:
            raise CorruptStreamError(f"{codec_id}: alpha plane does not decode: {exc}") from None
        color = np.concatenate([color, alpha], axis=2)
    return Image(np.ascontiguousarray(color), mode)


def _png(plane: np.ndarray) -> bytes:
    from PIL import Image as PILImage

    out = io.BytesIO()
    PILImage.fromarray(plane, "L").save(out, "PNG", compress_level=9)
    return out.getvalue()
