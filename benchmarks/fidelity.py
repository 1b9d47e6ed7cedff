"""Fidelity benchmark: the default encode on every file of ../shared/data, and learned-codec memory.

1. **Corpus** (files the project did not make): each file goes through ``codec encode`` then
   ``codec decode`` (the CLI, default options) in a scratch tree; we record the codec chosen, the
   .omc size against the size bound (input + 0.1% + 64 B), whether the restored file is
   byte-identical (or, for a PNG whose zlib stream no zlib setting remakes, has the same
   pixels through libpng and the same chunks)
   and, in the same run, ``xz -9e`` of the same bytes as the anchor.  JPEG files report the
   JPEG XL recompression saving.
2. **Memory**: peak RSS of a hyperprior encode and decode of a 12 MP (4000x3000) photo, each in
   a fresh process (Kodak's kodim23 upscaled).

    python benchmarks/fidelity.py                 # writes benchmarks/results/fidelity.json
    python benchmarks/fidelity.py --skip-memory   # the corpus only (keeps the memory figures)
    python benchmarks/fidelity.py --memory-only   # the memory only (keeps the corpus figures)
    python benchmarks/fidelity.py --only logs     # the files under data/logs again (keeps the rest)
    python benchmarks/fidelity.py --table         # README tables from that file
"""

from __future__ import annotations

import argparse
import json
import lzma
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
OUT = ROOT / "benchmarks" / "results" / "fidelity.json"
CODEC = str(ROOT / ".venv" / "bin" / "codec")

MEMORY_CHILD = r"""
import resource, sys, time
import numpy as np
from PIL import Image as PILImage
import omnicodec
step, path = sys.argv[1], sys.argv[2]
t = time.perf_counter()
if step == "encode":
    with PILImage.open(sys.argv[3]) as im:
        big = np.asarray(im.convert("RGB").resize((4000, 3000), PILImage.LANCZOS))
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.perf_counter()
    blob = omnicodec.encode(omnicodec.Image(big), "hyperprior", 50)
    open(path, "wb").write(blob)
else:
    import torch  # noqa: F401 - counted in the baseline, as any learned decode pays it
    from omnicodec.codecs.hyperprior import Hyperprior
    Hyperprior().model()
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.perf_counter()
    item = omnicodec.decode(open(path, "rb").read())
    assert item.pixels.shape == (3000, 4000, 3)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, base / 1024, time.perf_counter() - t)
"""


def group(rel: Path) -> str:
    parts = rel.parts
    return "/".join(parts[:2]) if parts[0] in ("images", "audio", "logs") else parts[0]


def png_content(data: bytes):
    """Pixels (through libpng, as imagecodecs reads them) and the raw chunks other than
    IHDR/IDAT/IEND of a PNG: what "the same PNG" means when its zlib stream is rewritten."""
    import imagecodecs

    pos, chunks = 8, []
    while pos < len(data):
        n = int.from_bytes(data[pos:pos + 4], "big")
        if data[pos + 4:pos + 8] not in (b"IHDR", b"IDAT", b"IEND"):
            chunks.append(data[pos:pos + 12 + n])
        pos += 12 + n
    return imagecodecs.png_decode(data), chunks


def run_corpus(files: list[Path]) -> list[dict]:
    import omnicodec
    from omnicodec.api import size_bound

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for path in files:
            rel = path.relative_to(DATA)
            data = path.read_bytes()
            work = Path(tmp) / "x"
            work.mkdir()
            src = work / path.name
            src.write_bytes(data)
            t0 = time.perf_counter()
            enc = subprocess.run([CODEC, "encode", str(src)], capture_output=True, text=True)
            t1 = time.perf_counter()
            omc = work / (path.name + ".omc")
            src.rename(work / "original")
            dec = subprocess.run([CODEC, "decode", str(omc)], capture_output=True, text=True)
            t2 = time.perf_counter()
            back = work / path.name
            restored = back.read_bytes() if back.exists() else None
            exact = restored == data
            same_content = exact
            if not exact and restored is not None and path.suffix.lower() == ".png":
                (pa, ca), (pb, cb) = png_content(data), png_content(restored)
                same_content = pa.dtype == pb.dtype and (pa == pb).all() and ca == cb
            size = omc.stat().st_size if omc.exists() else None
            xz = len(lzma.compress(data, preset=9 | lzma.PRESET_EXTREME))
            rows.append({"file": str(rel), "group": group(rel), "bytes": len(data),
                         "codec": omnicodec.open(omc).codec if omc.exists() else None,
                         "omc_bytes": size, "within_bound": size is not None and size <= size_bound(len(data)),
                         "exact_bytes": exact, "same_content": bool(same_content), "xz9e_bytes": xz,
                         "encode_s": round(t1 - t0, 3), "decode_s": round(t2 - t1, 3),
                         "errors": (enc.stderr + dec.stderr).strip()[-300:]
                         if enc.returncode or dec.returncode else ""})
            print(f"{rel}  {rows[-1]['codec']}  {len(data)} -> {size}  exact={exact} content={same_content}",
                  file=sys.stderr, flush=True)
            for p in work.iterdir():
                p.unlink()
            work.rmdir()
    return rows


def run_memory() -> dict:
    sample = ROOT / "omnicodec" / "samples" / "kodim23.png"
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        blob = Path(tmp) / "big.omc"
        for step in ("encode", "decode"):
            proc = subprocess.run([sys.executable, "-c", MEMORY_CHILD, step, str(blob), str(sample)],
                                  capture_output=True, text=True, check=True)
            peak, base, seconds = (float(v) for v in proc.stdout.split())
            out[step] = {"peak_rss_mb": round(peak, 1), "baseline_rss_mb": round(base, 1),
                         "seconds": round(seconds, 2)}
        out["omc_bytes"] = blob.stat().st_size if blob.exists() else None
    return out


def summarize(rows: list[dict]) -> dict:
    groups: dict[str, dict] = {}
    for r in rows:
        g = groups.setdefault(r["group"], {"files": 0, "bytes": 0, "omc_bytes": 0, "xz9e_bytes": 0,
                                           "byte_exact": 0, "not_exact": 0, "beyond_bound": 0, "codecs": {}})
        g["files"] += 1
        g["bytes"] += r["bytes"]
        g["omc_bytes"] += r["omc_bytes"] or 0
        g["xz9e_bytes"] += r["xz9e_bytes"]
        g["byte_exact"] += r["exact_bytes"]
        g["not_exact"] += not r["same_content"]
        g["beyond_bound"] += not r["within_bound"]
        g["codecs"][r["codec"]] = g["codecs"].get(r["codec"], 0) + 1
    jpegs = [r for r in rows if r["codec"] == "jxl-jpeg"]
    return {"groups": groups,
            "jpeg": {"files": len(jpegs), "bytes": sum(r["bytes"] for r in jpegs),
                     "omc_bytes": sum(r["omc_bytes"] for r in jpegs),
                     "saving": 1 - sum(r["omc_bytes"] for r in jpegs) / max(1, sum(r["bytes"] for r in jpegs)),
                     "byte_exact": sum(r["exact_bytes"] for r in jpegs)}}


def table(result: dict) -> str:
    lines = ["| data | files | MB | default .omc (ratio) | xz -9e (ratio) | codecs | byte for byte | not exact "
             "| beyond bound |", "|---|---:|---:|---:|---:|---|---:|---:|---:|"]
    for name, g in sorted(result["summary"]["groups"].items()):
        codecs = ", ".join(f"{k} {v}" for k, v in sorted(g["codecs"].items(), key=lambda kv: -kv[1]))
        lines.append(f"| {name} | {g['files']} | {g['bytes'] / 1e6:.1f} | {g['bytes'] / g['omc_bytes']:.3f} | "
                     f"{g['bytes'] / g['xz9e_bytes']:.3f} | {codecs} | {g.get('byte_exact', '')} | {g['not_exact']} "
                     f"| {g['beyond_bound']} |")
    j, m = result["summary"]["jpeg"], result["memory"]
    lines += ["", f"JPEG through JPEG XL: {j['files']} files, {j['saving'] * 100:.1f}% smaller, "
              f"{j['byte_exact']} of {j['files']} restored byte for byte.",
              f"Hyperprior 12 MP (4000x3000): encode peak RSS {m['encode']['peak_rss_mb']:.0f} MB "
              f"({m['encode']['seconds']:.1f} s), decode peak RSS {m['decode']['peak_rss_mb']:.0f} MB "
              f"({m['decode']['seconds']:.1f} s; {m['decode']['baseline_rss_mb']:.0f} MB of it is Python, "
              "torch and the weights)."]
    return "\n".join(lines)


def write(result: dict) -> None:
    """The summary indented; the per-file rows as a table ("columns", then one compact line of
    values per file; the group is the file's folder and an empty error is left out)."""
    columns = [k for k in result["files"][0] if k not in ("group", "errors")] + ["errors"]
    rows = [[r.get(k) if k != "errors" else (r.get(k) or None) for k in columns] for r in result["files"]]
    head = json.dumps({k: v for k, v in result.items() if k != "files"}, indent=1)
    body = ",\n".join("  " + json.dumps(r, separators=(",", ":")) for r in rows)
    OUT.write_text(head[:-2] + ',\n "files": {"columns": ' + json.dumps(columns) + ', "rows": [\n' + body
                   + "\n ]}\n}\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--table", action="store_true")
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--memory-only", action="store_true")
    ap.add_argument("--only", metavar="FOLDER", help="rerun the corpus rows of the files under data/FOLDER")
    args = ap.parse_args()
    if args.table:
        print(table(json.loads(OUT.read_text())))
        return
    if args.memory_only or args.only:
        result = json.loads(OUT.read_text())
        columns = result["files"]["columns"]
        result["files"] = [{**{k: (v if k != "errors" else v or "") for k, v in zip(columns, row)},
                            "group": group(Path(row[columns.index("file")]))} for row in result["files"]["rows"]]
        if args.memory_only:
            result["memory"] = {**run_memory(), "date": time.strftime("%Y-%m-%d"),
                                "command": "python benchmarks/fidelity.py --memory-only"}
        else:
            fresh = {r["file"]: r for r in run_corpus(sorted(p for p in (DATA / args.only).rglob("*") if p.is_file()))}
            result["files"] = [fresh.pop(r["file"], r) for r in result["files"]] + list(fresh.values())
            result["summary"] = summarize(result["files"])
            result.setdefault("reruns", []).append({"command": f"python benchmarks/fidelity.py --only {args.only}",
                                                    "date": time.strftime("%Y-%m-%d")})
        write(result)
        print(table(result))
        return
    files = sorted(p for p in DATA.rglob("*") if p.is_file() and p.name != "SOURCES.md")
    rows = run_corpus(files)
    result = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
              "command": "python benchmarks/fidelity.py", "date": time.strftime("%Y-%m-%d"),
              "summary": summarize(rows), "files": rows,
              "memory": json.loads(OUT.read_text())["memory"] if args.skip_memory else run_memory()}
    write(result)
    print(table(result))


if __name__ == "__main__":
    main()
