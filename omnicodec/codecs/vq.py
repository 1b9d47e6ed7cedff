"""vq: images at extreme low rates (about 0.01-0.05 bpp) as indices into a clustered VQ codebook,
coded with a learned prior; a damaged tile is restored from its neighbours on request.

    Image ─pad to ×16─► encoder ─► z (dim, H/16, W/16) ─nearest centroid of level K─► indices
    indices, tile by tile (TILE × TILE, 512 px): pass 0..4 of the dyadic order, each pass's
          distributions from the integer prior given the earlier passes ─► lane rANS ─► "Innn"
    decode: sections ─► indices ─► centroids ─► decoder (float64, fixed tiles) ─► crop ─► pixels
    --repair: a tile section that fails its checksum or does not decode is filled in by the
          prior from the intact indices around it, most confident first (a warning says so)

Model: ``omnicodec.models.vq`` (trained by ``codec train vq``, docs/training.md).  Quality 0..100
picks the ladder level (K = 8 .. 1024 codes; levels evenly spread over the range, rounded), so
the rate is fixed by the image size and the level, less what the prior saves.

Determinism: the entropy decoder depends only on the integer prior (``models.base.IntegerNet``,
its output layer the dot products with the codebook folded in at load time in a fixed order),
``entropy.models._exp`` and integer sums; the synthesis runs in fixed tiles, in the precision
the config's ``synthesis`` names (``learned.tiled_synthesis``: float32 for new streams, float64
for streams without the key).  Each tile's indices are coded from that tile alone (the prior sees nothing across its
edge), so a tile is lost or restored alone.

Payload: one section per tile, ``I`` + three hex digits (tile number, row by row over the
tile grid), each the lane format with one lane (``entropy/lanes.py``): its positions pass by
pass, row-major within a pass.  Grey images are coded as RGB and converted back; alpha is a
lossless PNG section ``ALFA``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..errors import CorruptStreamError
from .base import option, section
from .learned import SYNTHESES, IndexCodec, image_from_rgb, padded_input, rgb_and_alpha, tiled_rgb

TILE = 32  # index positions per tile side (512 px): the unit coded alone, and lost or restored alone
# the float nets' fixed tiles and their context, in index positions (the decoder sees 3 positions
# each way: 3x3 convs at steps of 1, 1, 1/2, 1/4, 1/8, 1/8 of a position)
SYNTH_TILE, HALO = 24, 3
MASS_BITS = 20  # each fine code's probability as an integer in units of 2**-MASS_BITS
HEAD_CHUNK = 4096  # positions whose logits over every code are held at once (32 MB at 1024 codes)
REPAIR_ROUNDS = 4  # a repair fills the most confident quarter, third, half, then the rest


class RepairWarning(UserWarning):
    """A stream decoded with parts restored (``decode(..., repair=True)``)."""


class Inference:
    """An artefact's float encoder and decoder, level codebooks and the integer prior."""

    def __init__(self, art):
        import torch
        from torch import nn

        from ..models.base import ACT_BITS, IntegerNet, load_half
        from ..models.vq import VQConfig, decoder_net, encoder_net, ladder_books, prior_net

        cfg = self.cfg = VQConfig.from_dict(art["config"])
        self.encoder, self.decoder, prior = encoder_net(cfg), decoder_net(cfg), prior_net(cfg)
        for name, net in (("encoder", self.encoder), ("decoder", self.decoder), ("prior", prior)):
            load_half(net, art[name])
            net.eval()
        self.decoder.double()
        self.books = [b.double() for b in ladder_books(art)]
        book = self.books[-1]
        self.members = art["members"].long().numpy()
        if self.members.shape != (len(cfg.ladder), cfg.codes) or self.members.min() < 0 or \
                any(self.members[i].max() >= k for i, k in enumerate(cfg.ladder)):
            raise ValueError("a ladder membership is out of range")
        # the output layer: the query's dot products with every code, summed in a fixed order
        last = prior[-1]
        w, b = last.weight.detach().double()[:, :, 0, 0].numpy(), last.bias.detach().double().numpy()
        weight, bias = np.zeros((cfg.codes, w.shape[1])), art["prior_bias"].double().numpy().copy()
        for j in range(cfg.dim):
            weight += book.numpy()[:, j:j + 1] * w[j]
            bias += book.numpy()[:, j] * b[j]
        fold = nn.Conv2d(w.shape[1], cfg.codes, 1)
        fold.weight.data = torch.from_numpy(weight)[:, :, None, None]
        fold.bias.data = torch.from_numpy(bias)
        net = IntegerNet.from_module(nn.Sequential(*prior[:-1], fold), ACT_BITS)
        # the body runs on the grid; the head (codes × width) only on the positions asked for
        self.body, head = IntegerNet(net.layers[:-1]), net.layers[-1]
        self.head = (head["weight"][:, :, 0, 0].numpy(), head["bias"].numpy()[:, None], float(2 ** head["shift"]))

    @property
    def levels(self) -> int:
        return len(self.books)

    def sizes(self, level: int) -> int:
        return self.books[level].shape[0]

    # ---- analysis and synthesis (float)
    def analyse(self, rgb: np.ndarray):
        """8-bit RGB (H, W, 3) -> z (1, dim, ceil(H/16), ceil(W/16)), float64."""
        import torch
        import torch.nn.functional as F

        from ..models.base import tiled

        x = padded_input(rgb, *VQCodec.padded(*rgb.shape[:2]))
        with torch.no_grad():
            return F.normalize(tiled(self.encoder, x, 16, 1, SYNTH_TILE, HALO).double(), dim=1)

    def indices(self, z, level: int) -> np.ndarray:
        from ..models.vq import nearest

        return nearest(z, self.books[level])[0].numpy()

    def vectors(self, idx: np.ndarray, level: int):
        """(h, w) indices -> (1, dim, h, w) float64 code vectors."""
        return self.books[level][idx].permute(2, 0, 1)[None]

    def synthesize(self, vectors, precision: str = "float64") -> np.ndarray:
        """Code vectors (1, dim, h, w) -> 8-bit RGB (16h, 16w, 3) (``learned.tiled_synthesis``)."""
        return tiled_rgb(self, "decoder", vectors, 16, SYNTH_TILE, HALO, precision)

    # ---- the prior (integer)
    def masses(self, idx: np.ndarray, known: np.ndarray, where: np.ndarray, level: int) -> np.ndarray:
        """Integer probability masses (n, K) of the level's codes at the ``where`` positions of
        a grid, given the indices at the ``known`` positions: identical on every machine."""
        return self.masses_of(self.vectors(idx, level), known, where, level)

    def masses_of(self, vectors, known: np.ndarray, where: np.ndarray, level: int) -> np.ndarray:
        """``masses`` given the grid's vectors (1, dim, h, w) at the known positions (code
        vectors, or a repair's blends of them)."""
        import torch

        from ..entropy.models import _exp

        x = torch.round(vectors * 256) * torch.from_numpy(known)
        x = torch.cat([x, torch.from_numpy(known.astype(np.float64) * 256)[None, None]], 1)
        features = self.body(x)[0].numpy()[:, where]  # (width, n) integers
        weight, bias, scale = self.head
        out = np.empty((features.shape[1], self.sizes(level)), np.int64)
        for a in range(0, features.shape[1], HEAD_CHUNK):
            # integers below 2**53 whatever the summation order: exact, as the conv would be
            logits = np.floor((weight @ features[:, a:a + HEAD_CHUNK] + bias) / scale)  # units of 2**-8
            fine = np.floor(_exp((logits - logits.max(0)) / 256) * (1 << MASS_BITS)).astype(np.int64)
            if level == len(self.books) - 1:
                out[a:a + HEAD_CHUNK] = fine.T
            else:
                coarse = np.zeros((self.sizes(level), fine.shape[1]), np.int64)
                np.add.at(coarse, self.members[level], fine)
                out[a:a + HEAD_CHUNK] = coarse.T
        return out

    def _passes(self, idx: np.ndarray, level: int):
        """Each coding pass of a tile: (its positions, their CDF rows), the rows computed when
        the pass is reached, from ``idx`` as it is then (the decoder fills it in between)."""
        from ..entropy.lanes import CdfTable, quantize_counts
        from ..models.vq import PASSES, pass_map

        passes = pass_map(*idx.shape)
        for p in range(PASSES):
            where = passes == p
            if where.any():
                yield where, CdfTable(quantize_counts(self.masses(idx, passes < p, where, level)))

    def code_tile(self, idx: np.ndarray, level: int) -> bytes:
        from ..entropy.lanes import LaneEncoder

        enc = LaneEncoder(1)
        for where, table in self._passes(idx, level):
            enc.table(table, np.arange(int(where.sum())), idx[where])
        return enc.finish()

    def decode_tile(self, data: bytes, shape: tuple[int, int], level: int) -> np.ndarray:
        from ..entropy.lanes import LaneDecoder

        dec, idx = LaneDecoder(data, 1), np.zeros(shape, np.int64)
        for where, table in self._passes(idx, level):
            idx[where] = dec.table(table, np.arange(int(where.sum()), dtype=np.int32))
        dec.finish()
        return idx

    def repair(self, idx: np.ndarray, known: np.ndarray, level: int):
        """The code vectors (1, dim, h, w) of ``idx`` with its unknown positions filled in from
        the known ones, in REPAIR_ROUNDS rounds, each where the prior is most confident (later
        rounds read them as known): not the most probable code but the prior's expected code
        vector there, a blend of the likely codes, which the decoder renders closer to what was
        lost (with 20% of Kodak's positions lost at random, the MS-SSIM drop from the intact
        decode is 0.041 against 0.065 for the most probable codes; a lost 256-pixel block 0.080
        against 0.088)."""
        import torch

        vectors, known = self.vectors(idx, level).clone(), known.copy()
        book = self.books[level].numpy()
        for r in range(REPAIR_ROUNDS):
            unknown = ~known
            n = int(unknown.sum())
            if not n:
                break
            m = self.masses_of(vectors, known, unknown, level).astype(np.float64)
            p = m / m.sum(1, keepdims=True)
            take = np.argsort(-p.max(1), kind="stable")[:-(-n // (REPAIR_ROUNDS - r))]
            rows, cols = np.nonzero(unknown)
            # Σ_k p_k · code_k one coordinate at a time (NumPy's own sum: the same on any machine
            # and thread count, where a BLAS product's order is not)
            blend = np.stack([(p[take] * book[:, j]).sum(1) for j in range(book.shape[1])])
            vectors[0, :, rows[take], cols[take]] = torch.from_numpy(blend)
            known[rows[take], cols[take]] = True
        return vectors


def tile_slices(h: int, w: int):
    """The index grid's tiles, row by row: (row slice, column slice)."""
    return [(slice(r, min(h, r + TILE)), slice(c, min(w, c + TILE)))
            for r in range(0, h, TILE) for c in range(0, w, TILE)]


def tile_tag(t: int) -> str:
    return f"I{t:03X}"


@dataclass
class VQCodec(IndexCodec):
    codec_id: ClassVar[str] = "vq"
    modality: ClassVar[str] = "image"
    description: ClassVar[str] = "VQ autoencoder, clustered codebooks and a learned index prior: 0.01-0.05 bpp"
    network: ClassVar[str] = "omnicodec.models.vq:VQ"
    weights_file: ClassVar[str] = "vq-1024x32-10000.pt"
    stride: ClassVar[int] = 16
    latent_stride: ClassVar[int] = 16
    repairable: ClassVar[bool] = True
    # float64 by default, unlike the other learned codecs: the float32 synthesis decodes a Kodak
    # image in 0.25 s instead of 0.9-1.0, but its config key costs 20 header bytes, 3% of a
    # K = 8 stream (-O synthesis=float32 where decode time matters more)
    synthesis: str = option("float64", choices=SYNTHESES)

    @classmethod
    def build(cls, art):
        return Inference(art)

    def encode(self, item):
        self.check_supports(item)
        model = self.model()
        rgb, sections = rgb_and_alpha(item)
        level = self.level(model)
        idx = model.indices(model.analyse(rgb), level)
        for t, (rs, cs) in enumerate(tile_slices(*idx.shape)):
            sections[tile_tag(t)] = model.code_tile(np.ascontiguousarray(idx[rs, cs]), level)
        return sections

    def decode_checked(self, sections, meta):
        return self._decode(sections, meta, repair=False)

    def decode_repair(self, sections, meta):
        """``decode`` that restores the tiles whose sections are missing (dropped as damaged
        by the container) or do not decode, with a RepairWarning naming how many."""
        self.check_stream(meta)
        return self._decode(sections, meta, repair=True)

    def _decode(self, sections, meta, repair: bool):
        mode = meta["mode"]
        model = self.model()
        level = self.level(model)
        rgb = model.synthesize(self._vectors(sections, meta, model, level, repair),
                               self.synthesis)[:int(meta["height"]), :int(meta["width"])]
        return image_from_rgb(np.ascontiguousarray(rgb), mode, sections, self.codec_id)

    def _vectors(self, sections, meta, model, level: int, repair: bool = False):
        """The code vectors (1, dim, h, w) of a stream's index grid, decoded tile by tile; with
        ``repair``, the tiles that are missing or do not decode are restored by the prior (with
        a RepairWarning)."""
        w, h = int(meta["width"]), int(meta["height"])
        gh, gw = -(-h // 16), -(-w // 16)
        tiles = tile_slices(gh, gw)
        extra = sorted(set(t for t in sections if t[:1] == "I") - {tile_tag(t) for t in range(len(tiles))})
        if extra:
            raise CorruptStreamError(f"vq: section {extra[0]} is not a tile of a {w}x{h} image")
        idx, known, lost = np.zeros((gh, gw), np.int64), np.zeros((gh, gw), bool), 0
        for t, (rs, cs) in enumerate(tiles):
            try:
                shape = (rs.stop - rs.start, cs.stop - cs.start)
                idx[rs, cs] = model.decode_tile(section(sections, tile_tag(t), self.codec_id), shape, level)
                known[rs, cs] = True
            except CorruptStreamError:
                if not repair:
                    raise
                lost += 1
        if lost:
            if lost == len(tiles):
                raise CorruptStreamError("vq: every tile is damaged; nothing to restore from")
            warnings.warn(RepairWarning(f"vq: {lost} of {len(tiles)} tiles were damaged and are restored "
                                        "from their neighbours (a plausible picture, not the original)"),
                          stacklevel=3)
            return model.repair(idx, known, level)
        return model.vectors(idx, level)

    # ---- the latent, for compressed-domain learning
    def encode_latent(self, item) -> np.ndarray:
        self.check_supports(item)
        model = self.model()
        level = self.level(model)
        idx = model.indices(model.analyse(rgb_and_alpha(item)[0]), level)
        return model.vectors(idx, level)[0].numpy().astype(np.float32)

    def decode_latent(self, sections, meta) -> np.ndarray:
        self.check_stream(meta)
        model = self.model()
        level = self.level(model)
        return self._vectors(sections, meta, model, level)[0].numpy().astype(np.float32)
