"""Uncompressed TIFF through the default encode, against what TIFF users have: the general-
purpose compressors on the file, and TIFF's own LZW and Deflate (with the horizontal predictor,
as scanners and Photoshop write them).

Each photo of ../shared/data/images/kodak (24, 768x512) and clic_or_other_test/CBSD68 (68,
481x321) becomes an uncompressed TIFF (Pillow: 8-bit RGB, one strip per 64 KiB or so) with a
300 dpi resolution and a description, and its grey version (8-bit L).  For each file, in the
same run: the whole .omc of ``codec encode`` (default options, then ``codec decode`` compared byte
for byte with the TIFF), ``xz -9e``, ``zstd -19`` of the TIFF, the same pixels as LZW and
Deflate TIFFs with predictor 2 (libtiff through imagecodecs), and those two TIFFs through
``codec encode`` too (their strips remade at decode: side data tifz).  Sizes are whole files, ratios
against the uncompressed TIFF; times are the encode's seconds on this machine (the CLI
process, verification included).

    python benchmarks/tiff.py       -> benchmarks/results/tiff.json
"""

from __future__ import annotations

import io
import json
import lzma
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import imagecodecs
import numpy as np
import zstandard
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "images"
OUT = ROOT / "benchmarks" / "results" / "tiff.json"
sys.path.insert(0, str(ROOT / "benchmarks"))
from round_trip import round_trip  # noqa: E402

SIZES = ("omc_bytes", "lzw_omc_bytes", "deflate_omc_bytes", "xz9e_bytes", "zstd19_bytes", "tiff_lzw_bytes",
         "tiff_deflate_bytes")


def tiff(pixels: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "TIFF", dpi=(300, 300), description="benchmark scan")
    return out.getvalue()


def measure(name: str, pixels: np.ndarray, work: Path) -> dict:
    data = tiff(pixels)
    done = round_trip(data, "x.tif", work)
    row = {"file": name, "mode": "RGB" if pixels.ndim == 3 else "L", "bytes": len(data),
           "omc_bytes": done["omc_bytes"], "codec": done["codec"], "exact": done["exact"], "encode_s": done["encode_s"],
           "xz9e_bytes": len(lzma.compress(data, preset=9 | lzma.PRESET_EXTREME)),
           "zstd19_bytes": len(zstandard.ZstdCompressor(level=19, write_content_size=True).compress(data))}
    for method in ("lzw", "deflate"):
        row[f"tiff_{method}_bytes"] = len(imagecodecs.tiff_encode(pixels, compression=method, predictor=True))
    # the LZW and Deflate TIFFs themselves through the default (their strips remade: side data tifz)
    for method in ("lzw", "deflate"):
        done = round_trip(imagecodecs.tiff_encode(pixels, compression=method, predictor=True), "x.tif", work)
        row |= {f"{method}_omc_bytes": done["omc_bytes"], f"{method}_codec": done["codec"],
                f"{method}_exact": done["exact"]}
    return row


def main() -> None:
    files = sorted((DATA / "kodak").glob("*.png")) + sorted((DATA / "clic_or_other_test" / "CBSD68").glob("*.png"))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for path in files:
            with Image.open(path) as im:
                rgb = np.asarray(im.convert("RGB"))
            for pixels in (rgb, np.asarray(Image.fromarray(rgb).convert("L"))):
                rows.append(measure(f"{path.parent.name}/{path.name}", pixels, Path(tmp)))
                r = rows[-1]
                print(f"{r['file']} {r['mode']}: {r['bytes']} -> {r['omc_bytes']} ({r['codec']}, exact={r['exact']}); "
                      f"xz {r['xz9e_bytes']}, LZW {r['tiff_lzw_bytes']}, Deflate {r['tiff_deflate_bytes']} -> "
                      f"{r['deflate_omc_bytes']} ({r['deflate_codec']}, exact={r['deflate_exact']}); "
                      f"LZW -> {r['lzw_omc_bytes']} ({r['lzw_codec']}, exact={r['lzw_exact']})", flush=True)
    summary = {}
    for mode in ("RGB", "L"):
        group = [r for r in rows if r["mode"] == mode]
        total = sum(r["bytes"] for r in group)
        summary[mode] = {"files": len(group), "bytes": total, "exact": sum(r["exact"] for r in group),
                         "lzw_exact": sum(r["lzw_exact"] for r in group),
                         "deflate_exact": sum(r["deflate_exact"] for r in group),
                         "codecs": sorted({r[k] for r in group for k in ("codec", "lzw_codec", "deflate_codec")}),
                         "encode_s_mean": round(float(np.mean([r["encode_s"] for r in group])), 2),
                         **{f"ratio_{k[:-6]}": round(total / sum(r[k] for r in group), 3) for k in SIZES}}
    result = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
              "command": "python benchmarks/tiff.py", "date": time.strftime("%Y-%m-%d"), "summary": summary,
              "files": rows}
    OUT.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
