"""Rate-distortion of the learned video codec (stem) against x264, x265 and SVT-AV1, all in one
run through the API (PyAV's bundled encoders), on the shared clips.

Each clip (../shared/data/video/*.y4m, its first --frames frames) is encoded by each codec at
each point and decoded; the rate counts the whole .omc file (bpp = bits / (width·height·frames),
kbit/s at the clip's frame rate).  Distortion per frame, averaged over frames: PSNR-Y, PSNR-YUV
(6:1:1), PSNR-RGB (both videos converted to RGB as the codec does: ``items.yuv_to_rgb``)
and MS-SSIM on RGB (frames of at least 161 px each way).  BD-rates (PSNR-Y) of each codec
against x264 (preset veryslow, tune psnr) and x265 (preset slow), per clip and averaged over
the clips where both curves overlap; encode and decode frames/s on this machine (wall clock,
one process).  The anchors:

    x264    preset veryslow, tune psnr, CRF 22..42
    x265    preset slow, CRF 22..42
    svtav1  preset 6, CRF 30..58
    stem    quality 0..100 (its 7 gain levels)
    stem-gop1  the same with every frame intra (gop=1): the BD-rate of stem against it is what
               the temporal and spatial context save

HELD_OUT names the clips that the shipped stem weights never trained on (the training run's
val/ folder); the others were its training data, and their numbers say so.

    python benchmarks/video_rd.py [--frames 30] [--codecs stem,x264,x265,svtav1] [--clips a.y4m,...]
        -> benchmarks/results/video_rd.json, video_rd.png
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CLIPS = ROOT.parent / "shared" / "data" / "video"
RESULTS = ROOT / "benchmarks" / "results"
HELD_OUT = ("foreman_cif_60f.y4m",)
CRFS = (22, 27, 32, 37, 42)
POINTS = {
    "stem": [{"quality": q} for q in (0, 100 / 6, 200 / 6, 50, 400 / 6, 500 / 6, 100)],
    "x264": [{"crf": c, "preset": "veryslow", "tune": "psnr"} for c in CRFS],
    "x265": [{"crf": c, "preset": "slow"} for c in CRFS],
    "svtav1": [{"crf": c, "preset": "6"} for c in (30, 37, 44, 51, 58)],
    # every frame intra (the image codec's coding, frame by frame): what the temporal model saves
    "stem-gop1": [{"quality": q, "gop": 1} for q in (0, 100 / 6, 200 / 6, 50, 400 / 6, 500 / 6, 100)],
}
CODEC_OF = {"stem-gop1": "stem"}  # curve name -> registry id
ANCHORS = ("x264", "x265", "stem-gop1")


def clip(path: Path, frames: int):
    from omnicodec.datasets import y4m
    from omnicodec.items import Video

    v = y4m.parse(path.read_bytes())
    return Video(tuple(np.ascontiguousarray(p[:frames]) for p in v.planes), v.fps, v.pix_fmt)


def codec_for(codec_id: str, point: dict):
    from omnicodec import api
    from omnicodec.registry import get_codec_class

    point = dict(point)
    crf = point.pop("crf", None)
    codec_id = CODEC_OF.get(codec_id, codec_id)
    quality = get_codec_class(codec_id).quality_for_crf(crf) if crf is not None else point.pop("quality")
    return api.get_codec(codec_id, quality=quality, **point)


def psnr(a: np.ndarray, b: np.ndarray, peak: float) -> float:
    """``metrics.psnr`` capped at 100 dB (an identical frame would be inf, which JSON lacks)."""
    from omnicodec.metrics import psnr

    return min(100.0, psnr(a, b, peak))


def distortion(orig, dec) -> dict:
    """Per-frame PSNR-Y/U/V, PSNR-RGB and MS-SSIM, averaged over frames."""
    import torch
    from pytorch_msssim import ms_ssim

    from omnicodec.items import yuv_to_rgb

    rows = []
    for t in range(orig.planes[0].shape[0]):
        y, u, v = (psnr(o[t], d[t], 255.0) for o, d in zip(orig.planes, dec.planes))
        a, b = (yuv_to_rgb(*(p[t] for p in x.planes), 255) for x in (orig, dec))
        row = {"psnr_y": y, "psnr_yuv": (6 * y + u + v) / 8, "psnr_rgb": psnr(a, b, 1.0)}
        if min(a.shape[1:]) >= 161:
            row["ms_ssim"] = float(ms_ssim(torch.from_numpy(a)[None], torch.from_numpy(b)[None], data_range=1.0))
        rows.append(row)
    return {k: round(float(np.mean([r[k] for r in rows])), 4) for k in rows[0]}


def measure(codec_id: str, point: dict, video) -> dict:
    from omnicodec import api

    codec = codec_for(codec_id, point)
    t0 = time.perf_counter()
    blob = api.encode(video, codec)
    t1 = time.perf_counter()
    dec = api.decode(blob)
    t2 = time.perf_counter()
    frames, h, w = video.planes[0].shape
    seconds = frames * video.fps[1] / video.fps[0]
    return {"codec": codec_id, **point, "bytes": len(blob), "bpp": round(8 * len(blob) / (frames * h * w), 5),
            "kbit_s": round(8 * len(blob) / seconds / 1000, 2), **distortion(video, dec),
            "enc_fps": round(frames / (t1 - t0), 2), "dec_fps": round(frames / (t2 - t1), 2)}


def bd_rates(rows: list[dict]) -> dict:
    """{clip: {codec: {anchor: BD-rate % on PSNR-Y or 'n/a: why'}}} plus 'mean' over the clips
    where a number exists (and 'mean_held_out')."""
    from omnicodec.metrics import bd_rate

    out: dict = {}
    for name in dict.fromkeys(r["clip"] for r in rows):
        curves = {}
        for r in rows:
            if r["clip"] == name:
                curves.setdefault(r["codec"], []).append((r["bpp"], r["psnr_y"]))
        for codec_id, pts in curves.items():
            for anchor in ANCHORS:
                if anchor == codec_id or anchor not in curves or (anchor in CODEC_OF and codec_id != CODEC_OF[anchor]):
                    continue
                try:
                    value: float | str = round(bd_rate(*zip(*curves[anchor]), *zip(*pts)), 2)
                except ValueError as exc:
                    value = f"n/a: {exc}"
                out.setdefault(name, {}).setdefault(codec_id, {})[anchor] = value
    for key, names in (("mean", list(out)), ("mean_held_out", [n for n in out if n in HELD_OUT])):
        summary: dict = {}
        for codec_id in {c for n in names for c in out[n]}:
            for anchor in ANCHORS:
                vals = [out[n][codec_id][anchor] for n in names
                        if isinstance(out[n].get(codec_id, {}).get(anchor), float)]
                if vals:
                    summary.setdefault(codec_id, {})[anchor] = {"bd_rate": round(float(np.mean(vals)), 2),
                                                                "clips": len(vals)}
        out[key] = summary
    return out


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from omnicodec.bench import save_plot

    names = list(dict.fromkeys(r["clip"] for r in rows))
    cols = 3
    fig, axes = plt.subplots(-(-len(names) // cols), cols, figsize=(15, 4.2 * -(-len(names) // cols)), squeeze=False)
    for ax in axes.flat[len(names):]:
        ax.axis("off")
    for ax, name in zip(axes.flat, names):
        for codec_id in dict.fromkeys(r["codec"] for r in rows):
            pts = sorted((r["bpp"], r["psnr_y"]) for r in rows if r["clip"] == name and r["codec"] == codec_id)
            if pts:
                ax.plot(*zip(*pts), "o-", label=codec_id, ms=3)
        ax.set_title(name + (" (held out)" if name in HELD_OUT else " (trained on)"), fontsize=9)
        ax.set_xlabel("bpp (whole file)")
        ax.set_ylabel("PSNR-Y (dB)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    save_plot(fig, path, 80)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--codecs", default=",".join(POINTS))
    ap.add_argument("--clips", default="", help="comma-separated file names in ../shared/data/video (default all)")
    ap.add_argument("--out", default="video_rd")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)  # the machine's other core runs the classical encoders' own threads
    paths = sorted(CLIPS.glob("*.y4m")) if not args.clips else [CLIPS / n for n in args.clips.split(",")]
    out = RESULTS / f"{args.out}.json"
    rows = [r for r in (json.loads(out.read_text())["rows"] if out.exists() else [])
            if r["codec"] not in args.codecs.split(",") or r["clip"] not in [p.name for p in paths]]
    for path in paths:
        video = clip(path, args.frames)
        for codec_id in args.codecs.split(","):
            for point in POINTS[codec_id]:
                row = {"clip": path.name, "held_out": path.name in HELD_OUT, **measure(codec_id, point, video)}
                print(json.dumps(row), flush=True)
                rows.append(row)
    from omnicodec import __version__
    from omnicodec.codecs.learned import manifest
    from omnicodec.codecs.stem import Stem

    stem = manifest().get(Stem.weights_file, {})
    result = {"command": f"python benchmarks/video_rd.py --frames {args.frames}",
              "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}; stem on one torch thread",
              "omnicodec": __version__, "stem_weights": {"steps": stem.get("steps"), "sha256": stem.get("sha256")},
              "frames": args.frames, "held_out": list(HELD_OUT), "points": POINTS, "rows": rows,
              "bd_rate_psnr_y": bd_rates(rows)}
    out.write_text(json.dumps(result, indent=1) + "\n")
    plot(rows, out.with_suffix(".png"))
    print(json.dumps(result["bd_rate_psnr_y"], indent=1))


if __name__ == "__main__":
    main()
