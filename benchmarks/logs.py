"""Log compression benchmark: logzip vs gzip -9, bzip2 -9, xz -9e, zstd -19 --long.

Every (file, compressor) pair runs in a fresh Python process that reads the file, then times
compression and decompression in-process (best of 3 for inputs under 1 MB, else 1), checks the
round trip, and reports its own peak RSS.  Baselines use the standard libraries (zlib/gzip, bz2,
lzma, zstandard) at the settings named; logzip runs through omnicodec's codec API (payload
sections only: the .omc header adds ~250 bytes, included in `omc_bytes`).

    python benchmarks/logs.py [--data ../shared/data/logs]   # writes benchmarks/results/logs.json
    python benchmarks/logs.py --table                         # README table from that file
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CODECS = ["logzip", "gzip-9", "bzip2-9", "xz-9e", "zstd-19-long"]
PUBLISHED = ROOT.parent / "shared" / "data" / "reference" / "loghub_published_ratios.json"

CHILD = r"""
import sys, time, resource, json
sys.path.insert(0, sys.argv[3])
path, name = sys.argv[1], sys.argv[2]
data = open(path, "rb").read()
if name == "logzip":
    import omnicodec
    from omnicodec.items import Bytes
    from omnicodec.codecs.logzip import Logzip
    codec = Logzip()
    enc = lambda d: codec.encode(Bytes(d))
    dec = lambda s: codec.decode(s, {"size": len(data)}).data
    size = lambda s: len(s["INDX"]) + len(s["BLKS"])
    omc = lambda: len(omnicodec.encode(Bytes(data), codec))
else:
    import gzip, bz2, lzma, zstandard
    if name == "gzip-9":
        enc, dec = (lambda d: gzip.compress(d, 9, mtime=0)), gzip.decompress
    elif name == "bzip2-9":
        enc, dec = (lambda d: bz2.compress(d, 9)), bz2.decompress
    elif name == "xz-9e":
        enc, dec = (lambda d: lzma.compress(d, preset=9 | lzma.PRESET_EXTREME)), lzma.decompress
    else:
        params = zstandard.ZstdCompressionParameters.from_level(19, enable_ldm=True, window_log=27)
        enc = lambda d: zstandard.ZstdCompressor(compression_params=params).compress(d)
        dec = lambda s: zstandard.ZstdDecompressor(max_window_size=1 << 27).decompress(s)
    size, omc = len, None
reps = 3 if len(data) < 1 << 20 else 1
def best(fn, arg):
    times = []
    for _ in range(reps):
        t = time.perf_counter(); out = fn(arg); times.append(time.perf_counter() - t)
    return min(times), out
t_enc, packed = best(enc, data)
t_dec, back = best(dec, packed)
assert back == data, "round trip failed"
print(json.dumps({"bytes": size(packed), "enc_s": t_enc, "dec_s": t_dec,
                  "omc_bytes": omc() if omc else None,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run(path: Path, name: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(path), name, str(ROOT)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def table() -> str:
    r = json.loads((ROOT / "benchmarks" / "results" / "logs.json").read_text())
    lines = ["| file | MB | logzip | xz -9e | zstd -19 --long | bzip2 -9 | gzip -9 | logzip enc / dec MB/s "
             "| xz -9e enc / dec MB/s | zstd dec MB/s | logzip / xz peak RSS MB |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in r["rows"]:
        z, x, s = row["logzip"], row["xz-9e"], row["zstd-19-long"]
        lines.append(f"| {row['file']} | {row['bytes'] / 1e6:.2f} | **{z['ratio']:.2f}** | {x['ratio']:.2f} | "
                     f"{s['ratio']:.2f} | {row['bzip2-9']['ratio']:.2f} | {row['gzip-9']['ratio']:.2f} | "
                     f"{z['enc_mb_s']:.2f} / {z['dec_mb_s']:.1f} | {x['enc_mb_s']:.2f} / {x['dec_mb_s']:.1f} | "
                     f"{s['dec_mb_s']:.0f} | {z['peak_rss_mb']:.0f} / {x['peak_rss_mb']:.0f} |")
    m = r["summary"]["mean_ratio_2k"]
    lines.append(f"| **mean of the 16 2k files** | | **{m['logzip']:.2f}** | {m['xz-9e']:.2f} | "
                 f"{m['zstd-19-long']:.2f} | {m['bzip2-9']:.2f} | {m['gzip-9']:.2f} | | | | |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "logs"))
    ap.add_argument("--table", action="store_true", help="print the README table and exit")
    args = ap.parse_args()
    if args.table:
        print(table())
        return
    data = Path(args.data)
    files = sorted(data.glob("loghub/*/*_2k.log")) + sorted(data.glob("large/*.log"))
    rows = []
    for f in files:
        size = f.stat().st_size
        row = {"file": f.name, "bytes": size}
        for name in CODECS:
            r = run(f, name)
            row[name] = {"ratio": size / r["bytes"], "enc_mb_s": size / r["enc_s"] / 1e6,
                         "dec_mb_s": size / r["dec_s"] / 1e6, "peak_rss_mb": r["peak_rss_mb"],
                         "bytes": r["bytes"], "enc_s": r["enc_s"], "dec_s": r["dec_s"]}
            if r["omc_bytes"]:
                row[name]["omc_ratio"] = size / r["omc_bytes"]
        rows.append(row)
        print(f"{f.name:<22}" + "".join(f" {n}={row[n]['ratio']:.2f}" for n in CODECS), flush=True)

    small = [r for r in rows if r["file"].endswith("_2k.log")]
    mean = {n: sum(r[n]["ratio"] for r in small) / len(small) for n in CODECS}
    summary = {
        "mean_ratio_2k": mean,
        "logzip_over_xz_mean_ratio_2k": mean["logzip"] / mean["xz-9e"],
        "encode_time_logzip_over_xz": {r["file"]: r["logzip"]["enc_s"] / r["xz-9e"]["enc_s"] for r in rows},
        "decode_time_logzip_over_zstd": {r["file"]: r["logzip"]["dec_s"] / r["zstd-19-long"]["dec_s"] for r in rows},
    }
    published = json.loads(PUBLISHED.read_text())["ratios"] if PUBLISHED.exists() else {}
    out = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
           "python": platform.python_version(), "command": "python benchmarks/logs.py",
           "rows": rows, "summary": summary,
           "published_full_dataset_ratios": {k: published.get(k) for k in ("Linux", "Proxifier")}}
    (ROOT / "benchmarks" / "results" / "logs.json").write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(summary["mean_ratio_2k"], indent=1), summary["logzip_over_xz_mean_ratio_2k"])


if __name__ == "__main__":
    main()
