"""walloc on Kodak: what its entropy-coded latent saves over the paper's lossless-WebP packing of
the same latents, and its encode/decode speed against WebP's, per megapixel.

For each model (16x, 4x) and quality, on each image: the latent symbols (8-bit, the bounded
quantizer's output) are packed three channels to an RGB plane, the planes side by side, and
saved as lossless WebP (method 6, the smallest Pillow writes) and PNG (level 9), as the paper
stores them; against them the DATA section our encoder writes for the same symbols (per-channel
table choice included).  Speed: one thread and the default thread count (torch's and numba's),
median of REPEATS runs of the whole API encode and decode (.omc bytes out), with rounding and
with ``rdoq`` (the codecs taking turns image by image), in a process that has loaded numba (a
fresh process runs the NumPy twins of the kernels for its first 4 MP or so:
``kernels.chosen``), against Pillow's WebP at quality 75 (method 4, its default) on the same
pixels.

    python benchmarks/walloc.py [--kodak DIR] [--qualities 0,12.5,24.9,25,62.5,100]
        -> benchmarks/results/walloc.json
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"
REPEATS = 3


def mosaic(symbols: np.ndarray) -> np.ndarray:
    """(C, h, w) uint8 latent -> one RGB image: channels in threes, the planes side by side."""
    c, h, w = symbols.shape
    padded = np.zeros((-(-c // 3) * 3, h, w), np.uint8)
    padded[:c] = symbols
    planes = padded.reshape(-1, 3, h, w).transpose(0, 2, 3, 1)  # (groups, h, w, 3)
    return np.concatenate(list(planes), axis=1)


def packed_sizes(symbols: np.ndarray) -> dict[str, int]:
    from PIL import Image

    image = Image.fromarray(mosaic(symbols.astype(np.uint8)), "RGB")
    out = {}
    for name, kwargs in (("webp_lossless", dict(format="WEBP", lossless=True, quality=100, method=6)),
                         ("png", dict(format="PNG", compress_level=9))):
        buf = io.BytesIO()
        image.save(buf, **kwargs)
        out[name] = buf.tell()
    return out


def speeds(images: list, qualities: list[float]) -> dict:
    """Encode and decode seconds (summed over the images, each the median of REPEATS) of walloc
    at each quality, with rounding and with rdoq, and of Pillow's WebP (quality 75, method 4),
    on one thread and on all.  The codecs take turns image by image and repeat by repeat, so
    that the machine's drift (its timings move by a third between processes here) falls on
    all of them alike."""
    import numba  # loaded, so the compiled kernels run from the first image (a process's steady state)
    import torch
    from PIL import Image

    import omnicodec
    from omnicodec.codecs.walloc import Walloc

    def webp(pixels: np.ndarray) -> bytes:
        buf = io.BytesIO()
        Image.fromarray(pixels).save(buf, "WEBP", quality=75)
        return buf.getvalue()

    coders = {f"walloc q{q:g}{' rdoq' if rdoq else ''}": (lambda item, c=Walloc(quality=q, rdoq=rdoq):
                                                           omnicodec.encode(item, c), omnicodec.decode)
              for rdoq in (False, True) for q in qualities}
    coders["pillow webp q75 (method 4)"] = (lambda item: webp(item.pixels),
                                            lambda data: np.asarray(Image.open(io.BytesIO(data)).convert("RGB")))
    out = {}
    for threads in (1, torch.get_num_threads()):
        torch.set_num_threads(threads)
        numba.set_num_threads(threads)
        row = {name: {"encode_s": 0.0, "decode_s": 0.0} for name in coders}
        for item in images:
            blobs = {name: enc(item) for name, (enc, _) in coders.items()}  # (and rdoq's weights per level)
            times = {name: ([], []) for name in coders}
            for _ in range(REPEATS):
                for name, (enc, dec) in coders.items():
                    for spent, fn in zip(times[name], (lambda: enc(item), lambda: dec(blobs[name]))):
                        t = time.perf_counter()
                        fn()
                        spent.append(time.perf_counter() - t)
            for name, (encs, decs) in times.items():
                row[name]["encode_s"] += float(np.median(encs))
                row[name]["decode_s"] += float(np.median(decs))
        megapixels = sum(i.pixels.shape[0] * i.pixels.shape[1] for i in images) / 1e6
        for r in row.values():
            r["encode_mp_s"] = round(megapixels / r["encode_s"], 2)
            r["decode_mp_s"] = round(megapixels / r["decode_s"], 2)
        out[f"{threads} thread{'s' if threads > 1 else ''}"] = row
    return out


def latent_sizes(images: list, qualities: list[float]) -> list[dict]:
    import omnicodec
    from omnicodec import container
    from omnicodec.codecs.walloc import Walloc, analyse

    rows = []
    for q in qualities:
        codec = Walloc(quality=q)
        model = codec.model()
        sums = {"entropy_coded": 0, "webp_lossless": 0, "png": 0, "omc_file": 0, "pixels": 0}
        for item in images:
            symbols = analyse(model, item.pixels, codec.level(model))
            blob = omnicodec.encode(item, codec)
            sums["entropy_coded"] += len(container.unpack(blob).sections["DATA"])
            for k, v in packed_sizes(symbols).items():
                sums[k] += v
            sums["omc_file"] += len(blob)
            sums["pixels"] += item.pixels.shape[0] * item.pixels.shape[1]
        row = {"quality": q, "model": codec.default_weights(), "latent": model.cfg.latent,
               "level": round(codec.level(model), 3), **sums,
               "saving_vs_webp_lossless": round(1 - sums["entropy_coded"] / sums["webp_lossless"], 4),
               "saving_vs_png": round(1 - sums["entropy_coded"] / sums["png"], 4),
               "omc_bpp": round(8 * sums["omc_file"] / sums["pixels"], 4),
               "webp_packed_bpp": round(8 * sums["webp_lossless"] / sums["pixels"], 4)}
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kodak", default=str(ROOT.parent / "shared" / "data" / "images" / "kodak"))
    ap.add_argument("--qualities", default="0,12.5,24.9,25,62.5,100")
    ap.add_argument("--speed-images", type=int, default=6, help="images timed for speed")
    args = ap.parse_args()
    from benchmarks.image_rd import machine
    from omnicodec.datasets.files import read_item

    images = [read_item(p) for p in sorted(Path(args.kodak).glob("*.png"))]
    qualities = [float(q) for q in args.qualities.split(",")]
    sizes = latent_sizes(images, qualities)
    speed = speeds(images[:args.speed_images], [qualities[0], qualities[-1]])
    print(json.dumps(speed, indent=1))
    out = {"machine": machine(), "command": "python benchmarks/walloc.py", "images": len(images),
           "latent_sizes": sizes, "speed": {"images": args.speed_images, **speed}}
    (RESULTS / "walloc.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
