"""mcquic: images as indices into multiple codebooks at two cascaded scales, coded in two
parallel passes under a Gaussian-mixture prior whose means are the codewords.

    Image ─pad to ×32─► analysis ─► z (H/16) ─down─► z' (H/32) ─nearest codeword per group─► coarse
    coarse ─codewords─► integer context net ─► prediction p, mixture location f, log-scale s
    z - p ─nearest codeword of each group's level-K book─► fine indices
    "COAR": coarse indices under the per-group code frequencies; "FINE": fine indices under the mixture
    decode: COAR ─► context ─► FINE ─► ẑ = p + codewords ─► synthesis (fixed tiles) ─► crop

Model: ``omnicodec.models.mcquic`` (trained by ``codec train mcquic``, docs/training.md).
Quality 0..100 picks the level: 0 codes the coarse scale alone, then the fine scale's ladder
K = 2 .. 1024 per group (levels evenly spread over the range, rounded).

Determinism: the entropy decoder depends only on integers: the context net runs as an
``IntegerNet`` (exact, in fixed tiles), the mixture's squared distances are float32 sums in a
fixed order (``kernels/codewords.py``), ``entropy.models._exp`` gives the weights, and the masses
are floors of single correctly rounded products.  Each level is coded in one pass with no
autoregression (the paper's point: decoding is parallel).  The synthesis runs in the precision
the config's ``synthesis`` names (``learned.tiled_synthesis``: float32 for new streams, float64
for streams without the key): only the pixels depend on it.

Payload: sections ``COAR`` and ``FINE`` (no ``FINE`` at level 0), each the lane format with one lane
(``entropy/lanes.py``): ``COAR`` position by position (row-major), the groups within a
position; ``FINE`` likewise, in chunks of CHUNK positions, each chunk one CDF table.
Grey images are coded as RGB and converted back; alpha is a lossless PNG section ``ALFA``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..errors import CorruptStreamError
from .base import section
from .learned import IndexCodec, image_from_rgb, padded_input, rgb_and_alpha, tiled_rgb

TILE, HALO = 24, 3  # the float nets' fixed tiles and their context, in H/16 positions
CONTEXT_TILE, CONTEXT_HALO = 32, 2  # the integer context net's tiles, in H/32 positions (exact)
MASS_BITS = 20  # each code's mixture weight as an integer in units of 2**-MASS_BITS
CHUNK = 256  # fine positions whose CDF rows (groups × K each) are held at once
CUTOFF = 24.0  # exponents beyond which a mixture weight (< 2**30: 2**MASS_BITS times <= 1024 members) floors to 0


def _weights(logits: np.ndarray) -> np.ndarray:
    """Integer mixture weights floor(2**MASS_BITS · π / max π) of float logits (rows)."""
    from ..entropy.models import _exp

    lg = np.asarray(logits, np.float64)
    return np.floor(_exp(lg - lg.max(-1, keepdims=True)) * (1 << MASS_BITS)).astype(np.int64)


class Inference:
    """An artefact's float analysis and synthesis, codebooks and integer priors."""

    def __init__(self, art):
        from ..models.base import ACT_BITS, IntegerNet, load_half
        from ..models.mcquic import McQuicConfig, context_net, down_net, image_nets, ladder_books

        cfg = self.cfg = McQuicConfig.from_dict(art["config"])
        (self.encoder, self.decoder), self.down, context = image_nets(cfg), down_net(cfg), context_net(cfg)
        for name, net in (("encoder", self.encoder), ("down", self.down), ("decoder", self.decoder),
                          ("context", context)):
            load_half(net, art[name])
            net.eval()
        self.decoder.double()
        self.context = IntegerNet.from_module(context, ACT_BITS)
        self.coarse = art["coarse_book"].double()
        self.books = [None, *(b.double() for b in ladder_books(art))]  # per level; level 0 has none
        members = art["members"].long().numpy()
        if members.min() < 0 or any((members[i].max(1) >= k).any() for i, k in enumerate(cfg.ladder)):
            raise ValueError("a ladder membership is out of range")
        fine = _weights(art["fine_logits"].numpy())  # (G, K)
        self.pi = [None]
        for i, k in enumerate(cfg.ladder):
            sums = np.zeros((fine.shape[0], k), np.int64)
            for g in range(fine.shape[0]):
                np.add.at(sums[g], members[i, g], fine[g])
            self.pi.append(sums)
        self.pi.append(fine)
        self.coarse_table = _cdf(_weights(art["coarse_logits"].numpy()))

    @property
    def levels(self) -> int:
        return len(self.books)

    # ---- float analysis
    def analyse(self, rgb: np.ndarray):
        """8-bit RGB (H, W, 3) -> z (1, width, H/16, W/16) and z' (1, width, H/32, W/32), float64."""
        import torch

        from ..models.base import tiled

        x = padded_input(rgb, *McQuicCodec.padded(*rgb.shape[:2]))
        with torch.no_grad():
            z = tiled(self.encoder, x, 16, 1, TILE, HALO).double()
            return z, tiled(self.down, z.float(), 2, 1, TILE // 2, HALO).double()

    # ---- the cascade
    def coarse_indices(self, z_coarse) -> np.ndarray:
        from ..models.mcquic import grouped_nearest

        return grouped_nearest(z_coarse, self.coarse)[0].numpy()

    def context_of(self, coarse: np.ndarray):
        """Coarse indices (G', h, w) -> exact (prediction (1, width, 2h, 2w) float64, location
        (G, d, 2h, 2w) and log-scale (G, 2h, 2w) as float64 numpy), all multiples of 2**-8."""
        import torch

        from ..models.base import tiled
        from ..models.mcquic import grouped_vectors, split_context

        x = torch.round(grouped_vectors(self.coarse, torch.from_numpy(coarse)[None]) * 256)
        out = tiled(self.context, x, 1, 2, CONTEXT_TILE, CONTEXT_HALO) / 256
        pred, loc, s = split_context(out, self.cfg)
        return pred, loc[0].numpy(), s[0].numpy()

    def fine_indices(self, residual, level: int) -> np.ndarray:
        from ..models.mcquic import grouped_nearest

        return grouped_nearest(residual, self.books[level])[0].numpy()

    def latent(self, pred, fine: np.ndarray | None, level: int):
        """ẑ (1, width, h, w) float64: the prediction plus the fine codewords."""
        import torch

        from ..models.mcquic import grouped_vectors

        if not level:
            return pred
        return pred + grouped_vectors(self.books[level], torch.from_numpy(fine)[None])

    def synthesize(self, z_hat, precision: str = "float64") -> np.ndarray:
        """ẑ -> 8-bit RGB (16h, 16w, 3) (``learned.tiled_synthesis``)."""
        return tiled_rgb(self, "decoder", z_hat, 16, TILE, HALO, precision)

    # ---- the priors (integer)
    def fine_tables(self, loc: np.ndarray, s: np.ndarray, level: int):
        """The fine level's CDF tables, chunk by chunk of CHUNK positions (row-major): (position
        slice, table with one row per (position, group), position-major); the masses by
        ``kernels/codewords.py``."""
        from ..entropy.models import _exp
        from ..kernels import kernel

        book, pi = self.books[level].numpy().astype(np.float32), self.pi[level]  # (G, K, d), (G, K)
        g, d = loc.shape[:2]
        loc, s = loc.reshape(g, d, -1).astype(np.float32), s.reshape(g, -1)
        n = loc.shape[2]
        for a in range(0, n, CHUNK):
            f = np.ascontiguousarray(loc[:, :, a:a + CHUNK])  # (G, d, m)
            scale = (_exp(-2 * s[:, a:a + CHUNK]) / 2).astype(np.float32)
            masses = kernel("codewords", "masses", size=f.size * book.shape[1])(f, scale, book, pi, CUTOFF)
            yield slice(a, a + f.shape[2]), _cdf(masses.reshape(-1, book.shape[1]))

    def code(self, coarse: np.ndarray, fine: np.ndarray | None, loc, s, level: int) -> dict[str, bytes]:
        from ..entropy.lanes import LaneEncoder

        out = {}
        enc = LaneEncoder(1)
        sym = coarse.reshape(coarse.shape[0], -1).T.ravel()  # position-major
        enc.table(self.coarse_table, np.tile(np.arange(coarse.shape[0]), sym.size // coarse.shape[0]), sym)
        out["COAR"] = enc.finish()
        if level:
            enc = LaneEncoder(1)
            flat = fine.reshape(fine.shape[0], -1)
            for where, table in self.fine_tables(loc, s, level):
                # each symbol's interval now, so that no chunk's table outlives its chunk (the
                # encoder keeps its calls until finish: 16 MB of table a chunk at K = 1024)
                at = table.starts + flat[:, where].T.ravel()
                enc.push(table.cdf[at], table.cdf[at + 1] - table.cdf[at])
            out["FINE"] = enc.finish()
        return out

    def decode_coarse(self, data: bytes, shape: tuple[int, int]) -> np.ndarray:
        from ..entropy.lanes import LaneDecoder

        g = self.coarse.shape[0]
        dec = LaneDecoder(data, 1)
        sym = dec.table(self.coarse_table, np.tile(np.arange(g, dtype=np.int32), shape[0] * shape[1]))
        dec.finish()
        return sym.reshape(-1, g).T.reshape(g, *shape).astype(np.int64)

    def decode_fine(self, data: bytes, loc, s, level: int) -> np.ndarray:
        from ..entropy.lanes import LaneDecoder

        g, shape = loc.shape[0], loc.shape[2:]
        dec, flat = LaneDecoder(data, 1), np.zeros((g, shape[0] * shape[1]), np.int64)
        for where, table in self.fine_tables(loc, s, level):
            rows = np.arange(g * (where.stop - where.start), dtype=np.int32)
            flat[:, where] = dec.table(table, rows).reshape(-1, g).T
        dec.finish()
        return flat.reshape(g, *shape)


def _cdf(masses: np.ndarray):
    from ..entropy.lanes import CdfTable, quantize_counts

    return CdfTable(quantize_counts(masses))


@dataclass
class McQuicCodec(IndexCodec):
    codec_id: ClassVar[str] = "mcquic"
    modality: ClassVar[str] = "image"
    description: ClassVar[str] = "multi-codebook quantization at two scales, Gaussian-mixture prior (McQuic)"
    network: ClassVar[str] = "omnicodec.models.mcquic:McQuic"
    weights_file: ClassVar[str] = "mcquic-16x1024-7000.pt"
    stride: ClassVar[int] = 32
    latent_stride: ClassVar[int] = 16

    @classmethod
    def build(cls, art):
        return Inference(art)

    def _analyse(self, item):
        """(the model, level, coarse indices, fine indices or None, prediction, location,
        log-scale, other sections) of an image."""
        self.check_supports(item)
        model = self.model()
        rgb, sections = rgb_and_alpha(item)
        level = self.level(model)
        z, z_coarse = model.analyse(rgb)
        coarse = model.coarse_indices(z_coarse)
        pred, loc, s = model.context_of(coarse)
        fine = model.fine_indices(z - pred, level) if level else None
        return model, level, coarse, fine, pred, loc, s, sections

    def encode(self, item):
        model, level, coarse, fine, _, loc, s, sections = self._analyse(item)
        sections.update(model.code(coarse, fine, loc, s, level))
        return sections

    def _latent(self, sections, meta):
        """(model, ẑ) of a stream."""
        model = self.model()
        level = self.level(model)
        w, h = int(meta["width"]), int(meta["height"])
        ph, pw = self.padded(h, w)
        extra = sorted(set(sections) - {"COAR", "FINE", "ALFA"})
        if extra or ("FINE" in sections) != (level > 0):
            raise CorruptStreamError(f"mcquic: the sections {sorted(sections)} do not fit level {level}")
        coarse = model.decode_coarse(section(sections, "COAR", self.codec_id), (ph // 32, pw // 32))
        pred, loc, s = model.context_of(coarse)
        fine = model.decode_fine(section(sections, "FINE", self.codec_id), loc, s, level) if level else None
        return model, model.latent(pred, fine, level)

    def decode_checked(self, sections, meta):
        mode = meta["mode"]
        model, z_hat = self._latent(sections, meta)
        rgb = model.synthesize(z_hat, self.synthesis)[:int(meta["height"]), :int(meta["width"])]
        return image_from_rgb(np.ascontiguousarray(rgb), mode, sections, self.codec_id)

    # ---- the latent ẑ, for compressed-domain learning
    def encode_latent(self, item) -> np.ndarray:
        model, level, _, fine, pred, _, _, _ = self._analyse(item)
        return self.crop_latent(model.latent(pred, fine, level), item.meta())

    def decode_latent(self, sections, meta) -> np.ndarray:
        self.check_stream(meta)
        return self.crop_latent(self._latent(sections, meta)[1], meta)
