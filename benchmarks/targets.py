"""How close the rate targets land (``codec encode --bpp / -b``, ``omnicodec.Target``): each
target is met from below by searching the codec's quality, so the measure is achieved / asked
(1.0 is exact, never above) and the encodes' wall time.

Cases: kodim23 (the bundled photo) at 0.25, 0.5 and 1 bpp through WebP, JPEG, AVIF and the
hyperprior; every shared clip (at most 30 frames) at 300 kbit/s through x264, x265 and SVT-AV1;
the shared piano and speech sounds at 48 and 96 kbit/s through Vorbis and MP3 (mono), and Opus
by its own rate control (-b as an option, not a search) beside them.

    python benchmarks/targets.py -> benchmarks/results/targets.json
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "benchmarks" / "results"


def main() -> None:
    import omnicodec
    from omnicodec import Target
    from omnicodec.errors import UnsupportedInputError
    from omnicodec.items import Video

    cases = []
    photo = omnicodec.read(ROOT / "omnicodec" / "samples" / "kodim23.png")
    pixels = photo.pixels.shape[0] * photo.pixels.shape[1]
    for codec_id in ("webp", "jpeg", "avif", "hyperprior"):
        for bpp in (0.25, 0.5, 1.0):
            cases.append(("kodim23.png", codec_id, photo, Target(bpp=bpp), bpp, pixels))
    for clip in sorted((DATA / "video").glob("*.y4m")):
        video = omnicodec.read(clip)
        video = Video(tuple(p[:30] for p in video.planes), video.fps, video.pix_fmt)
        seconds = video.planes[0].shape[0] * video.fps[1] / video.fps[0]
        for codec_id in ("x264", "x265", "svtav1"):
            cases.append((clip.name, codec_id, video, Target(bitrate=300_000), 300_000, seconds))
    for name in ("sms_tools/piano.wav", "sms_tools/speech-female.wav"):
        sound = omnicodec.read(DATA / "audio" / name)
        seconds = sound.frames.shape[0] / sound.sample_rate
        for codec_id in ("vorbis", "mp3", "opus"):
            for rate in (48_000, 96_000):
                cases.append((name, codec_id, sound, Target(bitrate=rate), rate, seconds))
    rows = []
    for name, codec_id, item, target, asked, per in cases:
        t = time.perf_counter()
        try:
            if codec_id == "opus":  # its own rate control
                blob = omnicodec.encode(item, omnicodec.get_codec("opus", bitrate=int(asked)))
            else:
                blob = omnicodec.encode(item, codec_id, target=target)
        except UnsupportedInputError as exc:  # a target below the codec's smallest output
            rows.append({"input": name, "codec": codec_id, "asked": asked, "error": str(exc)})
            print(f"{name:<34} {codec_id:<10} asked {asked:>9g} {exc}", flush=True)
            continue
        seconds = time.perf_counter() - t
        got = 8 * len(blob) / per
        quality = omnicodec.decode_with_header(blob)[0].config.get("quality")
        rows.append({"input": name, "codec": codec_id, "asked": asked, "got": got, "ratio": got / asked,
                     "unit": "bpp" if target.bpp else "bit/s", "quality": quality, "bytes": len(blob),
                     "seconds": round(seconds, 2)})
        print(f"{name:<34} {codec_id:<10} asked {asked:>9g} got {got:>11.4g} ({got / asked:.3f}) "
              f"quality {quality} {seconds:.1f}s", flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "targets.json").write_text(json.dumps({
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
        "command": "python benchmarks/targets.py", "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
