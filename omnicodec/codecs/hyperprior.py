"""Learned image codec: variable-rate mean-scale hyperprior with deterministic entropy decoding.

    Image ─pad to ×64─► g_a·gain ─► y ─h_a─► z ─round─► ẑ ─(per-channel integer tables)─► DATA
                                              ẑ ─integer h_s─► μ, σ  (bit-exact anywhere)
                                   q = round(y − μ) ─QuantizedGaussian(σ)─► DATA (after ẑ)
    decode: DATA ─► ẑ ─► μ, σ ─► q ─► ŷ = q + μ ─·inv_gain─► g_s ─► crop ─► pixels

Model: ``omnicodec.models.hyperprior``, trained by ``codec train hyperprior`` (docs/training.md).
Weights lookup, caps, staged coding and the alpha plane are the learned-codec base's
(``codecs.learned``); ``weights_file`` names the default for new streams.  A checkerboard
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

Grids of tiles (``with_tiles``, models without a spatial context): each tile analysed alone
(one at a time, so its latent is exactly the one it has alone), the ẑ and ŷ of all tiles laid
out as planes and coded as one image's, the hyper-parameters of each tile from its own ẑ, each
tile synthesized alone (docs/format.md, "Grids of tiles").

Quality 0..100 maps linearly onto the model's gain levels (0 = lowest rate); any real value is
valid.  Grayscale is coded as RGB and converted back; alpha (RGBA, LA) is stored losslessly as a
PNG in section ALFA; 16-bit images are refused (convert to 8-bit first).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..errors import CorruptStreamError, UnsupportedInputError
from .base import section
from .learned import (
    SYNTHESIS_BEFORE,
    LearnedCodec,
    code_factorized,
    code_stages,
    decode_factorized,
    decode_stages,
    image_from_rgb,
    image_tiles,
    plane_tiles,
    rgb_and_alpha,
    synthesis_option,
    tiled_synthesis,
    tiles_image,
    tiles_plane,
)

TILE, HALO = 24, 3  # synthesis/analysis tiles and their context, in latents (16 px each)


@dataclass
class Hyperprior(LearnedCodec):
    codec_id: ClassVar[str] = "hyperprior"
    modality: ClassVar[str] = "image"
    requires: ClassVar[tuple[str, ...]] = ("torch", "compressai")
    description: ClassVar[str] = "learned mean-scale hyperprior, one model for all rates"
    weights_file: ClassVar[str] = "hyperprior-none-84000.pt"
    stride: ClassVar[int] = 64
    latent_stride: ClassVar[int] = 16
    network: ClassVar[str] = "omnicodec.models.hyperprior:Hyperprior"
    tileable: ClassVar[bool] = True  # for models without a spatial context (``_grid``)
    synthesis: str = synthesis_option()  # the pixels' precision (``synthesize``)
    before: ClassVar[dict[str, Any]] = SYNTHESIS_BEFORE

    @classmethod
    def build(cls, art):
        from ..models.hyperprior import InferenceModel

        return InferenceModel(art)

    def encode(self, item):
        from ..entropy import Encoder

        self.check_supports(item)
        model = self.model()
        rgb, sections = rgb_and_alpha(item)
        y, z_sym, hyper = self._analyse(model, rgb)
        enc = Encoder(self.coder, self.lanes)
        code_factorized(enc, z_sym, model, model.z_freqs)
        code_stages(enc, y, model, hyper)
        return {"DATA": enc.finish(), **sections}

    def _analyse(self, model, rgb: np.ndarray):
        """(y float64 (1, M, h, w), ẑ symbols, the hyper-parameters) of an image; of a grid, each
        tile analysed alone (one at a time: exactly as alone) and the three laid out as planes."""
        h, w = rgb.shape[:2]
        rows, cols, th, tw = self._grid(model, {"height": h, "width": w}, UnsupportedInputError)
        if rows * cols == 1:
            y, z_sym = analyse(model, rgb, self.level(model))
            return y, z_sym, model.hyper(z_sym)
        import torch

        ys, zs = zip(*(analyse(model, t, self.level(model)) for t in image_tiles(rgb, (rows, cols, th, tw))))
        z_sym = torch.cat(zs)
        return (tiles_plane(torch.cat(ys), rows, cols)[None], tiles_plane(z_sym, rows, cols)[None],
                tiles_plane(model.hyper(z_sym), rows, cols)[None])

    def _grid(self, model, meta, error) -> tuple[int, int, int, int]:
        """The grid of tiles (1, 1, H, W when untiled); a model with a spatial context codes no
        tiles (its context would reach across them)."""
        grid = self.grid(meta)
        if grid is not None and model.cfg.context != "none":
            raise error(f"hyperprior: a {model.cfg.context} model codes no grids of tiles")
        return grid or (1, 1, int(meta["height"]), int(meta["width"]))

    def decode_checked(self, sections, meta):
        model = self.model()
        y_hat = self._y_hat(model, sections, meta)
        rows, cols, th, tw = self._grid(model, meta, CorruptStreamError)
        tiles = plane_tiles(y_hat[0], rows, cols)
        per = max(1, TILE * TILE // (tiles.shape[2] * tiles.shape[3]))  # tiles per synthesis batch
        rgb = np.concatenate([synthesize(model, tiles[i:i + per], self.synthesis)[:, :th, :tw]
                              for i in range(0, len(tiles), per)])
        return image_from_rgb(tiles_image(rgb, rows, cols), meta["mode"], sections, self.codec_id)

    def _y_hat(self, model, sections, meta):
        """ŷ·inverse gain (float64, (1, M, h, w) at the padded size; a grid's tiles laid out as
        a plane): the synthesis' input."""
        from ..entropy import Decoder

        rows, cols, th, tw = self._grid(model, meta, CorruptStreamError)
        ph, pw = self.padded(th, tw)
        dec = Decoder(section(sections, "DATA", self.codec_id), self.coder, self.lanes)
        z_sym = decode_factorized(dec, (1, model.cfg.N, rows * ph // self.stride, cols * pw // self.stride), model,
                                  model.z_freqs)
        hyper = tiles_plane(model.hyper(plane_tiles(z_sym[0], rows, cols)), rows, cols)[None]  # each tile alone
        y_hat = decode_stages(dec, (1, model.cfg.M, *hyper.shape[2:]), model, hyper)
        dec.finish()
        return y_hat * model.net.gains(self.level(model))[1].double()

    # ---- the latent: ŷ·inverse gain, g_s's input (M channels at 1/16 of the image)
    def encode_latent(self, item):
        self.check_supports(item)
        model = self.model()
        y, _, hyper = self._analyse(model, rgb_and_alpha(item)[0])
        y_hat = code_stages(_Discard(), y, model, hyper)
        return self.crop_latent(y_hat * model.net.gains(self.level(model))[1].double(), item.meta())

    def decode_latent(self, sections, meta):
        self.check_stream(meta)
        return self.crop_latent(self._y_hat(self.model(), sections, meta), meta)

    def synthesize(self, latents):
        import torch

        with torch.no_grad():
            return self.model().net.g_s(torch.as_tensor(latents, dtype=torch.float32)).clamp(0, 1)


# ---------------------------------------------------------------------------- helpers
class _Discard:
    """An entropy encoder that keeps nothing: ``code_stages`` through it gives ŷ alone."""

    def encode(self, *args, **kwargs) -> None:
        pass


def synthesize(model, y_hat, precision: str = "float64", workers: int | None = None):
    """g_s in the fixed tiling (``learned.tiled_synthesis``: float64, or float32 on one torch
    thread per tile, ``workers`` tiles at a time), straight to 8-bit RGB (N, H, W, 3) at the
    padded size."""
    def to8(t):
        return (t.clamp(0, 1).numpy() * 255.0 + 0.5).astype(np.uint8)

    return tiled_synthesis(model, "g_s", y_hat, 16, TILE, HALO, to8, precision, workers).transpose(0, 2, 3, 1)


def analyse(model, rgb: np.ndarray, level: float):
    """The encoder's front end: (y as float64, ẑ symbols) of an 8-bit RGB array at a gain level;
    g_a runs in the same tiling as the synthesis, so memory stays bounded."""
    import torch
    import torch.nn.functional as F

    from ..models.base import tiled

    if model.dropped:
        raise UnsupportedInputError(
            f"these hyperprior weights are kept to decode old streams only (shipped without "
            f"{', '.join(model.dropped)}); encode with the current ones (leave `weights` unset)")
    h, w = rgb.shape[:2]
    ph, pw = Hyperprior.padded(h, w)
    with torch.no_grad():
        x = torch.from_numpy(np.array(rgb, dtype=np.uint8)).permute(2, 0, 1)[None].float() / 255.0
        x = F.pad(x, (0, pw - w, 0, ph - h), mode="replicate")
        y = tiled(model.net.g_a, x, 16, 1, TILE, HALO) * model.net.gains(level)[0]
        z = model.net.h_a(y)
    s = torch.round(z.double()) - model.z_offsets[None, :, None, None].double()
    return y.double(), torch.clamp(s, 0, model.z_freqs.shape[1] - 1).long()
