"""What the classical video codecs' wrapper costs: the whole .omc file against the encoder's own
elementary stream, for the same encode (so the same pixels and PSNR), on the shared clips.

For each clip (../shared/data/video/*.y4m, at most --frames frames), codec (x264, x265,
svtav1) and quality, the clip is encoded through the API as new streams are (``new``: the
encoder's elementary stream, SEI left out) and in the layout of streams written before
December 2026 (``legacy``: a Matroska file, the encoders' SEI in it).  ``raw`` is the
encoder's payload as an elementary .264/.265/.obu file holds it with no SEI: the new stream's
DATA section.  Overhead = file bytes / raw bytes - 1 per point; since the pixels are the same
(the tests check it), the BD-rate against raw is the mean of log(file / raw) over the
qualities.

    python benchmarks/video_wrapper.py [--frames 30] [--qualities 30,45,60,75]
        -> benchmarks/results/video_wrapper.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CLIPS = ROOT.parent / "shared" / "data" / "video"
RESULTS = ROOT / "benchmarks" / "results"
CODECS = ("x264", "x265", "svtav1")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--qualities", default="30,45,60,75")
    args = ap.parse_args()
    import numpy as np

    import omnicodec
    from omnicodec import container, registry
    from omnicodec.items import Video

    qualities = [float(q) for q in args.qualities.split(",")]
    rows, summary = [], {}
    for clip in sorted(CLIPS.glob("*.y4m")):
        video = omnicodec.read(clip)
        video = Video(tuple(p[:args.frames] for p in video.planes), video.fps, video.pix_fmt)
        for codec_id in CODECS:
            logs: dict[str, list[float]] = {"new": [], "legacy": []}
            for q in qualities:
                codec = omnicodec.get_codec(codec_id, q)
                blob = omnicodec.encode(video, codec)
                legacy = registry.get_codec_class(codec_id).from_config({**codec.get_config(), "stream": "mkv"})
                row = {"clip": clip.name, "codec": codec_id, "quality": q, "frames": video.planes[0].shape[0],
                       "raw": len(container.unpack(blob).sections["DATA"]), "new": len(blob),
                       "legacy": len(omnicodec.encode(video, legacy))}
                rows.append(row)
                for kind in logs:
                    logs[kind].append(math.log(row[kind] / row["raw"]))
                print(f"{clip.name:<34} {codec_id:<6} q={q:<4g} raw {row['raw']:>8} " + " ".join(
                    f"{kind} {row[kind]:>8} (+{100 * (row[kind] / row['raw'] - 1):.2f}%)" for kind in logs), flush=True)
            for kind, values in logs.items():
                summary.setdefault(codec_id, {}).setdefault(kind, {})[clip.name] = 100 * (math.exp(np.mean(values)) - 1)
    for codec_id, kinds in summary.items():
        for kind, per_clip in kinds.items():
            per_clip["mean"] = float(np.mean(list(per_clip.values())))
            print(f"{codec_id:<6} {kind:<6} BD-rate vs its raw stream: mean {per_clip['mean']:+.2f}%, "
                  f"worst {max(v for k, v in per_clip.items() if k != 'mean'):+.2f}%")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "video_wrapper.json").write_text(json.dumps({
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
        "command": "python benchmarks/video_wrapper.py", "frames": args.frames, "qualities": qualities,
        "bd_rate_vs_raw_percent": summary, "points": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
