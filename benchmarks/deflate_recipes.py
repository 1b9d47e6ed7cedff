"""What a deflate recipe costs, by deflater: the bytes that remake a deflate stream bit for bit
from what it inflates to (``datasets/recipes.deflate_recipe``; inside ``pngz`` version 2,
``gzpz``, ``zipz`` and ``tifz``), as a share of the stream, by encoder, measured in the same
run: the first (``recipes.ENCODER = 1``: the plain form, all corrections through LZMA), the
second (2: also the classed form, kinds by cost class under the block's own Huffman codes
coded by their counts, the smaller kept; the longer matcher chain tried down to 0.25% of the
stream) and today's (3: also deep ranks, among the whole window's candidates, where an
optimal parser's match lies beyond the matcher's chain).

Inputs: six Kodak PNGs' filtered scanlines (what their IDAT inflates to), two Kodak images
upscaled 2x (bicubic, Pillow's PNG filters: smooth images, where deep ranks matter) and six
LogHub 2k logs.  Deflaters: zlib -6 and -9, gzip(1) -9 (its own deflater), libdeflate -6 and
-12 and zopfli (optimal parsers: imagecodecs), and for the Kodak PNGs the stream in the file
(Kodak's own writer).  Times are one process's seconds on this machine: today's recipe (its
forms, the encoder's verification included) and its rebuild.

    python benchmarks/deflate_recipes.py   -> benchmarks/results/deflate_recipes.json
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import time
import zlib
from pathlib import Path

import imagecodecs

from omnicodec.datasets import recipes
from omnicodec.datasets.files import png_chunks

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
OUT = ROOT / "benchmarks" / "results" / "deflate_recipes.json"
IMAGES = [DATA / "images" / "kodak" / f"kodim{i:02d}.png" for i in (1, 5, 9, 13, 17, 21)]
UPSCALED = [DATA / "images" / "kodak" / f"kodim{i:02d}.png" for i in (3, 23)]
LOGS = [DATA / "logs" / "loghub" / name / f"{name}_2k.log" for name in ("Apache", "HDFS", "Linux", "Mac", "OpenSSH",
                                                                        "Spark")]


def _zlib(level: int):
    return lambda raw: zlib.compress(raw, level)[2:-4]


DEFLATERS = {"zlib -6": _zlib(6), "zlib -9": _zlib(9),
             "gzip(1) -9": lambda raw: subprocess.run(["gzip", "-9", "-n", "-c"], input=raw, capture_output=True,
                                                     check=True).stdout[10:-8],
             "libdeflate -6": lambda raw: imagecodecs.deflate_encode(raw, level=6, raw=True),
             "libdeflate -12": lambda raw: imagecodecs.deflate_encode(raw, level=12, raw=True),
             "zopfli": lambda raw: imagecodecs.zopfli_encode(raw)[2:-4]}


def _idat(path: Path) -> bytes:
    """The raw deflate stream of a PNG's IDAT chunks (zlib header and Adler-32 removed)."""
    return b"".join(raw[8:-4] for kind, raw in png_chunks(path.read_bytes()) if kind == b"IDAT")[2:-4]


def _upscaled(path: Path) -> bytes:
    """The filtered scanlines of ``path`` upscaled 2x (bicubic), as Pillow's PNG writer filters them."""
    import io

    from PIL import Image

    with Image.open(path) as im:
        big = im.convert("RGB").resize((2 * im.width, 2 * im.height), Image.BICUBIC)
    out = io.BytesIO()
    big.save(out, "PNG", compress_level=9)
    return zlib.decompress(b"".join(raw[8:-4] for kind, raw in png_chunks(out.getvalue()) if kind == b"IDAT"))


def _measure(stream: bytes, raw: bytes) -> dict:
    """Today's recipe and the earlier encoders', the time to make today's, and its rebuild time."""
    start = time.perf_counter()
    kept = recipes.deflate_recipe(stream, raw)
    made = time.perf_counter() - start
    today = recipes.ENCODER
    earlier = {}
    try:
        for encoder in (1, 2):
            recipes.ENCODER = encoder
            earlier[encoder] = recipes.deflate_recipe(stream, raw)
    finally:
        recipes.ENCODER = today
    start = time.perf_counter()
    exact = kept is not None and recipes.deflate_rebuild(raw, kept) == stream
    rebuilt = time.perf_counter() - start
    if kept is None or None in earlier.values():
        raise SystemExit("no recipe (past the matcher's budget?)")
    return {"stream_bytes": len(stream), "recipe_bytes": len(kept), "second_bytes": len(earlier[2]),
            "first_bytes": len(earlier[1]), "exact": exact, "recipe_s": round(made, 3), "rebuild_s": round(rebuilt, 3)}


def main() -> None:
    inputs = [(p.name, "image", zlib.decompress(_idat(p), -15), _idat(p)) for p in IMAGES]
    inputs += [(f"{p.stem} 2x", "upscaled image", _upscaled(p), None) for p in UPSCALED]
    inputs += [(p.name, "log", p.read_bytes(), None) for p in LOGS]
    deflaters = {k: v for k, v in DEFLATERS.items() if k != "gzip(1) -9" or shutil.which("gzip")}
    rows = []
    for name, kind, raw, own in inputs:
        streams = {"its own (the file's)": own} if own is not None else {}
        streams.update({k: make(raw) for k, make in deflaters.items()})
        for deflater, stream in streams.items():
            row = {"file": name, "kind": kind, "deflater": deflater, "raw_bytes": len(raw), **_measure(stream, raw)}
            rows.append(row)
            print(f"{name} {deflater}: stream {row['stream_bytes']}, recipe {row['recipe_bytes']} "
                  f"(encoder 2: {row['second_bytes']}, 1: {row['first_bytes']}), {row['recipe_s']} s / "
                  f"{row['rebuild_s']} s", flush=True)
    summary = {}
    for kind in ("image", "upscaled image", "log"):
        for deflater in ["its own (the file's)", *deflaters]:
            group = [r for r in rows if r["kind"] == kind and r["deflater"] == deflater]
            if not group:
                continue
            stream = sum(r["stream_bytes"] for r in group)
            summary[f"{kind}s, {deflater}"] = {
                "files": len(group), "stream_bytes": stream, "recipe_bytes": sum(r["recipe_bytes"] for r in group),
                "second_bytes": sum(r["second_bytes"] for r in group),
                "first_bytes": sum(r["first_bytes"] for r in group), "exact": sum(r["exact"] for r in group),
                "recipe_pct": round(100 * sum(r["recipe_bytes"] for r in group) / stream, 2),
                "second_pct": round(100 * sum(r["second_bytes"] for r in group) / stream, 2),
                "first_pct": round(100 * sum(r["first_bytes"] for r in group) / stream, 2),
                "recipe_s": round(sum(r["recipe_s"] for r in group), 2),
                "rebuild_s": round(sum(r["rebuild_s"] for r in group), 2)}
    result = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
              "command": "python benchmarks/deflate_recipes.py", "date": time.strftime("%Y-%m-%d"),
              "summary": summary, "files": rows}
    OUT.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(summary, indent=1))
    if not all(r["exact"] for r in rows):
        sys.exit("a recipe did not remake its stream")


if __name__ == "__main__":
    main()
