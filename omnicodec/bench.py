"""``codec bench``: rate-distortion of codecs on the user's own files.

Each file is read as an item (image, sound or video), encoded by each codec at each quality,
decoded and compared: the rate counts the whole .omc file (bits per pixel for images, kbit/s
for sound and video), the distortion is PSNR (images: RGB at full scale; video: Y'CbCr weighted
6:1:1) or SNR (sound), with MS-SSIM for images where pytorch-msssim is installed.  BD-rates
(metrics.bd_rate) compare each codec against a reference codec on the same file; a plot draws
the curves, one panel per file.

On top of the public API (like ``latents`` and ``archive``): only the CLI imports it.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from . import api
from .errors import MissingDependencyError, OmnicodecError
from .items import Audio, Image, Item
from .metrics import bd_rate, item_psnr, rate

DEFAULT_CODECS = {"image": ("jpeg", "webp", "avif"), "audio": ("mp3", "vorbis", "opus"),
                  "video": ("x264", "x265", "svtav1")}
QUALITIES = (10.0, 30.0, 50.0, 70.0, 90.0)


def distortion(original: Item, decoded: Item) -> tuple[float, str]:
    """SNR in dB for sound (signal power over error power, all channels), else PSNR."""
    if isinstance(original, Audio):
        a = original.samples.astype(np.float64)
        err = float(np.sum((a - decoded.samples[:len(a)].astype(np.float64)) ** 2))
        return (math.inf if err == 0 else 10 * math.log10(float(np.sum(a * a)) / err)), "snr"
    return item_psnr(original, decoded), "psnr"


def ms_ssim(original: Item, decoded: Item) -> float | None:
    """MS-SSIM of two RGB images at full scale (None for other items, small images, or without
    pytorch-msssim)."""
    if not isinstance(original, Image) or original.mode != "RGB" or min(original.pixels.shape[:2]) < 161:
        return None
    try:
        import torch
        from pytorch_msssim import ms_ssim as f
    except ImportError:
        return None
    a, b = (torch.from_numpy(np.array(x.pixels)).permute(2, 0, 1)[None].float() for x in (original, decoded))
    return float(f(a, b, data_range=255.0))


def measure(name: str, item: Item, codec_id: str, quality: float, options: dict[str, Any] | None = None
            ) -> dict[str, Any]:
    """One point: encode (with the codec's ``options``, config or settings), decode and
    compare; an error is recorded in the row, not raised."""
    row: dict[str, Any] = {"file": name, "codec": codec_id, "quality": quality}
    try:
        codec = api.get_codec(codec_id, quality, **options) if options else codec_id
        t0 = time.perf_counter()
        blob = api.encode(item, codec, quality)
        t1 = time.perf_counter()
        decoded = api.decode(blob)
        t2 = time.perf_counter()
    except OmnicodecError as exc:
        return {**row, "error": str(exc)}
    value, unit = rate(item, len(blob))
    dist, metric = distortion(item, decoded)
    return {**row, "bytes": len(blob), "rate": value, "rate_unit": unit, metric: dist,
            "ms_ssim": ms_ssim(item, decoded), "enc_s": t1 - t0, "dec_s": t2 - t1}


def bd_rates(rows: list[dict[str, Any]], reference: str) -> dict[str, dict[str, float | str]]:
    """Per file, each codec's BD-rate (percent, on the PSNR or SNR curve) against ``reference``."""
    out: dict[str, dict[str, float | str]] = {}
    for name in dict.fromkeys(r["file"] for r in rows):
        curves: dict[str, tuple[list[float], list[float]]] = {}
        for r in rows:
            if r["file"] == name and "error" not in r and math.isfinite(r.get("psnr", r.get("snr", math.inf))):
                rates, dists = curves.setdefault(r["codec"], ([], []))
                rates.append(r["rate"])
                dists.append(r.get("psnr", r.get("snr")))
        if reference not in curves:
            continue
        for codec_id, curve in curves.items():
            if codec_id != reference:
                try:
                    out.setdefault(name, {})[codec_id] = bd_rate(*curves[reference], *curve)
                except ValueError as exc:
                    out.setdefault(name, {})[codec_id] = f"n/a: {exc}"
    return out


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    """The rate-distortion curves, one panel per file, as a PNG."""
    try:
        import matplotlib
    except ImportError:
        raise MissingDependencyError("the RD plot needs matplotlib: pip install 'omnicodec[bench]', "
                                     "or --plot - for none") from None

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(r["file"] for r in rows))
    fig, axes = plt.subplots(1, len(names), figsize=(6 * len(names), 4.5), squeeze=False)
    for ax, name in zip(axes[0], names):
        done = [r for r in rows if r["file"] == name and "error" not in r]
        for codec_id in dict.fromkeys(r["codec"] for r in done):
            pts = sorted((r["rate"], r.get("psnr", r.get("snr"))) for r in done if r["codec"] == codec_id)
            ax.plot(*zip(*pts), "o-", label=codec_id)
        if done:
            ax.set_xlabel(done[0]["rate_unit"] + " (whole .omc file)")
            ax.set_ylabel(("PSNR" if "psnr" in done[0] else "SNR") + " (dB)")
        ax.set_title(Path(name).name)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    save_plot(fig, path, 100)
    plt.close(fig)


def save_plot(fig, path: Path, dpi: int) -> None:
    """A matplotlib figure as a PNG of 64 palette colours (a quarter of the RGBA file: plots
    are committed, and their lines and text need no more)."""
    import io

    from PIL import Image as PILImage

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    buf.seek(0)
    with PILImage.open(buf) as im:
        im.convert("RGB").quantize(colors=64, method=PILImage.Quantize.MEDIANCUT).save(path, optimize=True)


def table(rows: list[dict[str, Any]]) -> list[str]:
    """The rows as aligned text lines."""
    lines = [f"{'file':<24} {'codec':<11} {'q':>5} {'bytes':>9} {'rate':>10} {'unit':<6} {'dB':>7} "
             f"{'MS-SSIM':>8} {'enc s':>6} {'dec s':>6}"]
    for r in rows:
        head = f"{Path(r['file']).name[:24]:<24} {r['codec']:<11} {r['quality']:>5g}"
        if "error" in r:
            lines.append(f"{head}  error: {r['error']}")
            continue
        ssim = f"{r['ms_ssim']:.4f}" if r["ms_ssim"] is not None else "-"
        lines.append(f"{head} {r['bytes']:>9} {r['rate']:>10.4g} {r['rate_unit']:<6} "
                     f"{r.get('psnr', r.get('snr')):>7.2f} {ssim:>8} {r['enc_s']:>6.2f} {r['dec_s']:>6.2f}")
    return lines
