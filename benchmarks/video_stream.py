"""stem through files, frame by frame: peak memory and speed of `codec encode`/`codec decode`
on a clip as its length grows, against the same encode and decode of the whole clip in memory
(the API's `encode(read(...))` and `decode(...)`, what a clip read whole costs).

The clip is the shared foreman_cif_60f.y4m played forwards and backwards until it has --frames
frames (CIF, 8-bit 4:2:0); each run is one fresh command (wall seconds, and peak RSS summed over
its processes, sampled at 20 Hz as ``logs.py`` does) with the environment's torch threads.  The
CLI's decode of a clip of several GOPs runs a worker process per core (a GOP a job); the
in-memory decode runs in one process.  ``synthesis``: the in-process decode speed of the first
clip's stream (no workers) with the float32 synthesis new streams use and with the float64 one
of earlier streams, the same payloads.

    OMP_NUM_THREADS=1 python benchmarks/video_stream.py [--frames 30,300,900] [--whole 30,300] [--quality 50]
        -> benchmarks/results/video_stream.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CLIP = ROOT.parent / "shared" / "data" / "video" / "foreman_cif_60f.y4m"
RESULTS = ROOT / "benchmarks" / "results"
BIN = Path(sys.executable).parent

WHOLE_ENCODE = """import sys, omnicodec
from omnicodec.datasets.files import read_item
item = read_item(sys.argv[1], allow_loss=True)
open(sys.argv[2], "wb").write(omnicodec.encode(item, omnicodec.get_codec("stem", float(sys.argv[3]))))"""
WHOLE_DECODE = """import sys, omnicodec
from omnicodec.datasets.files import render
open(sys.argv[2], "wb").write(render(omnicodec.decode(open(sys.argv[1], "rb").read()), ".y4m"))"""


def looped(n: int, path: Path) -> None:
    """``CLIP`` forwards, backwards, forwards... to ``n`` frames, as a .y4m at ``path``."""
    from omnicodec.datasets import y4m

    video = y4m.parse(CLIP.read_bytes())
    t = video.planes[0].shape[0]
    order = [i % (2 * t - 2) for i in range(n)]
    order = [i if i < t else 2 * t - 2 - i for i in order]
    meta = {**video.meta(), "frames": n}
    with path.open("wb") as out:
        y4m.write(out, meta, (tuple(p[i] for p in video.planes) for i in order), None)


def synthesis_fps(omc: Path) -> dict[str, float]:
    """Frames/s of a stem stream decoded in this process (no workers), per synthesis precision."""
    import time

    from omnicodec import container
    from omnicodec.codecs.stem import Stem

    box = container.unpack(omc.read_bytes())
    fps = {}
    for precision in ("float32", "float64"):
        codec = Stem(**{**box.header.config, "synthesis": precision}, workers=1)
        frames = codec.decode_frames(box.sections, box.header.meta, streamed=True)
        next(frames)  # the models load
        t = time.perf_counter()
        n = sum(1 for _ in frames)
        fps[precision] = round(n / (time.perf_counter() - t), 2)
    return fps


def timed(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS MB summed over the command's processes) of a command."""
    from logs import _timed

    seconds, _, rss = _timed(shlex.join(cmd))
    return seconds, rss


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", default="30,300,900", help="clip lengths, streamed through the CLI")
    ap.add_argument("--whole", default="30,300", help="clip lengths also coded whole, in memory")
    ap.add_argument("--quality", type=float, default=50.0)
    args = ap.parse_args()
    q = str(args.quality)
    rows, synthesis = [], None
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for n in (int(v) for v in args.frames.split(",")):
            src = tmp / f"clip{n}.y4m"
            looped(n, src)
            raw_mb = src.stat().st_size / 1e6
            runs = {
                "streamed": ([str(BIN / "codec"), "encode", str(src), "-c", "stem", "-q", q, "-o", str(tmp / "s.omc"),
                              "--force"],
                             [str(BIN / "codec"), "decode", str(tmp / "s.omc"), "-o", str(tmp / "s.y4m"), "--force"]),
                "whole": ([sys.executable, "-c", WHOLE_ENCODE, str(src), str(tmp / "w.omc"), q],
                          [sys.executable, "-c", WHOLE_DECODE, str(tmp / "w.omc"), str(tmp / "w.y4m")]),
            }
            if str(n) not in args.whole.split(","):
                del runs["whole"]
            for path, (enc, dec) in runs.items():
                enc_s, enc_mb = timed(enc)
                dec_s, dec_mb = timed(dec)
                omc = tmp / ("s.omc" if path == "streamed" else "w.omc")
                row = {"frames": n, "path": path, "raw_mb": round(raw_mb, 1), "omc_bytes": omc.stat().st_size,
                       "encode_s": round(enc_s, 2), "encode_fps": round(n / enc_s, 2),
                       "encode_peak_rss_mb": round(enc_mb), "decode_s": round(dec_s, 2),
                       "decode_fps": round(n / dec_s, 2), "decode_peak_rss_mb": round(dec_mb)}
                rows.append(row)
                print(json.dumps(row), flush=True)
            if "whole" in runs:
                same = (tmp / "s.y4m").read_bytes() == (tmp / "w.y4m").read_bytes()
                rows[-1]["same_output_as_streamed"] = rows[-2]["same_output_as_streamed"] = same
            if synthesis is None:
                synthesis = synthesis_fps(tmp / "s.omc")
                print("synthesis", json.dumps(synthesis), flush=True)
    RESULTS.mkdir(exist_ok=True)
    out = {"clip": CLIP.name, "quality": args.quality, "rows": rows, "in_process_decode_fps": synthesis,
           "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
           "command": f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '')} python benchmarks/video_stream.py "
                      + " ".join(sys.argv[1:])}
    (RESULTS / "video_stream.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
