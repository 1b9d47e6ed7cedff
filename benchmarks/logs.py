"""Log compression benchmark: logzip vs gzip -9, bzip2 -9, xz -9e, zstd -19 --long.

Every (file, compressor) pair runs in a fresh Python process that reads the file, then times
compression and decompression in-process (best of 3 for inputs under 1 MB, else 1), checks the
round trip, and reports its own peak RSS.  Baselines use the standard libraries (zlib/gzip, bz2,
lzma, zstandard) at the settings named; logzip runs through omnicodec's codec API (payload
sections only: the .omc header adds ~100 bytes, included in `omc_bytes`).  ``logzip`` decodes
with the kernel twins a fresh process picks (NumPy below 4 MiB blocks: numba's start-up would
cost more), ``logzip-compiled`` with the compiled twins, warmed by one decode first.

The other-format rows are logs of formats the project never tuned for, as this machine (a
Debian image) has them: its package manager's logs and the test-suite logs Debian ships with
gdb and OpenJDK (``OTHER``; compressed ones unpacked first, each recorded with its SHA-256).

The scale rows (``--scale``) use a generated log (benchmarks/loggen.py, 1 GB by default) through
the CLI: encode and decode time and peak RSS against zstd -19 --long (zstd's own CLI, 2
threads) and xz -9e (2 threads), 1,000-line ranges (``--lines``, in a warm process through the
API and as CLI calls), and ``codec grep -c`` against ``zstdcat | grep -c`` for a rare and a
common pattern, and the common pattern's lines printed (without ``-c``).

    python benchmarks/logs.py [--data ../shared/data/logs]   # writes benchmarks/results/logs.json
    python benchmarks/logs.py --scale [--big /tmp/gen1g.log]  # adds the scale rows (~30 min)
    python benchmarks/logs.py --slack                         # adds the fast_slack sweep (~3 min)
    python benchmarks/logs.py --table                         # README table from that file
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CODECS = ["logzip", "logzip-compiled", "gzip-9", "bzip2-9", "xz-9e", "zstd-19-long"]
PUBLISHED = ROOT.parent / "shared" / "data" / "reference" / "loghub_published_ratios.json"
OTHER = ("/var/log/dpkg.log", "/var/log/apt/term.log", "/var/log/apt/history.log", "/var/log/alternatives.log",
         "/var/log/apt/eipp.log.xz", "/usr/share/doc/gdb/check.log.gz",
         "/usr/share/doc/openjdk-17-jre-headless/test-amd64/check-jdk-hotspot.log.gz",
         "/usr/share/doc/openjdk-17-jre-headless/test-amd64/jtreg_output-hotspot.log.gz")

CHILD = r"""
import sys, time, resource, json
sys.path.insert(0, sys.argv[3])
path, name = sys.argv[1], sys.argv[2]
data = open(path, "rb").read()
if name.startswith("logzip"):
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
if name == "logzip-compiled":
    dec(packed)  # loads (or compiles) the kernels
t_dec, back = best(dec, packed)
assert back == data, "round trip failed"
print(json.dumps({"bytes": size(packed), "enc_s": t_enc, "dec_s": t_dec,
                  "omc_bytes": omc() if omc else None,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def measure(files: list[Path], digests: bool = False) -> list[dict]:
    """A row per file: each compressor's ratio, speeds and peak RSS (``run``)."""
    rows = []
    for f in files:
        size = f.stat().st_size
        row = {"file": f.name, "bytes": size}
        if digests:
            row["sha256"] = hashlib.sha256(f.read_bytes()).hexdigest()
        for name in CODECS:
            r = run(f, name)
            row[name] = {"ratio": size / r["bytes"], "enc_mb_s": size / r["enc_s"] / 1e6,
                         "dec_mb_s": size / r["dec_s"] / 1e6, "peak_rss_mb": r["peak_rss_mb"],
                         "bytes": r["bytes"], "enc_s": r["enc_s"], "dec_s": r["dec_s"]}
            if r["omc_bytes"]:
                row[name]["omc_ratio"] = size / r["omc_bytes"]
        rows.append(row)
        print(f"{f.name:<22}" + "".join(f" {n}={row[n]['ratio']:.2f}" for n in CODECS), flush=True)
    return rows


def _unpacked(paths: tuple[str, ...], tmp: Path) -> list[Path]:
    """The files of ``paths`` this machine has, gzip and xz ones unpacked into ``tmp``."""
    import gzip
    import lzma

    out = []
    for p in map(Path, paths):
        if not p.is_file():
            continue
        opener = {".gz": gzip.open, ".xz": lzma.open}.get(p.suffix)
        if opener is None:
            out.append(p)
            continue
        with opener(p, "rb") as f:
            (tmp / p.stem).write_bytes(f.read())
        out.append(tmp / p.stem)
    return out


def run(path: Path, name: str) -> dict:
    env = {**os.environ, **({"OMNICODEC_KERNELS": "cpu"} if name == "logzip-compiled" else {})}
    out = subprocess.run([sys.executable, "-c", CHILD, str(path), name, str(ROOT)],
                         capture_output=True, text=True, check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def table() -> str:
    r = json.loads((ROOT / "benchmarks" / "results" / "logs.json").read_text())
    lines = ["| file | MB | logzip | xz -9e | zstd -19 --long | bzip2 -9 | gzip -9 "
             "| logzip enc / dec / dec compiled MB/s | xz -9e enc / dec MB/s | zstd dec MB/s "
             "| logzip / xz peak RSS MB |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    def row_line(row: dict) -> str:
        z, c, x, s = row["logzip"], row["logzip-compiled"], row["xz-9e"], row["zstd-19-long"]
        return (f"| {row['file']} | {row['bytes'] / 1e6:.2f} | **{z['ratio']:.2f}** | {x['ratio']:.2f} | "
                f"{s['ratio']:.2f} | {row['bzip2-9']['ratio']:.2f} | {row['gzip-9']['ratio']:.2f} | "
                f"{z['enc_mb_s']:.2f} / {z['dec_mb_s']:.1f} / {c['dec_mb_s']:.1f} | "
                f"{x['enc_mb_s']:.2f} / {x['dec_mb_s']:.1f} | {s['dec_mb_s']:.0f} | "
                f"{z['peak_rss_mb']:.0f} / {x['peak_rss_mb']:.0f} |")
    lines += [row_line(row) for row in r["rows"]]
    m = r["summary"]["mean_ratio_2k"]
    lines.append(f"| **mean of the 16 2k files** | | **{m['logzip']:.2f}** | {m['xz-9e']:.2f} | "
                 f"{m['zstd-19-long']:.2f} | {m['bzip2-9']:.2f} | {m['gzip-9']:.2f} | | | | |")
    if r.get("other_rows"):
        lines += ["", "Logs of formats never tuned for (this machine's, see the benchmark's docstring):", "",
                  *lines[:2]]
        lines += [row_line(row) for row in r["other_rows"]]
        m = r["summary"]["mean_ratio_other"]
        lines.append(f"| **mean of these {len(r['other_rows'])}** | | **{m['logzip']:.2f}** | {m['xz-9e']:.2f} | "
                     f"{m['zstd-19-long']:.2f} | {m['bzip2-9']:.2f} | {m['gzip-9']:.2f} | | | | |")
    big = r.get("scale")
    if big:
        lines += ["", f"Generated log ({big['file']}, {big['bytes'] / 1e9:.2f} GB, {big['lines']:,} lines; "
                  "CLI, 2 cores):", "",
                  "| compressor | ratio | encode MB/s | decode MB/s | encode / decode peak RSS MB (all processes) |",
                  "|---|---:|---:|---:|---:|"]
        for name in ("logzip", "xz-9e", "zstd-19-long"):
            b = big[name]
            mark = "*" if b.get("encode_from_earlier_run") else ""
            lines.append(f"| {name} | {b['ratio']:.2f} | {b['enc_mb_s']:.2f}{mark} | {b['dec_mb_s']:.1f} | "
                         f"{b['enc_peak_rss_mb']:.0f}{mark} / {b['dec_peak_rss_mb']:.0f} |")
        if any(big[n].get("encode_from_earlier_run") for n in ("xz-9e", "zstd-19-long")):
            lines += ["", "\\* from the first scale run on the same file and machine (`--reuse-baselines`: "
                      "xz -9e took 14 minutes)."]
    if r.get("fast_slack_sweep"):
        lines += ["", "| structure | fast_slack | 2k mean ratio | 2k mean MB/s | Linux / Proxifier ratio "
                  "| Linux / Proxifier MB/s | generated 4 MB block ratio | its MB/s |",
                  "|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for w in r["fast_slack_sweep"]:
            lines.append(f"| {w.get('structure', 1)} | {w['fast_slack']} | {w['mean_ratio_2k']:.2f} | "
                         f"{w['mean_dec_mb_s_2k']:.0f} | {w['ratio_Linux']:.2f} / {w['ratio_Proxifier']:.2f} | "
                         f"{w['dec_mb_s_Linux']:.0f} / {w['dec_mb_s_Proxifier']:.0f} | "
                         f"{w['ratio_generated_4mb']:.2f} | {w['dec_mb_s_generated_4mb']:.0f} |")
    return "\n".join(lines)


_RSS = r"""
import os, subprocess, sys, time
proc = subprocess.Popen(["bash", "-c", sys.argv[1]], start_new_session=True)
page, peak = os.sysconf("SC_PAGE_SIZE"), 0
while proc.poll() is None:
    total = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == proc.pid:  # the command's process group: bash, its children, workers
            total += int(fields[21]) * page
    peak = max(peak, total)
    time.sleep(0.05)
print(peak // 1024, proc.returncode)
"""


def _timed(cmd: str) -> tuple[float, str, float]:
    """(seconds, stdout, peak RSS MB summed over the command's processes, sampled at 20 Hz) of
    a shell command."""
    import time

    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", _RSS, cmd], capture_output=True, text=True)
    took = time.perf_counter() - t
    *text, last = out.stdout.rstrip("\n").split("\n")
    peak, status = map(int, last.split())
    if status not in (0, 1):
        raise RuntimeError(f"{cmd}: {out.stderr.strip()[-300:]}")
    return took, "\n".join(text) + ("\n" if text else ""), peak / 1024


def scale(big: Path, mb: float, reuse: bool = False) -> dict:
    """The scale rows on a generated log (see the module docstring)."""
    # commands run as from an installed package, whose modules are compiled once (pip does it
    # on install): an environment that forbids writing bytecode would recompile omnicodec in
    # every command, about 55 ms of a one-off line range
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    import random
    import statistics

    sys.path.insert(0, str(ROOT))
    from loggen import RARE, generate

    if not big.exists():
        generate(str(big), mb)
    codec = str(Path(sys.executable).with_name("codec"))
    size, omc, zst, xz = big.stat().st_size, Path(f"{big}.omc"), Path(f"{big}.zst"), Path(f"{big}.xz")
    lines = int(subprocess.run(["wc", "-l", str(big)], capture_output=True, text=True).stdout.split()[0])
    row: dict = {"file": big.name, "bytes": size, "lines": lines}
    earlier = json.loads((ROOT / "benchmarks" / "results" / "logs.json").read_text()).get("scale", {})
    for name, cmd, out in (("logzip", f"{codec} encode {big} -o {omc} -f --quiet", omc),
                           ("zstd-19-long", f"zstd -q -19 --long=27 -T2 -f {big} -o {zst}", zst),
                           ("xz-9e", f"xz -9e -T2 -k -c {big} > {xz}", xz)):
        if reuse and name != "logzip" and out.exists() and earlier.get(name, {}).get("bytes") == out.stat().st_size \
                and earlier.get("bytes") == size:  # the same output of the same file: its earlier encode row
            row[name] = {k: v for k, v in earlier[name].items() if k.startswith(("ratio", "bytes", "enc"))}
            row[name]["encode_from_earlier_run"] = True
            continue
        t, _, rss = _timed(cmd)
        row[name] = {"ratio": size / out.stat().st_size, "bytes": out.stat().st_size, "enc_s": t,
                     "enc_mb_s": size / t / 1e6, "enc_peak_rss_mb": rss}
        print(name, row[name], flush=True)
    back = Path(f"{big}.back")
    for name, cmd in (("logzip", f"{codec} decode {omc} -o {back} -f --quiet"),
                      ("zstd-19-long", f"zstd -q -d --long=27 -f {zst} -o {back}"),
                      ("xz-9e", f"xz -d -T2 -c {xz} > {back}")):
        t, _, rss = _timed(cmd)  # decoding to a file, as each tool's CLI does; checked after the clock
        if subprocess.run(["cmp", "-s", str(big), str(back)]).returncode:
            raise RuntimeError(f"{name}: the decoded file differs")
        row[name].update(dec_s=t, dec_mb_s=size / t / 1e6, dec_peak_rss_mb=rss)
    back.unlink(missing_ok=True)
    rng = random.Random(0)
    starts = [rng.randrange(1, lines - 1000) for _ in range(20)]
    probe = ("import sys, time, json; sys.path.insert(0, sys.argv[1]); from omnicodec import api\n"
             "from omnicodec.container import open_sections\n"
             "out = []\n"
             "with open_sections(sys.argv[2]) as box:\n"
             "    h = box.header; api._codec_class(h); dec = api._decoder(h)\n"
             "    for a in json.loads(sys.argv[3]):\n"
             "        t = time.perf_counter()\n"
             "        text = dec.decode_lines(api._payload(box.sections), h.meta, a, a + 1000)\n"
             "        out.append(time.perf_counter() - t); assert text.count(b'\\n') == 1000\n"
             "print(json.dumps(out))")
    warm = json.loads(subprocess.run([sys.executable, "-c", probe, str(ROOT), str(omc), json.dumps(starts)],
                                     capture_output=True, text=True, check=True).stdout)
    cli = [_timed(f"{codec} decode {omc} --lines {a + 1}:{a + 1000} -o {big}.part -f --quiet")[0]
           for a in starts[:5]]
    Path(f"{big}.part").unlink(missing_ok=True)
    row["lines_1000"] = {"api_first_ms": warm[0] * 1e3, "api_median_ms": statistics.median(warm[1:]) * 1e3,
                         "api_max_ms": max(warm[1:]) * 1e3, "cli_median_ms": statistics.median(cli) * 1e3}
    row["grep"] = {}
    for label, pattern in (("rare", RARE.split(": ")[-1]), ("common", "ERROR")):
        ours = [_timed(f"{codec} grep -F -c '{pattern}' {omc}") for _ in range(3)]
        theirs = [_timed(f"zstd -q -d --long=27 -c {zst} | LC_ALL=C grep -F -c '{pattern}'") for _ in range(3)]
        assert ours[0][1] == theirs[0][1], (pattern, ours[0][1], theirs[0][1])
        row["grep"][label] = {"pattern": pattern, "count": int(ours[0][1]),
                              "codec_grep_s": statistics.median(o[0] for o in ours),
                              "zstdcat_grep_s": statistics.median(o[0] for o in theirs)}
    # the common pattern's lines printed (to a file, compared after the clock)
    ours = [_timed(f"{codec} grep -F ERROR {omc} > {big}.ours")[0] for _ in range(3)]
    theirs = [_timed(f"zstd -q -d --long=27 -c {zst} | LC_ALL=C grep -F ERROR > {big}.theirs")[0] for _ in range(3)]
    if subprocess.run(["cmp", "-s", f"{big}.ours", f"{big}.theirs"]).returncode:
        raise RuntimeError("codec grep printed other lines than grep")
    row["grep"]["common_printed"] = {"pattern": "ERROR", "codec_grep_s": statistics.median(ours),
                                     "zstdcat_grep_s": statistics.median(theirs)}
    for suffix in (".ours", ".theirs"):
        Path(f"{big}{suffix}").unlink(missing_ok=True)
    print(json.dumps(row, indent=1), flush=True)
    return row


def slack_sweep(data_dir: Path, big: Path, settings: list[tuple[int, float]]) -> list[dict]:
    """Ratio and decode speed (compiled twins, best of 3, in this process) of single blocks
    encoded with each (``structure``, ``fast_slack``): the 16 2k files, the full Linux and
    Proxifier logs, and the first 4 MB of the generated log (a default-sized block)."""
    import time

    os.environ["OMNICODEC_KERNELS"] = "cpu"
    sys.path.insert(0, str(ROOT))
    from omnicodec.codecs.logzip import Logzip
    from omnicodec.codecs.logzip.blocks import decode_block, encode_block

    files = sorted(data_dir.glob("loghub/*/*_2k.log")) + sorted(data_dir.glob("large/*.log"))
    datas = [f.read_bytes() for f in files]
    with open(big, "rb") as f:
        head = f.read(4_000_000)
    datas.append(head[:head.rfind(b"\n") + 1])
    decode_block(encode_block(datas[0], 0.02, Logzip.block_layout), len(datas[0]))  # loads the kernels

    def speed(data: bytes, block: bytes) -> float:
        best = float("inf")
        for _ in range(3):
            t = time.perf_counter()
            decode_block(block, len(data))
            best = min(best, time.perf_counter() - t)
        return len(data) / best / 1e6

    rows = []
    for structure, slack in settings:
        blocks = [encode_block(d, slack, Logzip.block_layout, structure) for d in datas]
        ratio = [len(d) / len(b) for d, b in zip(datas, blocks)]
        mb_s = [speed(d, b) for d, b in zip(datas, blocks)]
        rows.append({"structure": structure, "fast_slack": slack, "mean_ratio_2k": sum(ratio[:16]) / 16,
                     "mean_dec_mb_s_2k": sum(mb_s[:16]) / 16,
                     **{f"ratio_{f.stem}": r for f, r in zip(files[16:], ratio[16:18])},
                     **{f"dec_mb_s_{f.stem}": v for f, v in zip(files[16:], mb_s[16:18])},
                     "ratio_generated_4mb": ratio[-1], "dec_mb_s_generated_4mb": mb_s[-1]})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "logs"))
    ap.add_argument("--table", action="store_true", help="print the README table and exit")
    ap.add_argument("--scale", action="store_true", help="only the scale rows, added to the results file")
    ap.add_argument("--big", default="/tmp/omnicodec-gen1g.log", help="the generated log (made if missing)")
    ap.add_argument("--mb", type=float, default=1024, help="its size when it is made")
    ap.add_argument("--slack", action="store_true", help="only the fast_slack sweep, added to the results file")
    ap.add_argument("--reuse-baselines", action="store_true", help="keep the zstd and xz encode rows of the "
                    "last scale run when their outputs of the same file are still there (xz -9e takes 14 min)")
    args = ap.parse_args()
    if args.table:
        print(table())
        return
    if args.slack:
        path = ROOT / "benchmarks" / "results" / "logs.json"
        results = json.loads(path.read_text())
        sys.path.insert(0, str(ROOT))
        from omnicodec.codecs.logzip import Logzip

        settings = ([(Logzip.structure, s) for s in (0, 0.005, 0.01, 0.02, 0.03)]
                    + [(s, Logzip.fast_slack) for s in range(Logzip.structure - 1, 0, -1)])
        results["fast_slack_sweep"] = slack_sweep(Path(args.data), Path(args.big), settings)
        results["fast_slack_command"] = "python benchmarks/logs.py --slack"
        path.write_text(json.dumps(results, indent=1) + "\n")
        return
    if args.scale:
        path = ROOT / "benchmarks" / "results" / "logs.json"
        results = json.loads(path.read_text())
        results["scale"] = scale(Path(args.big), args.mb, args.reuse_baselines)
        results["scale_command"] = "python benchmarks/logs.py --scale"
        path.write_text(json.dumps(results, indent=1) + "\n")
        return
    data = Path(args.data)
    rows = measure(sorted(data.glob("loghub/*/*_2k.log")) + sorted(data.glob("large/*.log")))
    with tempfile.TemporaryDirectory() as tmp:
        other = measure(_unpacked(OTHER, Path(tmp)), digests=True)

    small = [r for r in rows if r["file"].endswith("_2k.log")]
    mean = {n: sum(r[n]["ratio"] for r in small) / len(small) for n in CODECS}
    mean_other = {n: sum(r[n]["ratio"] for r in other) / len(other) for n in CODECS} if other else {}
    summary = {
        "mean_ratio_2k": mean,
        "logzip_over_xz_mean_ratio_2k": mean["logzip"] / mean["xz-9e"],
        "mean_ratio_other": mean_other,
        "logzip_over_xz_mean_ratio_other": mean_other["logzip"] / mean_other["xz-9e"] if other else None,
        "encode_time_logzip_over_xz": {r["file"]: r["logzip"]["enc_s"] / r["xz-9e"]["enc_s"] for r in rows},
        "decode_time_logzip_over_zstd": {r["file"]: r["logzip"]["dec_s"] / r["zstd-19-long"]["dec_s"] for r in rows},
    }
    published = json.loads(PUBLISHED.read_text())["ratios"] if PUBLISHED.exists() else {}
    out = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
           "python": platform.python_version(), "command": "python benchmarks/logs.py",
           "rows": rows, "other_rows": other, "summary": summary,
           "published_full_dataset_ratios": {k: published.get(k) for k in ("Linux", "Proxifier")}}
    path = ROOT / "benchmarks" / "results" / "logs.json"
    kept = {k: v for k, v in json.loads(path.read_text()).items()
            if k.startswith(("scale", "fast_slack"))} if path.exists() else {}  # the other modes' rows
    path.write_text(json.dumps({**out, **kept}, indent=1) + "\n")
    print(json.dumps(summary["mean_ratio_2k"], indent=1), summary["logzip_over_xz_mean_ratio_2k"],
          summary["logzip_over_xz_mean_ratio_other"])


if __name__ == "__main__":
    main()
