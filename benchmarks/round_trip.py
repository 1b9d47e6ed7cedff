"""One file through the CLI's default encode and back, for the benchmarks of the formats the
default opens (tiff.py, gzip_files.py, zip_files.py)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

CODEC = str(Path(__file__).resolve().parents[1] / ".venv" / "bin" / "codec")


def round_trip(data: bytes, name: str, work: Path) -> dict:
    """``codec encode`` of ``data`` as WORK/NAME (default options), then ``codec decode`` of the
    .omc compared byte for byte with ``data``: ``omc_bytes``, ``codec``, ``side_data`` (tag:
    bytes, from ``codec info``), ``exact`` and ``encode_s`` (the CLI process, verification
    included).  Leaves nothing in ``work``."""
    src, omc = work / name, work / (name + ".omc")
    src.write_bytes(data)
    t0 = time.perf_counter()
    subprocess.run([CODEC, "encode", str(src), "-f"], check=True, capture_output=True)
    seconds = time.perf_counter() - t0
    src.unlink()
    subprocess.run([CODEC, "decode", str(omc)], check=True, capture_output=True)
    info = json.loads(subprocess.run([CODEC, "info", str(omc), "--json"], check=True, capture_output=True,
                                     text=True).stdout)
    out = {"omc_bytes": omc.stat().st_size, "codec": info["codec"], "side_data": info.get("side_data", {}),
           "exact": src.read_bytes() == data, "encode_s": round(seconds, 2)}
    src.unlink()
    omc.unlink()
    return out
