"""The wavelet packet transform as a differentiable, exactly invertible torch filter bank.

A level splits every channel, along each of the ``dims`` last axes in turn (width first), into
a low and a high band with the analysis filters of a PyWavelets wavelet (default ``bior4.4``,
the CDF 9/7 pair of JPEG 2000), in periodization mode: a signal of even length N gives two
bands of N/2, and the synthesis filters invert it exactly (up to float rounding).  A packet
transform splits the high bands too, so ``levels`` levels turn (B, C, *S) into
(B, C·(2**dims)**levels, *S/2**levels): channels ordered (c, band), each band nested as
(level 1, level 2, ...), the same ordering as ``einops`` "(c f)" at each level.

    x ─► [split along W ─► split along H] × levels ─► X            (analysis)
    X ─► [merge along H ─► merge along W] × levels ─► x            (synthesis)

The coefficients equal ``pywt.dwt(x, wave, mode="periodization")`` band for band (tested); the
filter taps come from PyWavelets, the arithmetic is torch's, in polyphase form (a level is a
handful of shifted multiply-adds on contiguous even and odd samples: a 1-channel strided
convolution is 4x slower on a CPU), so the same code trains on a GPU and codes on a CPU, in
float32 or float64; element-wise, so its results do not depend on the thread count.  Sizes
must be multiples of 2**levels along the transformed axes (callers pad).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class WaveletPacket(nn.Module):
    def __init__(self, wave: str = "bior4.4", levels: int = 3, dims: int = 2):
        super().__init__()
        import pywt

        w = pywt.Wavelet(wave)
        taps = len(w.dec_lo)
        if taps % 2:
            raise ValueError(f"{wave}: odd filter length {taps}")
        self.levels, self.dims = levels, dims
        # Polyphase form, so that a level is a few shifted multiply-adds (a 1-channel strided
        # convolution is slow on a CPU).  Analysis, aligned with pywt's periodization:
        #   band[k] = Σ_j dec[taps-1-j] · x[(2k + j - taps/2 + 1) mod N],
        # i.e. terms (input phase, shift, coefficient) on x's even and odd samples.  Synthesis:
        #   x[2t + p] = Σ_j rec[taps-1-j] · up[(2t + p + j - taps/2) mod N], up = bands at even
        # samples, i.e. terms (band, shift, coefficient) per output parity p.
        dec = (w.dec_lo[::-1], w.dec_hi[::-1])
        rec = (w.rec_lo[::-1], w.rec_hi[::-1])
        self.analysis_terms = [[((j - taps // 2 + 1) % 2, (j - taps // 2 + 1) // 2, f[j])
                                for j in range(taps) if f[j]] for f in dec]
        self.synthesis_terms = [[(band, (p + j - taps // 2) // 2, rec[band][j])
                                 for band in (0, 1) for j in range(taps)
                                 if (p + j - taps // 2) % 2 == 0 and rec[band][j]] for p in (0, 1)]
        self.reach = max(abs(t[1]) for terms in self.analysis_terms + self.synthesis_terms for t in terms)
        # the same analysis as one compiled pass per split (``kernels.wavelets``), for inference
        # on a CPU: set by the codecs' inference models, never in training (no gradients)
        self.compiled = False
        self.filters = np.array([dec[0], dec[1]], np.float64)
        self.offset = 1 - taps // 2

    @property
    def bands(self) -> int:
        """Channels per input channel after the transform."""
        return (2**self.dims) ** self.levels

    @property
    def stride(self) -> int:
        return 2**self.levels

    def analysis(self, x: torch.Tensor) -> torch.Tensor:
        if self.compiled and self.dims == 2 and x.device.type == "cpu" and not torch.is_grad_enabled():
            return self._analysis_compiled(x)
        for _ in range(self.levels):
            for axis in range(x.dim() - 1, x.dim() - 1 - self.dims, -1):
                x = self._split(x, axis)
        return x

    def _analysis_compiled(self, x: torch.Tensor) -> torch.Tensor:
        """``analysis`` of images (B, C, H, W) by ``kernels.wavelets.split``, equal to float32
        rounding: one transpose, every split of the columns (W, then the middle axis), a second
        transpose, every split of the rows, then the bands (whole planes) into the order of
        ``analysis``, which alternates W and H splits per level (splits along different axes
        commute)."""
        from ..kernels import kernel

        b, c, h, w = x.shape
        split = kernel("wavelets", "split", size=x.numel())
        v = np.ascontiguousarray(x.float().reshape(b * c, h, w).numpy().transpose(0, 2, 1))  # (b·c, w, h)
        for columns_done in (False, True):
            for _ in range(self.levels):
                v = split(v, self.filters, self.offset)
                v = v.reshape(-1, v.shape[2], v.shape[3])
            if not columns_done:
                v = np.ascontiguousarray(v.transpose(0, 2, 1))  # (b·c·2^J, h, w / 2^J)
        j, s = self.levels, self.stride
        v = v.reshape(b * c, *[2] * (2 * j), h // s, w // s)  # bands (w1..wJ, h1..hJ)
        order = [0] + [a for level in range(j) for a in (1 + level, 1 + j + level)] + [2 * j + 1, 2 * j + 2]
        return torch.from_numpy(np.ascontiguousarray(v.transpose(order))).reshape(b, c * self.bands, h // s, w // s)

    def synthesis(self, x: torch.Tensor) -> torch.Tensor:
        for _ in range(self.levels):
            for axis in range(x.dim() - self.dims, x.dim()):
                x = self._merge(x, axis)
        return x

    def _split(self, x: torch.Tensor, axis: int) -> torch.Tensor:
        """(B, C, ...) -> (B, 2C, ...) with ``axis`` halved; channel order (c, band)."""
        b, c = x.shape[:2]
        xm = x.movedim(axis, -1)
        half = xm.shape[-1] // 2
        padded = _wrap(xm, 2 * self.reach)  # then its even and odd samples are the phases, wrapped
        phases = [padded[..., p::2].contiguous() for p in (0, 1)]
        y = x.new_empty(b, c, 2, *xm.shape[2:-1], half)
        for band, terms in enumerate(self.analysis_terms):
            self._sum(phases, terms, y[:, :, band])
        return y.reshape(b, 2 * c, *y.shape[3:]).movedim(-1, axis)

    def _merge(self, x: torch.Tensor, axis: int) -> torch.Tensor:
        """The inverse of ``_split``."""
        b, c2 = x.shape[:2]
        xm = x.movedim(axis, -1)
        xm = xm.reshape(b, c2 // 2, 2, *xm.shape[2:])
        half = xm.shape[-1]
        bands = [_wrap(xm[:, :, i], self.reach) for i in (0, 1)]
        y = x.new_empty(*bands[0].shape[:-1], half, 2)
        for parity, terms in enumerate(self.synthesis_terms):
            self._sum(bands, terms, y[..., parity])
        return y.reshape(*y.shape[:-2], 2 * half).movedim(-1, axis)

    def _sum(self, padded: list[torch.Tensor], terms, out: torch.Tensor) -> None:
        """out = Σ coef · padded[source] shifted by shift (out's length along the last axis)."""
        r, n = self.reach, out.shape[-1]
        (source, shift, coef), rest = terms[0], terms[1:]
        first = padded[source][..., r + shift: r + shift + n]
        tracked = torch.is_grad_enabled() and first.requires_grad  # out= is not differentiable
        acc = first * coef if tracked else torch.mul(first, coef, out=out)
        for source, shift, coef in rest:
            acc.add_(padded[source][..., r + shift: r + shift + n], alpha=coef)
        if tracked:
            out.copy_(acc)


def _wrap(x: torch.Tensor, pad: int) -> torch.Tensor:
    """Circular padding of the last axis by ``pad`` on both sides (any length, even shorter)."""
    n = x.shape[-1]
    if n >= pad:
        return torch.cat([x[..., n - pad:], x, x[..., :pad]], -1)
    return x.index_select(-1, torch.arange(-pad, n + pad, device=x.device) % n)
