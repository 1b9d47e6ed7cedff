"""Compressed-domain learning on MNIST: the same classifier, the same wall-time budget of
training on this CPU (one thread), on full-size pixels, pixels downsampled to a latent's
dimensionality, and learned-codec latents read from .omc files (omnicodec.datasets.latents).

Arms: pixels 28x28 (784 values); pixels 14x14 (196: area average, the size of walloc's 16x
latent, 192); pixels 7x7 (49 bytes, about what walloc's quality-0 latent takes in shards);
walloc latents at quality 0 and 24.99 (16x model, 12x4x4 = 192) and 46.43 (4x model, 48x4x4 = 768);
hyperprior latents at quality 0 (128x2x2 = 512).  The codecs are the shipped ones, trained on
../shared/data/images/train (photographs: never on MNIST).  MNIST's own split: 60000 training
digits, 10000 test digits, all of them.

The classifier: inputs standardized per feature (training-set mean and spread), an MLP of two
hidden layers of 512 (ReLU), Adam at 1e-3 with a cosine decay over the time budget, batch 128,
cross-entropy; the same for every arm, whose only difference is the input.  Training runs on
tensors in memory; the one-time cost of getting them there is reported apart: for latents, the
encode into the .omc cache (per item) and the decode of every .omc file (``tensors``), which a
streaming loader would pay on every epoch.

Bytes: per item, as read per epoch by a loader that streams from disk: raw uint8 pixels
(784 / 196 / 49 B), or the .omc files' bytes per digit (shards of 1024 digits, one header
each), of which the entropy-coded latent alone ("payload"); latent rows also give, measured on
a sample, what one file per digit would take (its header with the codec's config and the
weights' sha256, framing and checksums: about 205 B).
For scale, per digit: MNIST's .npz (deflate over the whole array) and one PNG per digit.

    python benchmarks/compressed_learning.py [--seconds 60] [--seeds 0,1] [--arms ...]
        [--mnist ../shared/data/mnist] [--cache runs/latents] [--workers 2]
        -> benchmarks/results/compressed_learning.json (+ .png)
"""

from __future__ import annotations

import argparse
import io
import json
import math
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"
# walloc's arms name the levels the first run measured: the 16x model's level 2 (quality 25 then,
# 24.99 since the 4x model serves 25 up) and the 4x model's λ = 0.0067 level (quality 50 then: the
# first 4x model's lowest; 46.43 for today's, which has two levels below it)
LATENT_ARMS = {"walloc-q0": ("walloc", 0.0), "walloc-q25": ("walloc", 24.99), "walloc-q50": ("walloc", 25 + 75 * 2 / 7),
               "hyperprior-q0": ("hyperprior", 0.0)}
PIXEL_ARMS = {"pixels-28x28": 28, "pixels-14x14": 14, "pixels-7x7": 7}
HIDDEN, BATCH, LR = 512, 128, 1e-3


def pixels(images: np.ndarray, side: int) -> np.ndarray:
    """uint8 (N, side, side): the digits, area-averaged to side x side."""
    if side == images.shape[1]:
        return images
    from PIL import Image

    return np.stack([np.asarray(Image.fromarray(a).resize((side, side), Image.Resampling.BOX)) for a in images])


def latents(codec: str, quality: float, split: str, images, labels, cache: Path, workers: int) -> dict:
    """The latents of a split (encoded into the cache where missing: shards of 1024 digits
    where the codec codes grids of tiles, else one file per digit) and what they cost, with
    what one file per digit costs, measured on a sample."""
    import tempfile

    from omnicodec.datasets.latents import LatentDataset

    ds = LatentDataset.from_arrays(images, labels, codec, quality, cache=cache / f"{codec}-q{quality:g}" / split)
    ds.prepare(workers)
    per_file = np.bincount(ds._entries[:, 0])
    files = list(range(min(len(ds.files), 2 if per_file[0] > 1 else 256)))
    start = time.perf_counter()
    for j in files:  # rewrites the same bytes
        ds._encode(j)
    encode_s = (time.perf_counter() - start) / per_file[files].sum()
    start = time.perf_counter()
    x, _ = ds.tensors(workers)
    tensors_s = time.perf_counter() - start
    cost = ds.cost(16 if per_file[0] > 1 else 512)
    out = {"x": x.flatten(1).numpy(), "encode_s_per_item": encode_s, "tensors_s": tensors_s,
           "decode_s_per_item": cost.decode_seconds, "file_bytes": cost.file_bytes, "layout": (
               f"shards of {per_file[0]}" if per_file[0] > 1 else "one file per digit"),
           "payload_bytes": cost.payload_bytes, "stored_bytes": cost.stored_bytes, "shape": list(cost.shape)}
    if per_file[0] > 1:  # what one file per digit would cost, on a sample
        pick = slice(None, None, max(1, len(images) // 512))
        with tempfile.TemporaryDirectory() as tmp:
            alone = LatentDataset.from_arrays(images[pick], labels[pick], codec, quality, cache=tmp, shard=0).cost(512)
        out.update(file_bytes_one_per_digit=alone.file_bytes, payload_bytes_one_per_digit=alone.payload_bytes,
                   decode_s_one_per_digit=alone.decode_seconds)
    return out


def train(x_train, y_train, x_test, y_test, seconds: float, seed: int) -> dict:
    """The classifier, trained for ``seconds`` of wall time; test accuracy at the end."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    mean, std = x_train.mean(0), x_train.std(0) + 1e-3 * (x_train.std() + 1e-12)
    xt = torch.from_numpy(((x_train - mean) / std).astype(np.float32))
    xs = torch.from_numpy(((x_test - mean) / std).astype(np.float32))
    yt, ys = torch.from_numpy(y_train), torch.from_numpy(y_test)
    net = nn.Sequential(nn.Linear(xt.shape[1], HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, HIDDEN), nn.ReLU(),
                        nn.Linear(HIDDEN, 10))
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    gen = torch.Generator().manual_seed(seed)
    steps, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for group in opt.param_groups:
            group["lr"] = LR * 0.5 * (1 + math.cos(math.pi * min(1.0, elapsed / seconds)))
        idx = torch.randint(0, len(xt), (BATCH,), generator=gen)
        loss = nn.functional.cross_entropy(net(xt[idx]), yt[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        steps += 1
    with torch.no_grad():
        accuracy = float((net(xs).argmax(1) == ys).float().mean())
    return {"accuracy": round(100 * accuracy, 2), "steps": steps, "epochs": round(steps * BATCH / len(xt), 1),
            "train_s": round(time.perf_counter() - start, 1)}


def audio_summary(folder: Path, cache: Path, quality: float = 50.0) -> dict:
    """The audio path on ../shared/data/audio/fsdd (12 spoken digits, about one per digit: too
    few to train or test a classifier, so no accuracy): latents per clip and their bytes."""
    from omnicodec.datasets.latents import LatentDataset

    ds = LatentDataset(folder, "walloc", quality, cache=cache / f"fsdd-walloc-q{quality:g}")
    shapes = [list(ds[i][0].shape) for i in range(len(ds))]
    cost = ds.cost(len(ds))
    wav = sum(p.stat().st_size for p in sorted(folder.glob("*.wav")))
    return {"clips": len(ds), "quality": quality, "latent_shapes": shapes, "wav_bytes": wav,
            "omc_bytes": cost.stored_bytes, "payload_bytes_per_clip": round(cost.payload_bytes, 1),
            "decode_ms_per_clip": round(1000 * cost.decode_seconds, 2)}


def npz_bytes_per_digit(images: np.ndarray) -> float:
    out = io.BytesIO()
    np.savez_compressed(out, x=images)
    return len(out.getvalue()) / len(images)


def png_bytes_per_digit(images: np.ndarray, n: int = 500) -> float:
    from PIL import Image

    sizes = []
    for a in images[:: max(1, len(images) // n)]:
        out = io.BytesIO()
        Image.fromarray(a).save(out, "PNG", optimize=True)
        sizes.append(len(out.getvalue()))
    return float(np.mean(sizes))


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from omnicodec.bench import save_plot

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for arm in dict.fromkeys(r["arm"] for r in rows):
        pts = [r for r in rows if r["arm"] == arm]
        b, acc = pts[0]["bytes_per_item"], np.mean([r["accuracy"] for r in pts])
        ax.scatter([b], [acc], s=50, marker="s" if arm.startswith("pixels") else "o")
        ax.annotate(f"{arm} ({pts[0]['dims']})", (b, acc), textcoords="offset points", xytext=(5, 4), fontsize=8)
        if pts[0].get("payload_bytes"):
            ax.scatter([pts[0]["payload_bytes"]], [acc], s=30, facecolors="none", edgecolors="grey")
            ax.plot([pts[0]["payload_bytes"], b], [acc, acc], color="grey", lw=0.8, ls=":")
    ax.set_xscale("log")
    ax.set_xlabel("bytes per digit read per epoch (filled: whole files or raw pixels; hollow: latent payload)")
    ax.set_ylabel("MNIST test accuracy % (mean over seeds)")
    ax.set_title(f"same MLP, {rows[0]['budget_s']:g} s of training each, one CPU thread")
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    save_plot(fig, path, 90)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--arms", default=",".join([*PIXEL_ARMS, *LATENT_ARMS]))
    ap.add_argument("--mnist", default=str(ROOT.parent / "shared" / "data" / "mnist"))
    ap.add_argument("--cache", default=str(ROOT / "runs" / "latents"))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default=str(RESULTS / "compressed_learning.json"))
    args = ap.parse_args()

    import torch

    from omnicodec.datasets import mnist

    torch.set_num_threads(1)
    (x_train, y_train), (x_test, y_test) = mnist.load(args.mnist, "train"), mnist.load(args.mnist, "test")
    rows = []
    for arm in args.arms.split(","):
        if arm in PIXEL_ARMS:
            side = PIXEL_ARMS[arm]
            tr, te = (pixels(a, side).reshape(len(a), -1).astype(np.float32) for a in (x_train, x_test))
            info = {"bytes_per_item": side * side, "dims": side * side}
        else:
            codec, quality = LATENT_ARMS[arm]
            got = {s: latents(codec, quality, s, x, y, Path(args.cache), args.workers)
                   for s, x, y in (("train", x_train, y_train), ("test", x_test, y_test))}
            tr, te = got["train"].pop("x"), got["test"].pop("x")
            g = got["train"]
            info = {"layout": g["layout"], "bytes_per_item": round(g["file_bytes"], 1),
                    "payload_bytes": round(g["payload_bytes"], 1),
                    "dims": int(np.prod(g["shape"])), "shape": g["shape"],
                    "stored_bytes_train": g["stored_bytes"],
                    "encode_ms_per_item": round(1000 * g["encode_s_per_item"], 3),
                    "decode_ms_per_item": round(1000 * g["decode_s_per_item"], 3),
                    "decode_all_train_s": round(g["tensors_s"], 1)}
            if "file_bytes_one_per_digit" in g:
                info.update(bytes_one_file_per_item=round(g["file_bytes_one_per_digit"], 1),
                            payload_one_file_per_item=round(g["payload_bytes_one_per_digit"], 1),
                            decode_ms_one_file_per_item=round(1000 * g["decode_s_one_per_digit"], 3))
        for seed in (int(s) for s in args.seeds.split(",")):
            row = {"arm": arm, "seed": seed, "budget_s": args.seconds, **info,
                   "bytes_per_epoch": round(info["bytes_per_item"] * len(x_train)),
                   **train(tr, y_train, te, y_test, args.seconds, seed)}
            print(json.dumps(row), flush=True)
            rows.append(row)
    result = {"machine": f"{platform.processor() or platform.machine()}, {__import__('os').cpu_count()} cores; "
                         "training on one torch thread",
              "command": "python benchmarks/compressed_learning.py " + " ".join(sys.argv[1:]),
              "date": time.strftime("%Y-%m-%d"),
              "mnist_npz_bytes_per_digit": round(npz_bytes_per_digit(x_train), 1),
              "png_bytes_per_digit": round(png_bytes_per_digit(x_train), 1),
              "audio_fsdd": audio_summary(Path(args.mnist).parent / "audio" / "fsdd", Path(args.cache)),
              "rows": rows}
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    plot(rows, Path(args.out).with_suffix(".png"))


if __name__ == "__main__":
    main()
