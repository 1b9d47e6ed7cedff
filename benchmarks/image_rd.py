"""Rate-distortion on the 24 Kodak images: the learned codecs (hyperprior, walloc, mcquic) vs
JPEG (4:2:0, 4:4:4), WebP, AVIF and JPEG XL.

For every codec and quality: mean bpp of the actual .omc files (all header bytes included),
mean RGB PSNR, mean MS-SSIM, mean encode/decode seconds per image.  Then BD-rate (PSNR) of
each learned codec against each classical codec and the hyperprior (omnicodec.metrics.bd_rate),
kodim24's own curve per codec (McQuic's anchor: 25.97 dB at 0.126 bpp), the same for CompressAI's
published curves against published WebP as a sanity check, and an RD plot with CompressAI's
published Kodak points as reference lines.

    python benchmarks/image_rd.py [--kodak ../shared/data/images/kodak]
        -> benchmarks/results/image_rd.json, benchmarks/results/image_rd.png
    python benchmarks/image_rd.py --codecs mcquic,hyperprior,jpeg,webp,avif   # these re-measured
        in one run, the other curves kept from the last
    python benchmarks/image_rd.py --table     # README table from the JSON
    python benchmarks/image_rd.py --images DIR --name NAME   # another set (photos never trained
        on, e.g. ../shared/data/images/clic_or_other_test/CBSD68) -> results/image_rd_NAME.json, .png
    python benchmarks/image_rd.py --images ../shared/data/images/kodak --name mcquic \
        --codecs mcquic,hyperprior,jpeg,webp,avif   # McQuic's issue: its anchors in one run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"
REFERENCE = ROOT.parent / "shared" / "data" / "reference" / "kodak_published_rd.json"
QUALITIES = {
    "hyperprior": [0, 17, 33, 50, 67, 83, 100],
    "walloc": [0, 12.5, 24.9, 25, 37.5, 50, 62.5, 75, 87.5, 100],  # 16x model below 25, 4x from 25
    "walloc-rdoq": [0, 12.5, 24.9, 25, 37.5, 50, 62.5, 75, 87.5, 100],  # walloc with -O rdoq=true
    "mcquic": [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100],  # its 11 levels
    "jpeg": [10, 20, 30, 40, 50, 60, 70, 80, 90, 95],
    "jpeg444": [10, 20, 30, 40, 50, 60, 70, 80, 90, 95],
    "webp": [5, 15, 30, 45, 60, 75, 85, 95],
    "avif": [10, 25, 40, 55, 70, 80, 90],
    "jxl": [10, 25, 40, 55, 70, 80, 90, 95],
}
LEARNED = ("hyperprior", "walloc", "walloc-rdoq", "mcquic")
VARIANTS = {"walloc-rdoq": ("walloc", {"rdoq": True})}  # curve name -> codec id and options
ANCHOR_IMAGE = "kodim24"  # a per-image curve is kept for it (the McQuic paper's example)
PUBLISHED = ["bmshj2018-hyperprior", "mbt2018-mean", "cheng2020-anchor", "VTM", "WebP", "JPEG"]


def measure(curve: str, images: dict) -> list[dict]:
    """The curve's mean point over the images ({name: item}) at each of its qualities
    (omnicodec.bench's measure: the codec bench command's own numbers), with ANCHOR_IMAGE's own
    bpp and PSNR, and encode / decode megapixels per second (the mean image's pixels over the
    mean seconds).  A curve is a codec id or a VARIANTS name."""
    from omnicodec import bench

    points = []
    codec_id, options = VARIANTS.get(curve, (curve, None))
    megapixels = np.mean([item.pixels.shape[0] * item.pixels.shape[1] for item in images.values()]) / 1e6
    for q in QUALITIES[curve]:
        rows = {n: bench.measure(n, item, codec_id, q, options) for n, item in images.items()}
        failed = [r["error"] for r in rows.values() if "error" in r]
        if failed:
            raise RuntimeError(f"{curve} at quality {q}: {failed[0]}")
        m = {k: float(np.mean([r[k] for r in rows.values()])) for k in ("rate", "psnr", "ms_ssim", "enc_s", "dec_s")}
        points.append({"quality": q, "bpp": m["rate"], "psnr": m["psnr"], "ms_ssim": m["ms_ssim"],
                       "enc_s": m["enc_s"], "dec_s": m["dec_s"],
                       "enc_mp_s": megapixels / m["enc_s"], "dec_mp_s": megapixels / m["dec_s"]})
        if ANCHOR_IMAGE in rows:
            points[-1][ANCHOR_IMAGE] = {"bpp": rows[ANCHOR_IMAGE]["rate"], "psnr": rows[ANCHOR_IMAGE]["psnr"]}
        print(f"{curve:<10} q={q:<5} bpp={m['rate']:.3f} psnr={m['psnr']:.2f} ms-ssim={m['ms_ssim']:.4f} "
              f"enc={m['enc_s']:.2f}s dec={m['dec_s']:.2f}s", flush=True)
    return points


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}"


def envelope(points: list[dict]) -> list[dict]:
    """The points no other point beats (lower rate and higher PSNR), by rate: a codec with
    several models (walloc) is judged by the best of them at each rate."""
    kept = [p for p in points if not any(o["bpp"] <= p["bpp"] and o["psnr"] > p["psnr"] for o in points)]
    return sorted(kept, key=lambda p: p["bpp"])


def bd_table(curves: dict, published: dict) -> dict:
    from omnicodec.metrics import bd_rate

    def curve(pts):
        return [p["bpp"] for p in pts], [p["psnr"] for p in pts]

    out = {}
    for learned in LEARNED:
        if learned not in curves:
            continue
        hr, hp = curve(envelope(curves[learned]))
        variant_of = (VARIANTS[learned][0],) if learned in VARIANTS else ()
        for anchor in ("webp", "jpeg", "jpeg444", "avif", "jxl", "hyperprior", *variant_of):
            if anchor in curves and anchor != learned:
                try:
                    out[f"{learned} vs {anchor}"] = bd_rate(*curve(curves[anchor]), hr, hp)
                except ValueError as exc:
                    out[f"{learned} vs {anchor}"] = f"n/a: {exc}"
    if published:
        webp = np.array(published["WebP"])
        webp = webp[(webp[:, 0] > 0.05) & (webp[:, 0] < 2.0)]
        for name in ("bmshj2018-hyperprior", "mbt2018-mean", "cheng2020-anchor", "VTM"):
            pts = np.array(published[name])
            out[f"published {name} vs published WebP"] = bd_rate(webp[:, 0], webp[:, 1], pts[:, 0], pts[:, 1])
        if "webp" in curves:
            ours = curve(curves["webp"])
            out["our WebP (with .omc header) vs published WebP"] = bd_rate(webp[:, 0], webp[:, 1], *ours)
    return out


def plot(curves: dict, published: dict, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from omnicodec.bench import save_plot

    fig, ax = plt.subplots(figsize=(8, 6))
    for name in PUBLISHED:
        if name in published:
            pts = np.array(published[name])
            pts = pts[pts[:, 0] < 1.8]
            ax.plot(pts[:, 0], pts[:, 1], "--", lw=1, alpha=0.7, label=f"{name} (published)")
    for name, pts in curves.items():
        ax.plot([p["bpp"] for p in pts], [p["psnr"] for p in pts], "o-" if name in LEARNED else ".-",
                lw=2.5 if name in LEARNED else 1.5, label=f"{name} (omnicodec, .omc bytes)")
    ax.set_xlabel("bits per pixel")
    ax.set_ylabel("PSNR RGB (dB)")
    ax.set_xlim(0, 1.8)
    ax.set_ylim(22, 42)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(title)
    fig.tight_layout()
    save_plot(fig, path, 80)


def table() -> str:
    r = json.loads((RESULTS / "image_rd.json").read_text())
    lines = ["| codec | quality | bpp | PSNR dB | MS-SSIM | enc s | dec s |", "|---|---:|---:|---:|---:|---:|---:|"]
    for name, pts in r["curves"].items():
        for p in pts:
            lines.append(f"| {name} | {p['quality']} | {p['bpp']:.3f} | {p['psnr']:.2f} | {p['ms_ssim']:.4f} | "
                         f"{p['enc_s']:.2f} | {p['dec_s']:.2f} |")
    lines += ["", "| BD-rate (PSNR) | % |", "|---|---:|"]
    for k, v in r["bd_rate"].items():
        lines.append(f"| {k} | {v if isinstance(v, str) else f'{v:+.1f}'} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kodak", default=str(ROOT.parent / "shared" / "data" / "images" / "kodak"))
    ap.add_argument("--codecs", default=",".join(QUALITIES))
    ap.add_argument("--images", help="another folder of PNGs instead of Kodak (with --name)")
    ap.add_argument("--name", default="", help="results/image_rd_NAME.json and .png for --images")
    ap.add_argument("--table", action="store_true")
    args = ap.parse_args()
    if args.table:
        print(table())
        return
    from omnicodec.codecs import walloc
    from omnicodec.codecs.hyperprior import Hyperprior
    from omnicodec.codecs.learned import weights_dir
    from omnicodec.codecs.mcquic import McQuicCodec
    from omnicodec.datasets.files import read_item

    if args.images and not args.name:
        ap.error("--images needs --name")
    folder = Path(args.images or args.kodak)
    target = RESULTS / (f"image_rd_{args.name}.json" if args.images else "image_rd.json")
    images = {p.stem: read_item(p) for p in sorted(folder.glob("*.png"))}
    # curves not re-measured (--codecs names a subset) are kept from the last full run
    old = json.loads(target.read_text()) if target.exists() else {}
    curves = {**old.get("curves", {}), **{c: measure(c, images) for c in args.codecs.split(",")}}
    published = json.loads(REFERENCE.read_text())["bpp_psnr"] if REFERENCE.exists() and not args.images else {}
    manifest = json.loads((weights_dir() / "MANIFEST.json").read_text())
    weights = {name: {k: manifest[name].get(k) for k in ("sha256", "steps", "hardware", "date", "config")}
               for name in (Hyperprior.weights_file, walloc.WEIGHTS_16X, walloc.WEIGHTS_UPPER, McQuicCodec.weights_file)
               if name in manifest}
    command = "python benchmarks/image_rd.py" + (f" --images {folder} --name {args.name}" if args.images else "")
    out = {"machine": machine(), "command": command, "images": len(images), "folder": folder.name,
           "weights": weights,
           "curves": curves, "bd_rate": bd_table(curves, published)}
    target.write_text(json.dumps(out, indent=1) + "\n")
    plot(curves, published, target.with_suffix(".png"), f"{folder.name} ({len(images)} images)")
    print(json.dumps(out["bd_rate"], indent=1))


if __name__ == "__main__":
    main()
