"""VQ: a vector-quantized autoencoder for extreme low rates, its codebook clustered into a ladder
of smaller codebooks, and a masked prior over the index grid (after Mao, Villaverde, Holguin and
Zhu, "Extreme Image Compression using Fine-tuned VQGANs", DCC 2024; our own code).

    x ─encoder (4 stride-2 convs)─► z (dim, H/16, W/16) ─nearest centroid of level K─► indices
    indices ─centroids─► decoder (3 nearest-neighbour upsamplings, a sub-pixel conv) ─► x̂
    indices ─masked prior, in PASSES of a dyadic order─► lane rANS (codecs/vq.py)

Codebook: ``codes`` unit vectors (cosine similarity: the encoder's output is normalized, which
keeps its scale from drifting with the EMA codebook's), with EMA updates, k-means initialisation
and dead-code replacement (``vector_quantize_pytorch``, used for training only).  The ladder: weighted k-means (by code
usage) of the codebook into K = ``ladder`` centroids, recomputed every ``recluster_every`` steps
while training and once at export; each fine code belongs to its nearest centroid.  Where the
paper fine-tunes one decoder per K, every other training step here quantizes to a random level's
centroids, so one decoder serves the whole ladder (one shipped model for all rates).

Index prior (what the paper leaves uniform, log2 K bits per index): a small dilated conv net reads
the grid with the unknown positions masked (input: each known position's centroid, and the mask)
and gives logits over the fine codes as dot products with the codebook; a level's distribution
sums its members' probabilities, so one prior serves every K.  Trained on both the coding
schedule's masks (``pass_map``: 1/16 of the positions first, then positions whose neighbours at
distance 4, 2, 1 are known) and random masks, so the same net restores lost indices (``repair``).

Loss: L1 + MS-SSIM (5 scales, the window ``ssim_window`` fits to the crop) + commitment + the
prior's cross-entropy, and after ``gan_start`` a hinge GAN with a small patch discriminator,
trained in the same step: the generator term sees the discriminator's weights detached, the
discriminator term the generator's output detached.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..metrics import psnr_of_mse
from .base import LearnedModel, TupleConfig, half_state, load_half

PASSES = 5  # coding passes of the dyadic order (pass_map)


def ssim_window(side: int) -> int:
    """MS-SSIM's window for crops of ``side`` px: 5 scales of a w-px window need (w - 1)·16 < side
    (the usual 11 needs 161 px; training crops of 128 get 7)."""
    return max(1, min(11, 2 * ((side - 1) // 32) + 1))


@dataclass(frozen=True)
class VQConfig(TupleConfig):
    codes: int = 1024  # the full codebook (the top of the ladder)
    dim: int = 32  # code vector size
    encoder: tuple[int, ...] = (24, 48, 96, 128)  # widths after each stride-2 conv
    decoder: tuple[int, ...] = (128, 96, 64, 48)  # the bottom width, then after each upsampling
    prior: int = 64  # prior width
    ladder: tuple[int, ...] = (8, 16, 32, 64, 128, 256, 512)  # the clustered codebooks below the full one
    recluster_every: int = 250
    msssim: float = 0.5  # weight of 1 - MS-SSIM beside L1
    commitment: float = 0.25
    gan_start: int = 4000  # the step the adversarial loss starts
    gan: float = 0.05  # its weight

    @property
    def sizes(self) -> tuple[int, ...]:
        """Every level's codebook size, smallest first; the last is the full codebook."""
        return (*self.ladder, self.codes)


def analysis_net(widths: tuple[int, ...], out: int) -> nn.Sequential:
    """RGB -> ``out`` channels at 1/2**len(widths): stride-2 3x3 convs of ``widths`` and SiLUs,
    then a 3x3 conv (vq's encoder, McQuic's analysis)."""
    layers, c = [], 3
    for w in widths:
        layers += [nn.Conv2d(c, w, 3, 2, 1), nn.SiLU()]
        c = w
    return nn.Sequential(*layers, nn.Conv2d(c, out, 3, 1, 1))


def encoder_net(cfg: VQConfig) -> nn.Sequential:
    return analysis_net(cfg.encoder, cfg.dim)


class _Residual(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.body = nn.Sequential(nn.SiLU(), nn.Conv2d(width, width, 3, 1, 1), nn.SiLU(), nn.Conv2d(width, width, 1))

    def forward(self, x):
        return x + self.body(x)


def synthesis_net(dim: int, widths: tuple[int, ...]) -> nn.Sequential:
    """``dim`` channels -> RGB at 2**len(widths) times their resolution: a 3x3 conv to
    ``widths[0]``, a residual block, nearest upsamplings each followed by a 3x3 conv, and the last
    doubling a sub-pixel conv (the full resolution's 3x3 conv would cost as much as all the
    rest).  vq's decoder, McQuic's synthesis."""
    c = widths[0]
    layers = [nn.Conv2d(dim, c, 3, 1, 1), _Residual(c)]
    for w in widths[1:]:
        layers += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c, w, 3, 1, 1), nn.SiLU()]
        c = w
    return nn.Sequential(*layers, nn.Conv2d(c, 12, 3, 1, 1), nn.PixelShuffle(2))


def decoder_net(cfg: VQConfig) -> nn.Sequential:
    return synthesis_net(cfg.dim, cfg.decoder)


def prior_net(cfg: VQConfig) -> nn.Sequential:
    """Masked grid (centroids · known, known) -> a query vector per position; dilations 1, 2, 4
    reach 7 positions each way (the first pass's neighbours are 4 apart)."""
    w = cfg.prior
    return nn.Sequential(nn.Conv2d(cfg.dim + 1, w, 3, 1, 1), nn.ReLU(),
                         nn.Conv2d(w, w, 3, 1, 2, dilation=2), nn.ReLU(),
                         nn.Conv2d(w, w, 3, 1, 4, dilation=4), nn.ReLU(),
                         nn.Conv2d(w, cfg.dim, 1))


def discriminator() -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(3, 32, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(32, 64, 4, 2, 1),
                         nn.LeakyReLU(0.2), nn.Conv2d(64, 64, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(64, 1, 3, 1, 1))


def pass_map(h: int, w: int) -> np.ndarray:
    """(h, w) int: the coding pass of each index position.  0: rows and columns ≡ 0 mod 4;
    1: ≡ 2 mod 4 both; 2: the rest of the even/even positions; 3: odd/odd; 4: the rest."""
    r, c = np.indices((h, w))
    out = np.full((h, w), 4)
    out[(r % 2 == 1) & (c % 2 == 1)] = 3
    out[(r % 2 == 0) & (c % 2 == 0)] = 2
    out[(r % 4 == 2) & (c % 4 == 2)] = 1
    out[(r % 4 == 0) & (c % 4 == 0)] = 0
    return out


def kmeans(x: torch.Tensor, weight: torch.Tensor, k: int, iters: int = 25, seed: int = 0, spherical: bool = True):
    """Weighted k-means of the rows of ``x``, spherical (unit rows, unit centroids) or plain
    (a k-means++ start from a seeded generator, so the same codebook gives the same centroids):
    (centroids (k, d), the centroid of each row (n,))."""
    x, weight = x.detach().double().cpu(), weight.detach().double().cpu().clamp_min(1e-6)
    g = torch.Generator().manual_seed(seed)
    chosen = [int(torch.multinomial(weight, 1, generator=g))]
    d2 = ((x - x[chosen[0]]) ** 2).sum(1)
    for _ in range(k - 1):
        i = int(torch.multinomial(weight * d2 + 1e-30, 1, generator=g))
        chosen.append(i)
        d2 = torch.minimum(d2, ((x - x[i]) ** 2).sum(1))
    c = x[chosen]
    for _ in range(iters):
        a = torch.cdist(x, c).argmin(1)
        s = torch.zeros_like(c).index_add_(0, a, x * weight[:, None])
        n = torch.zeros(k, dtype=x.dtype).index_add_(0, a, weight)
        mean = s if spherical else s / n.clamp_min(1e-30)[:, None]
        c = torch.where(n[:, None] > 0, mean, c)
        if spherical:
            c = F.normalize(c, dim=1)
    return c.float(), torch.cdist(x, c).argmin(1)


def nearest(z: torch.Tensor, book: torch.Tensor) -> torch.Tensor:
    """(B, d, h, w) vectors -> (B, h, w) indices of the nearest rows of ``book`` (K, d)."""
    flat = z.permute(0, 2, 3, 1).reshape(-1, z.shape[1])
    d = (flat**2).sum(1, keepdim=True) - 2 * flat @ book.t() + (book**2).sum(1)[None]
    return d.argmin(1).reshape(z.shape[0], *z.shape[2:])


def vectors(book: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """(B, h, w) indices -> (B, d, h, w) rows of ``book``."""
    return book[idx].permute(0, 3, 1, 2)


class VQ(LearnedModel):
    codec_id = "vq"
    Config = VQConfig
    stride = 16
    shipped = "float16 networks, codebook and ladder centroids (the prior made integer at load)"

    def __init__(self, cfg: VQConfig = VQConfig(), train_parts: bool = True):
        super().__init__(cfg)
        self.encoder, self.decoder, self.prior = encoder_net(cfg), decoder_net(cfg), prior_net(cfg)
        self.prior_bias = nn.Parameter(torch.zeros(cfg.codes))
        n = len(cfg.ladder)
        self.register_buffer("centroids", torch.zeros(n, max(cfg.ladder), cfg.dim))
        self.register_buffer("members", torch.zeros(n, cfg.codes, dtype=torch.long))
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))  # training steps taken
        self.register_buffer("book", torch.zeros(cfg.codes, cfg.dim), persistent=False)  # without a quantizer
        self.quantizer = self.disc = None
        if train_parts:
            from vector_quantize_pytorch import VectorQuantize

            self.quantizer = VectorQuantize(dim=cfg.dim, codebook_size=cfg.codes, decay=0.99, kmeans_init=True,
                                            threshold_ema_dead_code=2, commitment_weight=cfg.commitment,
                                            use_cosine_sim=True, accept_image_fmap=True)
            self.disc = discriminator()

    def weights_name(self, step: int) -> str:
        return f"vq-{self.cfg.codes}x{self.cfg.dim}-{step}.pt"

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Images -> unit code-space vectors (B, dim, H/16, W/16)."""
        return F.normalize(self.encoder(x), dim=1)

    @property
    def codebook(self) -> torch.Tensor:
        if self.quantizer is None:
            return self.book
        return F.normalize(self.quantizer.codebook.detach().reshape(self.cfg.codes, self.cfg.dim), dim=1)

    def usage(self) -> torch.Tensor:
        return self.quantizer._codebook.cluster_size.detach().reshape(-1)

    prepare_items = 32

    @torch.no_grad()
    def prepare(self, batch):
        """The codebook's k-means start from the encoder's vectors of 32 crops (2048 vectors)."""
        self.quantizer(self.embed(batch))

    @torch.no_grad()
    def recluster(self) -> None:
        book, use = self.codebook, self.usage()
        for i, k in enumerate(self.cfg.ladder):
            c, a = kmeans(book, use, k)
            self.centroids[i].zero_()
            self.centroids[i, :k] = c.to(self.centroids.device)
            self.members[i] = a.to(self.members.device)

    def level_book(self, level: int) -> torch.Tensor:
        """The codebook of ladder level ``level`` (len(ladder): the full codebook)."""
        if level == len(self.cfg.ladder):
            return self.codebook
        return self.centroids[level, :self.cfg.ladder[level]]

    def prior_logp(self, grid_vectors: torch.Tensor, known: torch.Tensor, level: int) -> torch.Tensor:
        """log p over the level's codes (B, K, h, w) of every position, given the known ones."""
        q = self.prior(torch.cat([grid_vectors * known, known], 1))
        logits = torch.einsum("bdhw,kd->bkhw", q, self.codebook) + self.prior_bias[None, :, None, None]
        logp = torch.log_softmax(logits, 1)
        if level == len(self.cfg.ladder):
            return logp
        k = self.cfg.ladder[level]
        p = torch.zeros(logp.shape[0], k, *logp.shape[2:], device=logp.device)
        p = p.index_add(1, self.members[level], logp.exp())
        return p.clamp_min(1e-30).log()

    def _masks(self, idx: torch.Tensor) -> torch.Tensor:
        """Known-position masks (B, 1, h, w): half the batch a coding pass (the earlier passes
        known), half a random fraction of the positions."""
        b, h, w = idx.shape
        passes = torch.from_numpy(pass_map(h, w)).to(idx.device)
        p = torch.randint(0, PASSES, (b, 1, 1), device=idx.device)
        coding = passes[None] < p
        random = torch.rand(b, h, w, device=idx.device) < torch.rand(b, 1, 1, device=idx.device)
        use_coding = (torch.arange(b, device=idx.device) % 2 == 0)[:, None, None]
        return torch.where(use_coding, coding, random)[:, None].float()

    def loss(self, batch):
        from pytorch_msssim import ms_ssim

        cfg = self.cfg
        if self.training:
            if self.steps % cfg.recluster_every == 0 and self.steps > 0:
                self.recluster()
            self.steps += 1
        z = self.embed(batch)
        zq, idx, commit = self.quantizer(z)
        level = len(cfg.ladder)
        if self.steps > cfg.recluster_every and torch.rand(()) < 0.5:  # a coarse level's centroids
            level = int(torch.randint(0, len(cfg.ladder), ()))
            idx = nearest(z.detach(), self.level_book(level))
            zq = z + (vectors(self.level_book(level), idx) - z).detach()
        x_hat = self.decoder(zq)
        l1 = (x_hat - batch).abs().mean()
        ssim = ms_ssim(x_hat.clamp(0, 1), batch, data_range=1.0, win_size=ssim_window(min(batch.shape[2:])))
        known = self._masks(idx)
        logp = self.prior_logp(vectors(self.level_book(level), idx).detach(), known, level)
        nll = -logp.gather(1, idx[:, None]).squeeze(1)
        unknown = 1 - known[:, 0]
        ce = (nll * unknown).sum() / unknown.sum().clamp_min(1)
        # the prior's own parameters take only this term; its small weight keeps it from filling
        # the shared gradient-norm clip (Adam's steps do not depend on it otherwise)
        loss = l1 + cfg.msssim * (1 - ssim) + commit.sum() + 0.1 * ce
        bits = ce.item() / math.log(2)  # per index (the unknown ones of the masks drawn)
        metrics = {"l1": l1.item(), "msssim": ssim.item(), "bits": bits, "bpp": bits / self.stride**2}
        if self.training and self.steps > cfg.gan_start:
            frozen = {n: p.detach() for n, p in self.disc.named_parameters()}
            g_adv = -torch.func.functional_call(self.disc, frozen, (x_hat,)).mean()
            d_loss = F.relu(1 - self.disc(batch)).mean() + F.relu(1 + self.disc(x_hat.detach())).mean()
            loss = loss + cfg.gan * g_adv + d_loss
            metrics["d"] = d_loss.item()
        return loss, metrics

    def coding_bits(self, idx: torch.Tensor, level: int) -> torch.Tensor:
        """Bits of coding ``idx`` (B, h, w) pass by pass under the prior, per image (B,)."""
        book, passes = self.level_book(level), torch.from_numpy(pass_map(*idx.shape[1:])).to(idx.device)
        bits = torch.zeros(idx.shape[0], device=idx.device)
        for p in range(PASSES):
            known = (passes < p).float()[None, None].expand(idx.shape[0], 1, -1, -1)
            nll = -self.prior_logp(vectors(book, idx), known, level).gather(1, idx[:, None])[:, 0]
            bits += (nll * (passes == p)).flatten(1).sum(1) / np.log(2)
        return bits

    @torch.no_grad()
    def validate(self, batch):
        """PSNR, MS-SSIM and the prior's bits per index (over log2 K) at the smallest, a middle
        and the full codebook."""
        from pytorch_msssim import ms_ssim

        out, z = {}, self.embed(batch)
        for level in (0, len(self.cfg.ladder) // 2, len(self.cfg.ladder)):
            if level < len(self.cfg.ladder) and not self.centroids[level].any():
                continue
            k = self.cfg.sizes[level]
            idx = nearest(z, self.level_book(level))
            x_hat = self.decoder(vectors(self.level_book(level), idx)).clamp(0, 1)
            out[f"K{k}_psnr"] = round(psnr_of_mse(((x_hat - batch) ** 2).mean().item()), 3)
            ssim = ms_ssim(x_hat, batch, data_range=1.0, win_size=ssim_window(min(batch.shape[2:])))
            out[f"K{k}_msssim"] = round(ssim.item(), 4)
            out[f"K{k}_bits"] = round(self.coding_bits(idx, level).sum().item() / idx.numel() / math.log2(k), 4)
        return out

    def export(self) -> dict[str, Any]:
        """fp16 networks, codebook and ladder centroids (every level's rows one after another,
        clustered afresh from the final codebook), int16 memberships, the prior's output bias
        in float32."""
        self.recluster()
        rows = torch.cat([self.level_book(i) for i in range(len(self.cfg.ladder))])
        return {"format": 1, "config": self.config_dict(),
                **{n: half_state(getattr(self, n)) for n in ("encoder", "decoder", "prior")},
                "prior_bias": self.prior_bias.detach().float().cpu(), "codebook": self.codebook.half().cpu(),
                "centroids": rows.half().cpu(), "members": self.members.to(torch.int16).cpu()}

    def load_artefact(self, art: dict[str, Any], strict: bool = True) -> None:
        for name in ("encoder", "decoder", "prior"):
            load_half(getattr(self, name), art[name])
        self.prior_bias.data.copy_(art["prior_bias"])
        self.centroids.zero_()
        for i, rows in enumerate(ladder_books(art)[:-1]):
            self.centroids[i, :len(rows)] = rows
        self.members.copy_(art["members"].long())
        self.book.copy_(art["codebook"].float())
        if self.quantizer is not None:
            self.quantizer._codebook.embed.data.copy_(art["codebook"].float().reshape_as(self.quantizer._codebook.embed))
            self.quantizer._codebook.initted.data.fill_(True)


def ladder_books(art: dict[str, Any]) -> list[torch.Tensor]:
    """An artefact's codebooks, smallest first (the ladder's centroids, then the full codebook),
    as stored (fp16); refuses a ladder that does not match the config."""
    cfg = VQConfig.from_dict(art["config"])
    shapes = tuple(art["centroids"].shape), tuple(art["codebook"].shape)
    if shapes != ((sum(cfg.ladder), cfg.dim), (cfg.codes, cfg.dim)):
        raise ValueError("the codebooks do not fit the config")
    return [*torch.split(art["centroids"], list(cfg.ladder)), art["codebook"]]
