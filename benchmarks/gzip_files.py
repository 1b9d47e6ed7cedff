"""gzip and bzip2 files through the default encode: rotated logs as logrotate leaves them.

Each log of ../shared/data/logs (the 2k-line LogHub samples and the large Linux and Proxifier
logs) is compressed five ways: gzip(1) -6 (logrotate's default), gzip(1) -9, Python's gzip
module (zlib, level 9, as many programs write them), BGZF (``_bgzf``: a member per 64 KiB, as
bgzip writes genomics files) and bzip2(1) -9.  For each file, in the same run: the whole
.omc of ``codec encode`` (default options; then ``codec decode`` compared byte for byte with the
.gz), ``xz -9e`` of the .gz (what an archiver that keeps the bytes gets), and, as the anchors a
user who gives up the .gz bytes would reach, ``xz -9e`` of the content and the .omc of the
content itself.  Sizes are whole files; times are the encode's seconds (the CLI process,
verification included) on this machine.

Apart from the means: a generated 60 MB log (``loggen.py``, seed 0) through gzip(1) -6, a .gz
past the size from which a default encode streams a file (``api.STREAM_MIN``), against its
.gz through xz -9e and its content through xz -9e and ``codec encode``.

    python benchmarks/gzip_files.py       -> benchmarks/results/gzip_files.json

(Field names say gz for either format.)
"""

from __future__ import annotations

import gzip
import json
import lzma
import os
import platform
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "logs"
OUT = ROOT / "benchmarks" / "results" / "gzip_files.json"
sys.path.insert(0, str(ROOT / "benchmarks"))
from round_trip import round_trip  # noqa: E402


def _bgzf(data: bytes, block: int = 65280) -> bytes:
    """BGZF, as bgzip and htslib write genomics files (zlib's level 6 by default): a gzip
    member per ``block`` bytes with a BC extra field giving its size, then the empty member
    that marks the end."""
    out = []
    for i in range(0, len(data), block):
        part = data[i:i + block]
        z = zlib.compressobj(6, zlib.DEFLATED, -15)
        stream = z.compress(part) + z.flush()
        head = b"\x1f\x8b\x08\x04" + bytes(4) + b"\x00\xff\x06\x00BC\x02\x00"
        out.append(head + struct.pack("<H", len(head) + 2 + len(stream) + 7) + stream
                   + struct.pack("<II", zlib.crc32(part), len(part)))
    return b"".join(out) + bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")


WRITERS = {"gzip -6": lambda d: _cli(d, "gzip", "-6", "-n"), "gzip -9": lambda d: _cli(d, "gzip", "-9", "-n"),
           "python gzip": lambda d: gzip.compress(d, 9, mtime=0), "bgzf": _bgzf,
           "bzip2 -9": lambda d: _cli(d, "bzip2", "-9")}


def _cli(data: bytes, *command: str) -> bytes:
    return subprocess.run([*command, "-c"], input=data, capture_output=True, check=True).stdout


def _big(mb: float = 60) -> dict:
    """The generated log's row (see the module docstring)."""
    from loggen import generate

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        generate(str(work / "big.log"), mb, 0)
        content = (work / "big.log").read_bytes()
        (work / "big.log").unlink()
        gz = WRITERS["gzip -6"](content)
        done = round_trip(gz, "big.log.gz", work)
        row = {"content_bytes": len(content), "gz_bytes": len(gz), "omc_bytes": done["omc_bytes"],
               "codec": done["codec"], "exact": done["exact"], "encode_s": done["encode_s"],
               "xz9e_of_gz_bytes": len(lzma.compress(gz, preset=9 | lzma.PRESET_EXTREME)),
               "xz9e_of_content_bytes": len(lzma.compress(content, preset=9 | lzma.PRESET_EXTREME)),
               "omc_of_content_bytes": round_trip(content, "big.log", work)["omc_bytes"]}
    print("generated log:", row, flush=True)
    return row


def main() -> None:
    logs = sorted(p for p in DATA.rglob("*.log"))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for path in logs:
            content = path.read_bytes()
            plain = round_trip(content, path.name, work)["omc_bytes"]
            xz_content = len(lzma.compress(content, preset=9 | lzma.PRESET_EXTREME))
            for writer, make in WRITERS.items():
                gz = make(content)
                done = round_trip(gz, path.name + (".bz2" if "bzip2" in writer else ".gz"), work)
                size, codec, exact = done["omc_bytes"], done["codec"], done["exact"]
                rows.append({"file": str(path.relative_to(DATA)), "writer": writer, "content_bytes": len(content),
                             "gz_bytes": len(gz), "omc_bytes": size, "codec": codec, "exact": exact,
                             "encode_s": done["encode_s"],
                             "xz9e_of_gz_bytes": len(lzma.compress(gz, preset=9 | lzma.PRESET_EXTREME)),
                             "xz9e_of_content_bytes": xz_content, "omc_of_content_bytes": plain})
                r = rows[-1]
                print(f"{r['file']} {writer}: .gz {r['gz_bytes']} -> {size} ({codec}, exact={exact}); "
                      f"xz of .gz {r['xz9e_of_gz_bytes']}, content: xz {xz_content}, .omc {plain}", flush=True)
    summary = {}
    for writer in WRITERS:
        group = [r for r in rows if r["writer"] == writer]
        gz = sum(r["gz_bytes"] for r in group)
        summary[writer] = {"files": len(group), "gz_bytes": gz, "exact": sum(r["exact"] for r in group),
                           "codecs": sorted({r["codec"] for r in group}),
                           "encode_s_mean": round(sum(r["encode_s"] for r in group) / len(group), 2),
                           **{f"ratio_{k[:-6]}": round(gz / sum(r[k] for r in group), 3)
                              for k in ("omc_bytes", "xz9e_of_gz_bytes", "xz9e_of_content_bytes",
                                        "omc_of_content_bytes")}}
    result = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
              "command": "python benchmarks/gzip_files.py", "date": time.strftime("%Y-%m-%d"),
              "summary": summary, "big": _big(), "files": rows}
    OUT.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
