"""Learned image codec: variable-rate mean-scale hyperprior with deterministic entropy decoding.

    Image ─pad to ×64─► g_a·gain ─► y ─h_a─► z ─round─► ẑ ─(per-channel integer tables)─► DATA
                                              ẑ ─integer h_s─► μ, σ  (bit-exact anywhere)
                                   q = round(y − μ) ─QuantizedGaussian(σ)─► DATA (after ẑ)
    decode: DATA ─► ẑ ─► μ, σ ─► q ─► ŷ = q + μ ─/gain─► g_s ─► crop ─► pixels

Model and training: ``omnicodec.models.hyperprior`` / ``models.train``; weights ship in
``omnicodec/weights/`` (``WEIGHTS`` names the default for new streams), each with an entry in
``weights/MANIFEST.json`` (sha256, data, steps, hardware, date, context model).  A checkerboard
model codes y in two stages (anchors, then the rest given the anchors); see
``InferenceModel.masks``.  The container config records the weights' sha256, so a file is never
decoded with other weights than it was written with.

Memory is bounded by construction: the analysis and the synthesis run in fixed tiles of
``TILE`` latents (384 px) with ``HALO`` latents (48 px) of context on each side, the same
tiling on every machine (it is part of the decoder's definition, so pixels do not depend on
how much memory a machine has; tilings differ from each other by ~1e-15 before rounding to 8
bits).  The integer nets run in tiles too, which is exact.  The pixel count is capped
(``limits.MAX_LEARNED_PIXELS``) before any network runs, at encode and at decode, so a stream
is never written that its decoder could not decode within the stated memory (see README).

Quality 0..100 maps linearly onto the model's gain levels (0 = lowest rate); any real value is
valid.  Grayscale is coded as RGB and converted back; alpha (RGBA, LA) is stored losslessly as a
PNG in section ALFA; 16-bit images are refused (convert to 8-bit first).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import ClassVar

import numpy as np

from .. import limits
from ..errors import CorruptStreamError, MissingDependencyError
from .base import Image, LossyCodec, check_image_meta, quality_to_range, section

WEIGHTS = "hyperprior-none-44192.pt"  # the default for new streams; older files stay for old streams
PAD = 64
TILE, HALO = 24, 3  # synthesis/analysis tiles and their context, in latents (16 px each)
Y_RANGE = 255  # |q| <= Y_RANGE; larger residuals are clipped (the encoder reconstructs the same)


def weights_dir() -> Path:
    return Path(os.environ.get("OMNICODEC_WEIGHTS", Path(__file__).resolve().parents[1] / "weights"))


@lru_cache(maxsize=4)
def load_model(path: str, sha256: str):
    """The inference model for a weights file whose digest must be ``sha256``."""
    import torch

    from ..models.hyperprior import InferenceModel

    p = Path(path)
    if not p.is_file():
        raise MissingDependencyError(
            f"hyperprior weights not found at {p}; reinstall omnicodec or train them with "
            "`codec train hyperprior` and export (see README)")
    data = p.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise CorruptStreamError(f"hyperprior weights {p} have sha256 {digest[:12]}…, expected "
                                 f"{sha256[:12]}… (corrupt or different weights)")
    try:
        art = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        return InferenceModel(art)
    except Exception as exc:  # torch raises many types for a damaged pickle
        raise CorruptStreamError(f"hyperprior weights {p} do not load: {exc}") from None


def find_weights(sha256: str = "") -> tuple[Path, str]:
    """(file, sha256) of the weights to use: the default file for new encodes, or the file whose
    manifest digest is ``sha256`` (the one a stream was written with).  Retrained weights ship as
    new files beside the old ones, so that old streams keep decoding."""
    path = weights_dir() / "MANIFEST.json"
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError):
        raise MissingDependencyError(f"hyperprior weights manifest {path} is missing or unreadable; "
                                     "reinstall omnicodec") from None
    if not sha256:
        entry = manifest.get(WEIGHTS)
        if not entry:
            raise MissingDependencyError(f"no entry for {WEIGHTS} in {path}")
        return weights_dir() / WEIGHTS, entry["sha256"]
    for name, entry in manifest.items():
        if entry.get("sha256") == sha256:
            return weights_dir() / name, sha256
    raise MissingDependencyError(f"this stream needs hyperprior weights sha256={sha256[:12]}…, "
                                 "which this installation does not have")


@dataclass
class Hyperprior(LossyCodec):
    codec_id: ClassVar[str] = "hyperprior"
    modality: ClassVar[str] = "image"
    requires: ClassVar[tuple[str, ...]] = ("torch", "compressai")
    extra: ClassVar[str] = "neural"
    description: ClassVar[str] = "learned mean-scale hyperprior, one model for all rates"
    quality: float = 50.0
    coder: str = "ans"
    weights: str = ""  # sha256 of the weights file; filled in at encode time

    def supports(self, item):
        reason = super().supports(item)
        if reason:
            return reason
        if item.mode not in ("L", "LA", "RGB", "RGBA"):
            return f"hyperprior codes 8-bit images; convert {item.mode} to 8-bit RGB first"
        h, w = item.pixels.shape[:2]
        if h * w > limits.MAX_LEARNED_PIXELS:
            return (f"hyperprior decodes at most {limits.MAX_LEARNED_PIXELS} pixels within its memory cap; "
                    f"this image has {h * w}")
        return None

    def _model(self):
        path, sha = find_weights(self.weights)
        return load_model(str(path), sha), sha

    def _level(self, model) -> float:
        return quality_to_range(self.quality, 0, model.cfg.levels - 1)

    def encode(self, item):
        import torch

        from ..entropy import Encoder

        self.check_supports(item)
        model, sha = self._model()
        self.weights = sha
        rgb = item.pixels[:, :, :3] if item.mode in ("RGB", "RGBA") else np.repeat(item.pixels[:, :, :1], 3, 2)
        y, z_sym = analyse(model, rgb, self._level(model))
        enc = Encoder(self.coder)
        _code_z(enc.encode, z_sym, model)
        hyper = model.hyper(z_sym)
        y_hat = torch.zeros_like(y)
        for stage, mask in enumerate(model.masks(*y.shape[2:])):
            scales, means = model.stage_params(hyper, y_hat, stage)
            m = mask.expand_as(y)
            q = torch.clamp(torch.round(y[m] - means[m]), -Y_RANGE, Y_RANGE)
            enc.encode(q.numpy().astype(np.int32), _y_model(), means=np.zeros(q.numel()),
                       scales=scales[m].numpy())
            y_hat[m] = q + means[m]
        sections = {"DATA": enc.finish()}
        if item.mode in ("RGBA", "LA"):
            sections["ALFA"] = _png(item.pixels[:, :, -1])
        return sections

    def decode(self, sections, meta):
        import torch

        from ..entropy import Decoder

        w, h = check_image_meta(meta)
        limits.check_learned_pixels(w, h)
        mode = meta["mode"]
        if mode not in ("L", "LA", "RGB", "RGBA"):
            raise CorruptStreamError(f"hyperprior: bad mode {mode!r} in header")
        model, _ = self._model()
        ph, pw = -(-h // PAD) * PAD, -(-w // PAD) * PAD
        dec = Decoder(section(sections, "DATA", self.codec_id), self.coder)
        z_shape = (1, model.cfg.N, ph // 64, pw // 64)
        z_sym = _decode_z(dec, z_shape, model)
        hyper = model.hyper(z_sym)
        y_hat = torch.zeros(1, model.cfg.M, *hyper.shape[2:], dtype=torch.float64)
        for stage, mask in enumerate(model.masks(*y_hat.shape[2:])):
            scales, means = model.stage_params(hyper, y_hat, stage)
            m = mask.expand_as(y_hat)
            q = dec.decode(_y_model(), means=np.zeros(int(m.sum())), scales=scales[m].numpy())
            y_hat[m] = torch.from_numpy(q.astype(np.float64)) + means[m]
        _, ig = model.net.gains(self._level(model))
        rgb = synthesize(model, y_hat * ig.double())[:h, :w]
        return _finish(rgb, mode, sections, w, h)


# ---------------------------------------------------------------------------- helpers
def _pad(x):
    import torch.nn.functional as F

    h, w = x.shape[2:]
    return F.pad(x, (0, -(-w // PAD) * PAD - w, 0, -(-h // PAD) * PAD - h), mode="replicate")


@lru_cache(maxsize=1)
def _y_model():
    from ..entropy import QuantizedGaussian

    return QuantizedGaussian(-Y_RANGE, Y_RANGE)


def synthesize(model, y_hat):
    """g_s in the fixed tiling, straight to 8-bit RGB (H, W, 3) at the padded size."""
    import torch

    from ..models.hyperprior import tiled

    def to8(t):
        return (t.clamp(0, 1).numpy() * 255.0 + 0.5).astype(np.uint8)

    with torch.no_grad():
        return tiled(model.g_s, y_hat, 1, 16, TILE, HALO, to8)[0].transpose(1, 2, 0)


def analyse(model, rgb: np.ndarray, level: float):
    """The encoder's front end: (y as float64, ẑ symbols) of an 8-bit RGB array at a gain level;
    g_a runs in the same tiling as the synthesis, so memory stays bounded."""
    import torch

    from ..models.hyperprior import tiled

    with torch.no_grad():
        x = _pad(torch.from_numpy(np.array(rgb, dtype=np.uint8)).permute(2, 0, 1)[None].float() / 255.0)
        y = tiled(model.net.g_a, x, 16, 1, TILE, HALO) * model.net.gains(level)[0]
        z = model.net.h_a(y)
    s = torch.round(z.double()) - model.z_offsets[None, :, None, None].double()
    return y.double(), torch.clamp(s, 0, model.z_freqs.shape[1] - 1).long()


def _z_categoricals(model):
    from ..entropy import Categorical

    cache = getattr(model, "_z_cats", None)
    if cache is None:
        cache = model._z_cats = [Categorical(row.numpy()) for row in model.z_freqs]
    return cache


def _code_z(encode, z_sym, model):
    for c, cat in enumerate(_z_categoricals(model)):
        encode(z_sym[0, c].numpy().ravel().astype(np.int32), cat)


def _decode_z(dec, shape, model):
    import torch

    _, n, zh, zw = shape
    rows = [dec.decode(cat, zh * zw) for cat in _z_categoricals(model)]
    return torch.from_numpy(np.stack(rows).reshape(1, n, zh, zw).astype(np.int64))


def _png(plane: np.ndarray) -> bytes:
    from PIL import Image as PILImage

    out = io.BytesIO()
    PILImage.fromarray(plane, "L").save(out, "PNG", compress_level=9)
    return out.getvalue()


def _finish(rgb: np.ndarray, mode: str, sections, w: int, h: int) -> Image:
    from PIL import Image as PILImage

    if mode in ("L", "LA"):
        color = np.asarray(PILImage.fromarray(rgb, "RGB").convert("L"))[:, :, None]
    else:
        color = rgb
    if mode in ("RGBA", "LA"):
        try:
            with PILImage.open(io.BytesIO(section(sections, "ALFA", "hyperprior")), formats=["PNG"]) as im:
                if im.size != (w, h):
                    raise CorruptStreamError("hyperprior: alpha plane size disagrees with header")
                alpha = np.asarray(im.convert("L"))[:, :, None]
        except (OSError, SyntaxError) as exc:
            raise CorruptStreamError(f"hyperprior: alpha plane does not decode: {exc}") from None
        color = np.concatenate([color, alpha], axis=2)
    return Image(np.ascontiguousarray(color), mode)
