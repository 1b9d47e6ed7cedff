"""Extreme low rates (about 0.01-0.05 bpp): vq against the strongest classical answer there,
downscale (x4, x8, x16, Lanczos) + AVIF or WebP at low quality + Lanczos upscale, the best
configuration at each rate, and the hyperprior at its lowest rate.

For every vq level (K = 8 .. 1024), mean over the images of: bpp of the whole .omc file, RGB PSNR,
MS-SSIM (pytorch-msssim, 11-px window, on the full image), sharpness (mean luma gradient magnitude
of the decode over the original's: 1 is as sharp, blur is below 1), and bits per index of the
learned prior (payload bits less the lane framing, per index) against log2 K.  For the classical
anchors every (scale, codec, quality) configuration is measured the same way (bpp of the whole
.omc file of the small image, metrics on the upscaled decode); "best at equal rate" is the
configuration of highest MS-SSIM whose mean bpp is at most vq's.  Lost indices: 5, 10 and 20%
of the full codebook's indices of each image dropped at random (seeded), restored by the prior
(``Inference.repair``), and the MS-SSIM of that decode against the intact one's.

    python benchmarks/vq_extreme.py [--images ../shared/data/images/kodak] [--name kodak]
        -> benchmarks/results/vq_extreme_NAME.json (and .png: the RD plot of the range)
    python benchmarks/vq_extreme.py --images ../shared/data/images/clic_or_other_test --name other --limit 12
    python benchmarks/vq_extreme.py --table     # the README table from the JSONs
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"
SCALES = (4, 8, 16)
ANCHORS = {"avif": (0, 10, 20, 35, 50, 70), "webp": (0, 10, 20, 35, 50, 70)}
LOST = (0.05, 0.10, 0.20)


def sharpness(ref: np.ndarray, rec: np.ndarray) -> float:
    def grad(a):
        y = a.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
        return np.hypot(np.diff(y, axis=0)[:, :-1], np.diff(y, axis=1)[:-1]).mean()

    return float(grad(rec) / max(grad(ref), 1e-9))


def metrics(item, pixels: np.ndarray, nbytes: int) -> dict:
    from omnicodec import Image, bench
    from omnicodec.metrics import item_psnr

    rec = Image(np.ascontiguousarray(pixels), "RGB")
    h, w = item.pixels.shape[:2]
    return {"bpp": nbytes * 8 / (h * w), "psnr": item_psnr(item, rec), "ms_ssim": bench.ms_ssim(item, rec),
            "sharpness": sharpness(item.pixels, pixels)}


def lanczos(a: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    from PIL import Image as PILImage

    return np.asarray(PILImage.fromarray(a).resize(size, PILImage.LANCZOS))


def vq_points(item, levels: int) -> list[dict]:
    import omnicodec
    from omnicodec import container
    from omnicodec.codecs.vq import VQCodec

    out = []
    for level in range(levels):
        q = 100 * level / (levels - 1)
        t = time.perf_counter()
        blob = omnicodec.encode(item, "vq", q)
        t_enc = time.perf_counter() - t
        t = time.perf_counter()
        dec = omnicodec.decode(blob)
        t_dec = time.perf_counter() - t
        codec = VQCodec(quality=q)
        model = codec.model()
        k = model.sizes(codec.level(model))
        h, w = item.pixels.shape[:2]
        tiles = [v for tag, v in container.unpack(blob).sections.items() if tag[0] == "I"]
        bits = (sum(len(v) for v in tiles) - 16 * len(tiles)) * 8 / (-(-h // 16) * -(-w // 16))
        out.append({"quality": q, "K": k, **metrics(item, dec.pixels, len(blob)), "bits_per_index": bits,
                    "of_log2K": bits / np.log2(k), "enc_s": t_enc, "dec_s": t_dec})
    return out


def lost_points(item, quality: float, rng) -> dict:
    from omnicodec import Image, bench
    from omnicodec.codecs.vq import VQCodec

    codec = VQCodec(quality=quality)
    model = codec.model()
    level = codec.level(model)
    h, w = item.pixels.shape[:2]
    from omnicodec.models.vq import nearest

    idx = model.indices(model.analyse(item.pixels), level)
    intact = Image(np.ascontiguousarray(model.synthesize(model.vectors(idx, level))[:h, :w]), "RGB")
    out = {"K": model.sizes(level), "intact": bench.ms_ssim(item, intact)}
    for frac in LOST:
        known = rng.random(idx.shape) >= frac
        fixed = model.repair(np.where(known, idx, 0), known, level)  # code vectors, the lost ones blends
        rec = Image(np.ascontiguousarray(model.synthesize(fixed)[:h, :w]), "RGB")
        out[f"lost{round(frac * 100)}"] = bench.ms_ssim(item, rec)
        # how often the code nearest to a restored vector is the lost one
        out[f"lost{round(frac * 100)}_exact"] = float((nearest(fixed, model.books[level])[0].numpy()[~known]
                                                       == idx[~known]).mean())
    return out


def anchor_points(item) -> list[dict]:
    import omnicodec

    h, w = item.pixels.shape[:2]
    out = []
    for scale in SCALES:
        small = omnicodec.Image(lanczos(item.pixels, (max(1, round(w / scale)), max(1, round(h / scale)))), "RGB")
        for codec, qualities in ANCHORS.items():
            for q in qualities:
                blob = omnicodec.encode(small, codec, q)
                up = lanczos(omnicodec.decode(blob).pixels, (w, h))
                out.append({"config": f"x{scale} {codec} q{q}", **metrics(item, up, len(blob))})
    return out


def mean_rows(rows: list[list[dict]], key: str) -> list[dict]:
    """Per configuration (the ``key`` field), the mean of every number over the images."""
    out = []
    for group in zip(*rows):
        first = group[0]
        out.append({k: (first[k] if k in (key, "K") or isinstance(first[k], str)
                        else float(np.mean([g[k] for g in group]))) for k in first})
    return out


def best_at(anchors: list[dict], bpp: float) -> dict | None:
    fit = [a for a in anchors if a["bpp"] <= bpp]
    return max(fit, key=lambda a: a["ms_ssim"]) if fit else None


def run(folder: Path, name: str, limit: int = 0) -> dict:
    from PIL import Image as PILImage

    import omnicodec
    from omnicodec.codecs.vq import VQCodec

    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() == ".png")  # subfolders too (CSet5, ...)
    if limit and len(files) > limit:  # evenly spaced, so every subfolder is drawn from
        files = [files[i * len(files) // limit] for i in range(limit)]
    model = VQCodec().model()
    vq_rows, anchor_rows, hyper_rows, lost_rows = [], [], [], []
    rng = np.random.default_rng(0)
    skipped = []
    for f in files:
        with PILImage.open(f) as im:
            item = omnicodec.Image(np.asarray(im.convert("RGB")), "RGB")  # grey ones as RGB
        if min(item.pixels.shape[:2]) < 161:  # MS-SSIM's 5 scales need 161 px
            skipped.append(f.name)
            continue
        vq_rows.append(vq_points(item, model.levels))
        anchor_rows.append(anchor_points(item))
        blob = omnicodec.encode(item, "hyperprior", 0)
        hyper_rows.append([{"quality": 0, **metrics(item, omnicodec.decode(blob).pixels, len(blob))}])
        lost_rows.append([lost_points(item, 100, rng)])  # the full codebook
        top = vq_rows[-1][-1]
        print(f"{f.name}: vq K={top['K']} {top['bpp']:.4f} bpp ms-ssim {top['ms_ssim']:.4f}", flush=True)
    vq_mean, anchors = mean_rows(vq_rows, "quality"), mean_rows(anchor_rows, "config")
    compare = []
    for p in vq_mean:
        best = best_at(anchors, p["bpp"])
        compare.append({"K": p["K"], "bpp": p["bpp"], "vq_ms_ssim": p["ms_ssim"],
                        "best_anchor": best and best["config"], "anchor_bpp": best and best["bpp"],
                        "anchor_ms_ssim": best and best["ms_ssim"],
                        # None: no anchor configuration goes as low
                        "vq_wins": None if best is None else bool(p["ms_ssim"] > best["ms_ssim"])})
    lost = mean_rows(lost_rows, "K")
    return {"images": str(folder), "files": len(files) - len(skipped), "skipped_under_161px": skipped,
            "machine": f"{platform.machine()}, {platform.processor()}",
            "command": f"python benchmarks/vq_extreme.py --images {folder} --name {name}"
                       + (f" --limit {limit}" if limit else ""),
            "weights": VQCodec().default_weights(), "vq": vq_mean,
            "hyperprior_lowest": mean_rows(hyper_rows, "quality"), "anchors": anchors, "compare": compare,
            "lost_indices": lost}


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from omnicodec.bench import save_plot

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for codec, marker in (("avif", "s"), ("webp", "^")):
        for scale in SCALES:
            pts = sorted((a["bpp"], a["ms_ssim"]) for a in result["anchors"]
                         if a["config"].startswith(f"x{scale} {codec} ") and a["bpp"] <= 0.1)
            if pts:
                ax.plot(*zip(*pts), marker=marker, ms=3, lw=0.8, alpha=0.7, label=f"x{scale} + {codec}")
    ax.plot([p["bpp"] for p in result["vq"]], [p["ms_ssim"] for p in result["vq"]], "o-k", lw=2, label="vq")
    h = result["hyperprior_lowest"][0]  # far right of the range: a note, not a point
    ax.text(0.099, 0.47, f"hyperprior q0: {h['bpp']:.2f} bpp, MS-SSIM {h['ms_ssim']:.3f}", ha="right", fontsize=7)
    ax.set_xlim(0, 0.1)
    ax.set_xlabel("bpp (whole .omc file)")
    ax.set_ylabel("MS-SSIM")
    ax.set_title(f"Extreme low rates, {Path(result['images']).name} ({result['files']} images)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    save_plot(fig, path, 110)


def table() -> str:
    lines = []
    for path in sorted(RESULTS.glob("vq_extreme_*.json")):
        r = json.loads(path.read_text())
        lines += [f"**{Path(r['images']).name}** ({r['files']} images, `{r['weights']}`)", "",
                  "| K | bpp | PSNR | MS-SSIM | sharpness | bits/index (of log2 K) "
                  "| best downscale+AVIF/WebP at ≤ bpp | its MS-SSIM |", "|---|---|---|---|---|---|---|---|"]
        for p, c in zip(r["vq"], r["compare"]):
            lines.append(f"| {p['K']} | {p['bpp']:.4f} | {p['psnr']:.2f} | {p['ms_ssim']:.4f} | {p['sharpness']:.2f} | "
                         f"{p['bits_per_index']:.2f} ({p['of_log2K']:.0%}) | {c['best_anchor'] or 'none'} "
                         f"({c['anchor_bpp'] or 0:.4f}) | {c['anchor_ms_ssim'] or 0:.4f} |")
        h = r["hyperprior_lowest"][0]
        lines += ["", f"hyperprior q0: {h['bpp']:.4f} bpp, {h['psnr']:.2f} dB, MS-SSIM {h['ms_ssim']:.4f}.", ""]
        for row in r["lost_indices"]:
            lost = ", ".join(f"{p}% lost {row[f'lost{p}']:.4f}" for p in (5, 10, 20))
            lines.append(f"K={row['K']}: MS-SSIM intact {row['intact']:.4f}; {lost}.")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=Path, default=ROOT.parent / "shared" / "data" / "images" / "kodak")
    ap.add_argument("--name", default="kodak")
    ap.add_argument("--limit", type=int, default=0, help="at most this many images, evenly spaced")
    ap.add_argument("--table", action="store_true")
    ap.add_argument("--plot", action="store_true", help="redraw NAME's plot from its JSON")
    args = ap.parse_args()
    if args.table:
        print(table())
        return
    if args.plot:  # again from the JSON
        path = RESULTS / f"vq_extreme_{args.name}.json"
        plot(json.loads(path.read_text()), path.with_suffix(".png"))
        return
    result = run(args.images, args.name, args.limit)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"vq_extreme_{args.name}.json").write_text(json.dumps(result, indent=1) + "\n")
    plot(result, RESULTS / f"vq_extreme_{args.name}.png")
    print(table())


if __name__ == "__main__":
    main()
