"""McQuic: multi-codebook quantization at two cascaded scales with a Gaussian-mixture prior whose
means are the codewords (after Zhu, Yang and Cohen, "Unified Multivariate Gaussian Mixture for
Efficient Neural Image Compression", CVPR 2022; our own code).

    x ─analysis (4 stride-2 convs)─► z (width, H/16, W/16) ─down (stride 2)─► z' (H/32, W/32)
    z' ─ coarse codebooks (one per group of channels) ─► coarse indices ─► codewords c'
    c' ─context net (integer at coding time)─► prediction p, mixture location f, log-scale s (H/16)
    z - p ─ fine codebooks (ladder level K) ─► fine indices ─► codewords c ─► ẑ = p + c
    ẑ ─synthesis (3 nearest-neighbour upsamplings, a sub-pixel conv)─► x̂

Multi-codebook quantization: the ``width`` channels are cut into groups, each quantized against
its own codebook (EMA updates, k-means initialisation and dead-code replacement through
``vector_quantize_pytorch``, training only), so a position costs ``groups`` indices of
log2 K bits at most instead of one index into a codebook of K**groups.

The prior: the coarse indices have per-group code frequencies (the mixture weights); the fine
indices of group g at a position have

    p(k) ∝ π_gk · exp(-‖f_g - c_gk‖² / (2 σ_g²)),  σ_g = exp(s_g)

a Gaussian mixture over the residual's space whose means are the codewords, its location and
scale predicted from the coarse level.  The paper's released model codes every index with the
frequencies alone; the cascade order here (coarse first, the fine level coding the residual of
the coarse prediction) makes the coarse level context for the fine one.  No autoregression: each
level is coded in one parallel pass.

Rate control: the fine codebooks are clustered into a ladder of smaller codebooks (per group,
weighted by code usage, as ``models.vq`` does for its single codebook) and the fine level can
be left out altogether (level 0: ẑ = p).  From ``ladder_from`` on, half the training steps
quantize the residual to a random level, so one decoder serves every rate (from the start, the
lower levels' errors stalled the young model at about 12 dB).  A ladder level's mixture weights
are the sums of its members' weights.  The prediction p learns from its own squared error to the
latent (the straight-through sum p + (z - p) gives it no gradient from the image).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..metrics import psnr_of_mse
from .base import LearnedModel, TupleConfig, half_state, load_half
from .vq import analysis_net, kmeans, synthesis_net


@dataclass(frozen=True)
class McQuicConfig(TupleConfig):
    width: int = 128  # latent channels at both scales
    groups: tuple[int, int] = (8, 16)  # codebooks at the coarse (H/32) and fine (H/16) scale
    codes: tuple[int, int] = (256, 1024)  # codewords per codebook at each scale
    ladder: tuple[int, ...] = (2, 4, 8, 16, 32, 64, 128, 256, 512)  # fine codebooks below the full one
    encoder: tuple[int, ...] = (32, 64, 96, 128)  # widths after each stride-2 conv
    decoder: tuple[int, ...] = (128, 64, 32, 16)  # the bottom width, then after each upsampling (a fifth
    # of the hyperprior's synthesis in multiply-adds per pixel: the decode-time budget)
    context: int = 128  # context net width
    recluster_every: int = 250
    ladder_share: float = 0.5  # training steps that quantize to a random lower level, from ladder_from:
    ladder_from: int = 2500  # before it the lower levels' large errors stall the young model (measured)
    commitment: float = 0.25
    # a code whose usage (an EMA of its assignments a step) falls below this is re-seeded from
    # the batch (with 1024 codes a group and 512 positions a batch, 2, the shipped model's,
    # re-seeds most codes every step, so no code keeps a frequency and the priors learn
    # nothing; 0.05 coded 7% fewer bits by step 1500, measured 2026-12-06)
    dead_code: float = 0.05
    # subtracted from the image before the analysis, added to the synthesis' output (0.5: a
    # plain autoencoder of these nets reached 17.8 dB after 600 steps, 15.5 dB uncentred)
    centre: float = 0.0
    predict: float = 0.25  # weight of the prediction's squared error from the latent
    distortion: float = 1000.0  # weight of the MSE (images in [0, 1])
    prior_weight: float = 0.1  # weight of the priors' cross-entropy (nats per index)

    @property
    def sizes(self) -> tuple[int, ...]:
        """The fine codebook size of every quality level: 0 (no fine level), the ladder, the full."""
        return (0, *self.ladder, self.codes[1])

    def dims(self, scale: int) -> int:
        return self.width // self.groups[scale]


def down_net(cfg: McQuicConfig) -> nn.Sequential:
    w = cfg.width
    return nn.Sequential(nn.Conv2d(w, w, 3, 2, 1), nn.SiLU(), nn.Conv2d(w, w, 3, 1, 1))


def image_nets(cfg: McQuicConfig) -> tuple[nn.Sequential, nn.Sequential]:
    """The analysis and synthesis nets, centred by ``cfg.centre`` (forward hooks: the weights'
    names stay those of uncentred models)."""
    encoder, decoder = analysis_net(cfg.encoder, cfg.width), synthesis_net(cfg.width, cfg.decoder)
    if cfg.centre:
        encoder.register_forward_pre_hook(lambda _, args: (args[0] - cfg.centre, *args[1:]))
        decoder.register_forward_hook(lambda _, args, out: out + cfg.centre)
    return encoder, decoder


def context_net(cfg: McQuicConfig) -> nn.Sequential:
    """Coarse codewords (width, h, w) -> prediction, location and log-scale (2 width + fine
    groups, 2h, 2w): convs and ReLUs only, so that it runs as an exact ``IntegerNet``."""
    c, w = cfg.context, cfg.width
    return nn.Sequential(nn.Conv2d(w, c, 3, 1, 1), nn.ReLU(), nn.Conv2d(c, c, 3, 1, 1), nn.ReLU(),
                         nn.ConvTranspose2d(c, 2 * w + cfg.groups[1], 2, 2))


def split_context(out: torch.Tensor, cfg: McQuicConfig):
    """The context net's output -> (prediction (B, width, h, w), location (B, G, d, h, w),
    log-scale (B, G, h, w))."""
    w, g = cfg.width, cfg.groups[1]
    pred, loc, s = out[:, :w], out[:, w:2 * w], out[:, 2 * w:]
    return pred, loc.reshape(out.shape[0], g, w // g, *out.shape[2:]), s.clamp(-8, 8)


def grouped_nearest(z: torch.Tensor, books: torch.Tensor) -> torch.Tensor:
    """(B, G·d, h, w) vectors -> (B, G, h, w) indices of the nearest codeword of each group's
    book (``books`` (G, K, d))."""
    b, _, h, w = z.shape
    g, _, d = books.shape
    x = z.reshape(b, g, d, h * w).permute(1, 0, 3, 2).reshape(g, -1, d)  # (G, B·hw, d)
    dist = (x**2).sum(-1, keepdim=True) - 2 * x @ books.transpose(1, 2) + (books**2).sum(-1)[:, None]
    return dist.argmin(-1).reshape(g, b, h, w).permute(1, 0, 2, 3)


def grouped_vectors(books: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """(B, G, h, w) indices -> (B, G·d, h, w) codewords."""
    b, g, h, w = idx.shape
    rows = books[torch.arange(g, device=idx.device)[None, :, None, None], idx]  # (B, G, h, w, d)
    return rows.permute(0, 1, 4, 2, 3).reshape(b, -1, h, w)


def mixture_logp(loc: torch.Tensor, s: torch.Tensor, books: torch.Tensor, log_pi: torch.Tensor):
    """log p (B, G, K, h, w) of each fine codeword under the mixture: ``loc`` (B, G, d, h, w),
    ``s`` (B, G, h, w), ``books`` (G, K, d), ``log_pi`` (G, K)."""
    d2 = ((loc**2).sum(2)[:, :, None] - 2 * torch.einsum("bgdhw,gkd->bgkhw", loc, books)
          + (books**2).sum(-1)[None, :, :, None, None])  # (B, G, K, h, w)
    logits = log_pi[None, :, :, None, None] - d2 * torch.exp(-2 * s)[:, :, None] / 2
    return torch.log_softmax(logits, 2)


GAIN = 10.0  # the mixture weights' and scale offsets' parameters are this times their values:
# Adam moves a parameter by about lr a step, and these need to travel several units in a short run


class McQuic(LearnedModel):
    codec_id = "mcquic"
    Config = McQuicConfig
    stride = 32
    shipped = "float16 networks and codebooks, float32 mixture weights (the context net made integer at load)"

    def __init__(self, cfg: McQuicConfig = McQuicConfig(), train_parts: bool = True):
        super().__init__(cfg)
        (self.encoder, self.decoder), self.down, self.context = image_nets(cfg), down_net(cfg), context_net(cfg)
        self.coarse_logits = nn.Parameter(torch.zeros(cfg.groups[0], cfg.codes[0]))
        self.fine_logits = nn.Parameter(torch.zeros(cfg.groups[1], cfg.codes[1]))
        self.scale_offset = nn.Parameter(torch.zeros(cfg.groups[1]))  # folded into the context net at export
        n, g, d = len(cfg.ladder), cfg.groups[1], cfg.dims(1)
        self.register_buffer("centroids", torch.zeros(n, g, max(cfg.ladder), d))
        self.register_buffer("members", torch.zeros(n, g, cfg.codes[1], dtype=torch.long))
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))
        # the codebooks when there is no quantizer (loaded weights)
        self.register_buffer("coarse_book", torch.zeros(cfg.groups[0], cfg.codes[0], cfg.dims(0)), persistent=False)
        self.register_buffer("fine_book", torch.zeros(g, cfg.codes[1], d), persistent=False)
        self.quantizers = None
        if train_parts:
            from vector_quantize_pytorch import VectorQuantize

            self.quantizers = nn.ModuleList(
                VectorQuantize(dim=cfg.width, codebook_size=cfg.codes[i], heads=cfg.groups[i],
                               separate_codebook_per_head=True, codebook_dim=cfg.dims(i), decay=0.99,
                               kmeans_init=True, threshold_ema_dead_code=cfg.dead_code,
                               commitment_weight=cfg.commitment,
                               accept_image_fmap=True)
                for i in (0, 1))

    def weights_name(self, step: int) -> str:
        return f"mcquic-{self.cfg.groups[1]}x{self.cfg.codes[1]}-{step}.pt"

    def books(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The coarse (G, K, d) and full fine codebooks."""
        if self.quantizers is None:
            return self.coarse_book, self.fine_book
        return tuple(q.codebook.detach() for q in self.quantizers)

    def level_book(self, level: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Quality level ``level`` (1..len(ladder)+1)'s fine codebooks (G, K, d) and their
        mixture log-weights (G, K)."""
        log_pi = torch.log_softmax(GAIN * self.fine_logits, 1)
        if level == len(self.cfg.ladder) + 1:
            return self.books()[1], log_pi
        i, k = level - 1, self.cfg.ladder[level - 1]
        sums = torch.zeros(log_pi.shape[0], k, device=log_pi.device).scatter_add(1, self.members[i], log_pi.exp())
        return self.centroids[i, :, :k], sums.clamp_min(1e-30).log()

    prepare_items = 32

    @torch.no_grad()
    def prepare(self, batch):
        """The codebooks' k-means start from the latents of 32 crops."""
        self.forward_codes(batch)

    @torch.no_grad()
    def recluster(self) -> None:
        book = self.books()[1]
        use = self.quantizers[1]._codebook.cluster_size.detach()
        for i, k in enumerate(self.cfg.ladder):
            self.centroids[i].zero_()
            for g in range(book.shape[0]):
                c, a = kmeans(book[g], use[g], k, spherical=False, seed=g)
                self.centroids[i, g, :k] = c.to(self.centroids.device)
                self.members[i, g] = a.to(self.members.device)

    def coarse_log_pi(self) -> torch.Tensor:
        return torch.log_softmax(GAIN * self.coarse_logits, 1)

    def context_of(self, cq: torch.Tensor):
        """Coarse codewords -> (prediction, location, log-scale)."""
        pred, loc, s = split_context(self.context(cq), self.cfg)
        return pred, loc, s + GAIN * self.scale_offset[None, :, None, None]

    def forward_codes(self, x: torch.Tensor):
        """Training's quantization: (coarse codewords, coarse indices, prediction, location,
        log-scale, residual, fine codewords (straight-through), fine indices, commitment)."""
        z = self.encoder(x)
        cq, ci, c_commit = self.quantizers[0](self.down(z))
        pred, loc, s = self.context_of(cq)
        r = z - pred
        fq, fi, f_commit = self.quantizers[1](r)
        return cq, ci.permute(0, 3, 1, 2), pred, loc, s, r, fq, fi.permute(0, 3, 1, 2), c_commit + f_commit

    def loss(self, batch):
        cfg = self.cfg
        if self.training:
            if self.steps % cfg.recluster_every == 0 and self.steps > 0:
                self.recluster()
            self.steps += 1
        cq, ci, pred, loc, s, r, fq, fi, commit = self.forward_codes(batch)
        level = len(cfg.ladder) + 1
        if self.steps > max(cfg.recluster_every, cfg.ladder_from) and torch.rand(()) < cfg.ladder_share:
            level = int(torch.randint(0, len(cfg.ladder) + 1, ()))
            if level == 0:
                fq = torch.zeros_like(r)
            else:
                book = self.level_book(level)[0]
                fi = grouped_nearest(r.detach(), book)
                fq = r + (grouped_vectors(book, fi) - r).detach()
        x_hat = self.decoder(pred + fq)
        mse = ((x_hat - batch) ** 2).mean()
        # the prediction gets no gradient through the straight-through sum pred + (r + const):
        # it learns to predict the latent, which keeps the residual small and its codebooks valid
        predict = ((pred - (r + pred).detach()) ** 2).mean()
        coarse_nll = -self.coarse_log_pi()[torch.arange(cfg.groups[0])[None, :, None, None], ci]
        bits = coarse_nll.sum() / math.log(2)
        ce = coarse_nll.mean()
        if level > 0:
            book, log_pi = self.level_book(level)
            logp = mixture_logp(loc, s, book.detach(), log_pi)
            fine_nll = -logp.gather(2, fi[:, :, None]).squeeze(2)
            bits = bits + fine_nll.sum() / math.log(2)
            ce = ce + fine_nll.mean()
        loss = cfg.distortion * mse + commit.sum() + cfg.predict * predict + cfg.prior_weight * ce
        bpp = bits.item() / batch.shape[0] / (batch.shape[2] * batch.shape[3])
        return loss, {"mse": mse.item(), "psnr": psnr_of_mse(mse.item()), "bpp": bpp, "level": level}

    @torch.no_grad()
    def validate(self, batch):
        """PSNR and the priors' bits per pixel at no fine level, a middle and the full one."""
        out = {}
        z = self.encoder(batch)
        coarse, fine = self.books()
        ci = grouped_nearest(self.down(z), coarse)
        cq = grouped_vectors(coarse, ci)
        pred, loc, s = self.context_of(cq)
        groups = torch.arange(self.cfg.groups[0])[None, :, None, None]
        coarse_bits = -self.coarse_log_pi()[groups, ci].sum() / math.log(2)
        pixels = batch.shape[0] * batch.shape[2] * batch.shape[3]
        for level in (0, (len(self.cfg.ladder) + 1) // 2, len(self.cfg.ladder) + 1):
            if 0 < level <= len(self.cfg.ladder) and not self.centroids[level - 1].any():
                continue
            bits, z_hat = coarse_bits, pred
            if level:
                book, log_pi = self.level_book(level)
                fi = grouped_nearest(z - pred, book)
                z_hat = pred + grouped_vectors(book, fi)
                bits = bits - mixture_logp(loc, s, book, log_pi).gather(2, fi[:, :, None]).sum() / math.log(2)
            mse = ((self.decoder(z_hat).clamp(0, 1) - batch) ** 2).mean().item()
            k = self.cfg.sizes[level]
            out[f"K{k}_psnr"] = round(psnr_of_mse(mse), 3)
            out[f"K{k}_bpp"] = round(bits.item() / pixels, 4)
        return out

    def export(self) -> dict[str, Any]:
        """fp16 networks (the scale offsets folded into the context net's output bias) and
        codebooks (the ladder's centroids clustered afresh from the final codebooks, every
        level's rows one after another per group), int16 memberships, the mixture weights'
        logits in float32."""
        self.recluster()
        coarse, fine = self.books()
        rows = torch.cat([self.centroids[i, :, :k] for i, k in enumerate(self.cfg.ladder)], 1)
        context = {k: v.detach().clone() for k, v in self.context.state_dict().items()}
        last = f"{len(self.context) - 1}.bias"
        context[last][2 * self.cfg.width:] += GAIN * self.scale_offset.detach()
        return {"format": 1, "config": self.config_dict(),
                **{n: half_state(getattr(self, n)) for n in ("encoder", "down", "decoder")},
                "context": {k: v.half().cpu() for k, v in context.items()},
                "coarse_logits": (GAIN * self.coarse_logits).detach().float().cpu(),
                "fine_logits": (GAIN * self.fine_logits).detach().float().cpu(),
                "coarse_book": coarse.half().cpu(), "fine_book": fine.half().cpu(),
                "centroids": rows.half().cpu(), "members": self.members.to(torch.int16).cpu()}

    def load_artefact(self, art: dict[str, Any], strict: bool = True) -> None:
        for name in ("encoder", "down", "context", "decoder"):
            load_half(getattr(self, name), art[name])
        self.coarse_logits.data.copy_(art["coarse_logits"] / GAIN)
        self.fine_logits.data.copy_(art["fine_logits"] / GAIN)
        self.scale_offset.data.zero_()
        books = ladder_books(art)
        self.centroids.zero_()
        for i, rows in enumerate(books[:-1]):
            self.centroids[i, :, :rows.shape[1]] = rows
        self.members.copy_(art["members"].long())
        self.coarse_book.copy_(art["coarse_book"].float())
        self.fine_book.copy_(art["fine_book"].float())
        if self.quantizers is not None:
            for q, book in zip(self.quantizers, (self.coarse_book, self.fine_book)):
                q._codebook.embed.data.copy_(book.reshape_as(q._codebook.embed))
                q._codebook.initted.data.fill_(True)


def ladder_books(art: dict[str, Any]) -> list[torch.Tensor]:
    """An artefact's fine codebooks (G, K, d) smallest first, the full one last, as stored
    (fp16); refuses codebooks that do not match the config."""
    cfg = McQuicConfig.from_dict(art["config"])
    g, d = cfg.groups[1], cfg.dims(1)
    shapes = tuple(art["centroids"].shape), tuple(art["fine_book"].shape), tuple(art["coarse_book"].shape)
    if shapes != ((g, sum(cfg.ladder), d), (g, cfg.codes[1], d), (cfg.groups[0], cfg.codes[0], cfg.dims(0))) \
            or tuple(art["members"].shape) != (len(cfg.ladder), g, cfg.codes[1]):
        raise ValueError("the codebooks do not fit the config")
    return [*torch.split(art["centroids"], list(cfg.ladder), dim=1), art["fine_book"]]
