"""ZIP files through the default encode: the deflated members expanded, byte-exact back.

ZIPs made here from what the machine has, each two ways, Python's zipfile (zlib, level 6) and
Info-ZIP's ``zip -9`` (its own deflater): this project's Python sources (text, many small
members), the 16 LogHub samples (logs), and Kodak's 24 PNGs (members already compressed: the
default should keep the ZIP's bytes).  For each ZIP, in the same run: the whole .omc of
``codec encode`` (default options; then ``codec decode`` compared byte for byte), ``xz -9e`` and
``zstd -19`` of the ZIP (what keeping the bytes gets), and ``xz -9e`` of a tar of the members
(what a user who unpacks and recompresses gets, giving up the ZIP's bytes).

    python benchmarks/zip_files.py       -> benchmarks/results/zip_files.json
"""

from __future__ import annotations

import io
import json
import lzma
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

import zstandard

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
OUT = ROOT / "benchmarks" / "results" / "zip_files.json"
sys.path.insert(0, str(ROOT / "benchmarks"))
from round_trip import round_trip  # noqa: E402

SETS = {"sources": lambda: sorted((ROOT / "omnicodec").rglob("*.py")),
        "logs": lambda: sorted((DATA / "logs" / "loghub").rglob("*.log")),
        "kodak PNGs": lambda: sorted((DATA / "images" / "kodak").glob("*.png"))}


def zipped(files: list[Path], base: Path, writer: str, work: Path) -> bytes:
    if writer == "zipfile":
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
            for f in files:
                z.write(f, f.relative_to(base))
        return out.getvalue()
    target = work / "made.zip"
    subprocess.run(["zip", "-q", "-9", "-X", str(target), *(str(f.relative_to(base)) for f in files)], cwd=base,
                   check=True)
    data = target.read_bytes()
    target.unlink()
    return data


def tar_xz(files: list[Path], base: Path) -> int:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as t:
        for f in files:
            t.add(f, str(f.relative_to(base)))
    return len(lzma.compress(out.getvalue(), preset=9 | lzma.PRESET_EXTREME))


def measure(data: bytes, work: Path) -> dict:
    done = round_trip(data, "x.zip", work)
    return {"zip_bytes": len(data), "omc_bytes": done["omc_bytes"], "codec": done["codec"],
            "expanded": "zipz" in done["side_data"], "exact": done["exact"], "encode_s": done["encode_s"],
            "xz9e_bytes": len(lzma.compress(data, preset=9 | lzma.PRESET_EXTREME)),
            "zstd19_bytes": len(zstandard.ZstdCompressor(level=19).compress(data))}


def main() -> None:
    rows = []
    writers = ["zipfile"] + (["zip -9"] if shutil.which("zip") else [])
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name, pick in SETS.items():
            files = pick()
            base = Path(os.path.commonpath([f.parent for f in files]))
            anchor = tar_xz(files, base)
            for writer in writers:
                row = {"set": name, "writer": writer, "members": len(files),
                       **measure(zipped(files, base, writer, work), work), "tar_xz9e_bytes": anchor}
                rows.append(row)
                print(json.dumps(row), flush=True)
    result = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
              "command": "python benchmarks/zip_files.py", "date": time.strftime("%Y-%m-%d"), "rows": rows}
    OUT.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
