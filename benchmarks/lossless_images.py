"""Lossless image codecs on the shared image sets: PNG (zlib 9), WebP lossless (method 5, effort
90), JPEG XL lossless (effort 7: the default since 2026-12-05) and image-zstd, through the API.

Per codec and set (its RGB images: WebP stores no grey): the total .omc bytes over the images'
raw RGB bytes (bits per pixel too), and the mean encode and decode seconds per image (each
library's default threads, 2 cores).  Every output is checked to decode to the image exactly.

    python benchmarks/lossless_images.py -> benchmarks/results/lossless_images.json
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
IMAGES = ROOT.parent / "shared" / "data" / "images"
SETS = {"kodak": IMAGES / "kodak", "CBSD68": IMAGES / "clic_or_other_test" / "CBSD68",
        "CSet14": IMAGES / "clic_or_other_test" / "CSet14"}
CODECS = ("png", "webp-lossless", "jxl-lossless", "image-zstd")


def main() -> None:
    import numpy as np

    import omnicodec

    out = {}
    for name, folder in SETS.items():
        images = [im for p in sorted(folder.glob("*.png")) if (im := omnicodec.read(p)).mode == "RGB"]
        raw = sum(im.pixels.nbytes for im in images)
        pixels = sum(im.pixels.shape[0] * im.pixels.shape[1] for im in images)
        for codec_id in CODECS:
            total, enc, dec = 0, 0.0, 0.0
            for im in images:
                t0 = time.perf_counter()
                blob = omnicodec.encode(im, codec_id)
                t1 = time.perf_counter()
                back = omnicodec.decode(blob)
                dec += time.perf_counter() - t1
                enc += t1 - t0
                assert np.array_equal(back.pixels, im.pixels), (codec_id, name)
                total += len(blob)
            row = {"images": len(images), "bytes": total, "ratio": raw / total, "bpp": 8 * total / pixels,
                   "enc_s": enc / len(images), "dec_s": dec / len(images)}
            out.setdefault(name, {})[codec_id] = row
            print(f"{name:<8} {codec_id:<14} {row['bpp']:.3f} bpp  ratio {row['ratio']:.3f}  "
                  f"enc {row['enc_s']:.2f}s  dec {row['dec_s']:.3f}s", flush=True)
    (ROOT / "benchmarks" / "results" / "lossless_images.json").write_text(json.dumps({
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
        "command": "python benchmarks/lossless_images.py", "sets": out}, indent=1) + "\n")


if __name__ == "__main__":
    main()
