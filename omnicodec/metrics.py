"""Distortion measures between an original item and its reconstruction."""

from __future__ import annotations

import math

import numpy as np

from .items import Audio, Image, Item, Video


def psnr(a: np.ndarray, b: np.ndarray, peak: float) -> float:
    """Peak signal-to-noise ratio in dB (inf when identical)."""
    n = min(len(a), len(b))
    return psnr_of_mse(float(np.mean((a[:n].astype(np.float64) - b[:n].astype(np.float64)) ** 2)), peak)


def psnr_of_mse(mse: float, peak: float = 1.0) -> float:
    """PSNR in dB of a mean squared error (inf for 0); ``peak`` 1 for signals in [0, 1]."""
    return math.inf if mse == 0 else 10.0 * math.log10(peak * peak / mse)


def item_psnr(original: Item, decoded: Item) -> float:
    """PSNR on the item's natural representation: image pixels (all channels), audio samples
    (full scale of the stored type), video Y'CbCr planes weighted 6:1:1 as in codec reports."""
    if isinstance(original, Image):
        peak = 65535.0 if original.mode == "I;16" else 255.0
        return psnr(original.pixels, decoded.pixels, peak)
    if isinstance(original, Audio):
        a, b = original.samples, decoded.samples
        peak = 1.0 if a.dtype.kind == "f" else float(np.iinfo(a.dtype).max)
        return psnr(a, b, peak)
    if isinstance(original, Video):
        mses = [np.mean((p.astype(np.float64) - q) ** 2) for p, q in zip(original.planes, decoded.planes)]
        return psnr_of_mse((6 * mses[0] + mses[1] + mses[2]) / 8, 255.0)
    return math.inf if original == decoded else 0.0


def rate(item: Item, compressed_bytes: int) -> tuple[float, str]:
    """The natural rate unit: bits per pixel (image), kbit/s (audio, video), bits per byte."""
    bits = 8.0 * compressed_bytes
    if isinstance(item, Image):
        h, w = item.pixels.shape[:2]
        return bits / (h * w), "bpp"
    if isinstance(item, (Audio, Video)):
        return bits / item.seconds / 1000.0, "kbit/s"
    return bits / max(len(item.data), 1), "bits/B"


def bd_rate(rate_a, psnr_a, rate_b, psnr_b) -> float:
    """Bjøntegaard delta rate (VCEG-M33) of curve B against anchor A, in percent: the average
    rate difference at equal PSNR over the overlapping PSNR interval (negative: B needs fewer
    bits).  log(rate) is fitted as a cubic in PSNR for each curve, as in the original method."""
    ra, pa, rb, pb = (np.asarray(v, dtype=np.float64) for v in (rate_a, psnr_a, rate_b, psnr_b))
    if min(ra.size, rb.size) < 4:
        raise ValueError("BD-rate needs at least 4 points per curve")
    lo, hi = max(pa.min(), pb.min()), min(pa.max(), pb.max())
    if lo >= hi:
        raise ValueError("the curves do not overlap in PSNR")
    fit_a = np.polyint(np.polyfit(pa, np.log(ra), 3))
    fit_b = np.polyint(np.polyfit(pb, np.log(rb), 3))
    avg_a = (np.polyval(fit_a, hi) - np.polyval(fit_a, lo)) / (hi - lo)
    avg_b = (np.polyval(fit_b, hi) - np.polyval(fit_b, lo)) / (hi - lo)
    return float((np.exp(avg_b - avg_a) - 1.0) * 100.0)
