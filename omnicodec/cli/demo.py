"""``codec demo``: the main job on the bundled samples.

Each sample is encoded and decoded with the default lossless codec for its modality and, where
the modality has one, the default lossy codec at quality 75; lossless rows are verified exact.
"""

from __future__ import annotations

import time
from importlib import resources

DEMO_QUALITY = 75.0
LEARNED = {"image": ("hyperprior",)}  # shown beside the classical default while they mature


def sample_paths() -> list:
    root = resources.files("omnicodec") / "samples"
    return sorted((p for p in root.iterdir() if not p.name.startswith(".")), key=lambda p: p.name)


def run_demo() -> list[tuple]:
    from .. import api
    from ..datasets.files import read_item
    from ..metrics import item_psnr, rate

    rows = [("input", "codec", "original B", "compressed B", "ratio", "rate", "quality",
             "enc s", "dec s")]
    for path in sample_paths():
        item = read_item(path)
        size = path.stat().st_size
        codecs = []
        for quality in (None, DEMO_QUALITY):
            codec = api.choose_codec(item, quality)
            if quality is None or not codec.lossless:  # skip when the modality has no lossy codec
                codecs.append((codec, quality))
        codecs += [(api.get_codec(cid, DEMO_QUALITY), DEMO_QUALITY) for cid in LEARNED.get(item.modality, ())
                   if api.registry.get_codec_class(cid).available()]
        for codec, quality in codecs:
            t0 = time.perf_counter()
            blob = api.encode(item, codec)
            t1 = time.perf_counter()
            decoded = api.decode(blob)
            t2 = time.perf_counter()
            value, unit = rate(item, len(blob))
            if codec.lossless:
                verdict = "exact" if decoded.digest() == item.digest() else "MISMATCH"
            else:
                verdict = f"{item_psnr(item, decoded):.2f} dB"
            label = codec.codec_id + ("" if quality is None else f" q{quality:g}")
            rows.append((path.name, label, size, len(blob), f"{size / len(blob):.2f}",
                         f"{value:.3f} {unit}", verdict, f"{t1 - t0:.2f}", f"{t2 - t1:.2f}"))
    return rows
