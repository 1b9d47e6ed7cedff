"""codec archive on dask.distributed: files/s and MB/s on 1 and 2 local workers (this machine has
2 cores), for three trees copied from ../shared/data, against ``tar | zstd -T0`` on the same
tree in the same run.

Trees (copied to a temporary folder, read once before timing so every arm reads from the page
cache):
  logs    logs/ (LogHub: 50 2k-line samples, two full logs): codec zstd (our zstd's default:
          level 19, long-distance matching), and zstd at level 3 without it (``-c zstd`` cannot
          say so yet: the API's ``get_codec("zstd", level=3, long=False)``); anchors
          ``tar | zstd -T0`` (level 3) and ``tar | zstd -19 --long=27 -T0`` (our default's settings)
  images  Kodak (24 PNG), CSet5 + CSet14 (19 PNG), Sun-Hays 80 (80 JPEG): the default choice
          (best lossless per file: WebP-lossless/PNG trials for PNG, JPEG XL recompression or
          bytes codecs for JPEG)
  mixed   logs/loghub, audio/ (WAV), images/kodak, video/ (MP4/Y4M): the default choice

Per run: wall time (the local cluster's start and shutdown included; the start, and the
working time from the cluster's start to the last result, apart), files/s and input MB/s,
output bytes (the .omc files plus the manifest), the workers' time on files, and the time per
file outside the coding (scheduler, transfers, manifest, idle at the tail):
(working time x workers - workers' time on files) / files.  The scheduler's own cost per
task is measured with empty tasks on the 2-worker cluster.  ``verify`` is timed on each archive.

    python benchmarks/archive.py [--trees logs,images,mixed] [--workers 1,2]
        -> benchmarks/results/archive.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "benchmarks" / "results"
# tree -> (folders under ../shared/data, {arm: codec: an id, (id, config) or None for the default})
TREES = {
    "logs": (["logs"], {"zstd": "zstd", "zstd level 3": ("zstd", {"level": 3, "long": False})}),
    "images": (["images/kodak", "images/clic_or_other_test/CSet5", "images/clic_or_other_test/CSet14",
                "images/train/sun_hays80"], {"default": None}),
    "mixed": (["logs/loghub", "audio", "images/kodak", "video"], {"default": None}),
}
ANCHORS = {"tar | zstd -T0": ["zstd", "-T0", "-q", "-c"],
           "tar | zstd -19 --long=27 -T0": ["zstd", "-19", "--long=27", "-T0", "-q", "-c"]}


def build(tree: str, where: Path) -> Path:
    src = where / tree
    for part in TREES[tree][0]:
        shutil.copytree(SHARED / part, src / part)
    for path in src.rglob("*"):  # into the page cache
        if path.is_file():
            path.read_bytes()
    return src


def tree_bytes(root: Path) -> tuple[int, int]:
    files = [p for p in root.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def anchor(src: Path, command: list[str], out: Path) -> dict:
    start = time.perf_counter()
    with out.open("wb") as f:
        tar = subprocess.Popen(["tar", "-cf", "-", "-C", str(src), "."], stdout=subprocess.PIPE)
        subprocess.run(command, stdin=tar.stdout, stdout=f, check=True)
        tar.stdout.close()
        tar.wait()
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "bytes_out": out.stat().st_size}


def run_archive(src: Path, dest: Path, codec, workers: int) -> dict:
    from omnicodec import archive, get_codec

    if isinstance(codec, tuple):
        codec = get_codec(codec[0], **codec[1])
    report = archive.archive(src, dest, codec=codec, workers=workers)
    assert not report.problems, report.problems[:3]
    files, out_bytes = tree_bytes(dest)
    steady = report.working
    check = archive.verify(dest, workers=workers)
    assert not check.problems, check.problems[:3]
    return {"workers": report.workers, "files": report.files, "bytes_in": report.bytes_in,
            "bytes_out": out_bytes, "omc_bytes": report.bytes_out, "seconds": report.seconds,
            "startup_s": report.startup, "working_s": steady, "task_s": report.task_seconds,
            "files_per_s": report.files / report.seconds, "mb_per_s": report.bytes_in / 2**20 / report.seconds,
            "mb_per_s_working": report.bytes_in / 2**20 / steady,
            "overhead_ms_per_file": 1000 * (steady * report.workers - report.task_seconds) / report.files,
            "verify_s": check.seconds, "verify_mb_per_s": check.bytes_out / 2**20 / check.seconds}


def scheduler_cost(n: int = 2000) -> float:
    """Milliseconds per empty task on a 2-worker local cluster (submit to result)."""
    from omnicodec.archive import cluster

    with cluster(2) as client:
        client.gather(client.map(int, range(50)))  # warm
        start = time.perf_counter()
        client.gather(client.map(int, range(n), pure=False))
        return 1000 * (time.perf_counter() - start) / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trees", default="logs,images,mixed")
    ap.add_argument("--workers", default="1,2")
    args = ap.parse_args()
    from omnicodec.archive import BATCH_FILES

    results = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
               "python": platform.python_version(), "command": "python benchmarks/archive.py",
               "zstd": subprocess.run(["zstd", "--version"], capture_output=True, text=True).stdout.strip(),
               "batch_files": BATCH_FILES, "trees": {}}
    with tempfile.TemporaryDirectory(prefix="omc-archive-bench-") as tmp:
        tmp = Path(tmp)
        for tree in args.trees.split(","):
            src = build(tree, tmp / "src")
            files, size = tree_bytes(src)
            row = {"files": files, "bytes": size, "anchors": {}, "arms": {}}
            print(f"{tree}: {files} files, {size / 2**20:.1f} MB", flush=True)
            for name, command in ANCHORS.items():
                row["anchors"][name] = a = anchor(src, command, tmp / "anchor.tar.zst")
                a["mb_per_s"] = size / 2**20 / a["seconds"]
                print(f"  {name:<30} {a['seconds']:7.2f}s {a['mb_per_s']:7.1f} MB/s -> {a['bytes_out']} B", flush=True)
            for arm, codec in TREES[tree][1].items():
                runs = row["arms"][arm] = {"codec": codec or "default (best lossless per file)", "runs": []}
                for w in (int(x) for x in args.workers.split(",")):
                    dest = tmp / f"{tree}-{w}"
                    r = run_archive(src, dest, codec, w)
                    runs["runs"].append(r)
                    print(f"  archive {arm}, {w} worker(s)  {r['seconds']:7.2f}s {r['mb_per_s']:7.1f} MB/s "
                          f"({r['startup_s']:.1f}s start, {r['mb_per_s_working']:.1f} MB/s working) "
                          f"-> {r['bytes_out']} B, {r['files_per_s']:.1f} files/s, "
                          f"{r['overhead_ms_per_file']:.1f} ms/file outside coding, verify {r['verify_s']:.1f}s",
                          flush=True)
                    shutil.rmtree(dest)
                by = {r["workers"]: r for r in runs["runs"]}
                if 1 in by and 2 in by:
                    runs["speedup_2_over_1"] = by[1]["seconds"] / by[2]["seconds"]
                    runs["speedup_2_over_1_working"] = by[1]["working_s"] / by[2]["working_s"]
            results["trees"][tree] = row
            shutil.rmtree(src)
    results["scheduler_ms_per_task"] = scheduler_cost()
    results["scheduler_ms_per_file"] = results["scheduler_ms_per_task"] / BATCH_FILES
    print(f"scheduler: {results['scheduler_ms_per_task']:.2f} ms per empty task", flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "archive.json").write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
