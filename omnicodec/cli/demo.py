"""``codec demo``: the main job on the bundled samples.

Each sample goes through the default file encode and decode (what ``codec encode FILE`` does:
the FLAC sample is kept as its own bytes, so its samples also go through the default lossless
codec) and is verified exact; then, where the modality has one, through the default lossy codec
at quality 75, Opus at 32 kbit/s for audio, and the learned codecs that take it (vq at its
quality 75, K = 256 codes, about 0.03 bpp; mcquic at its level 8, K = 256 per group; pc: the
grid of MNIST digits; stem: the clip).
"""

from __future__ import annotations

import time
from importlib import resources

DEMO_QUALITY = 75.0
# beside the classical default
LEARNED = {"image": ("hyperprior", "walloc", "vq", "mcquic", "pc"), "audio": ("walloc",), "video": ("stem",)}
BITRATES = {"audio": ("opus", 32000)}  # a lossy row at a rate users ask for by name


def sample_paths() -> list:
    root = resources.files("omnicodec") / "samples"
    return sorted((p for p in root.iterdir() if not p.name.startswith(".")), key=lambda p: p.name)


def run_demo() -> list[tuple]:
    from .. import api
    from ..datasets.files import read_item
    from ..items import stream_facts
    from ..metrics import item_psnr, rate

    rows = [("input", "codec", "original B", "compressed B", "ratio", "rate", "quality",
             "enc s", "dec s")]
    for path in sample_paths():
        item = read_item(path)
        size = path.stat().st_size
        rows.append(_default_row(path, item, size))
        codecs = []
        if api.registry.get_codec_class(rows[-1][1]).modality == "bytes" and item.modality != "bytes":
            codecs.append((api.choose_codec(item), None))  # kept as its bytes (FLAC): the samples, losslessly
        codec = api.choose_codec(item, DEMO_QUALITY)
        if not codec.lossless:  # skip when the modality has no lossy codec
            codecs.append((codec, DEMO_QUALITY))
        if item.modality in BITRATES:
            cid, bits = BITRATES[item.modality]
            codecs.append((api.get_codec(cid, bitrate=bits), f"{bits // 1000}k"))
        for cid in LEARNED.get(item.modality, ()):
            learned = api.registry.get_codec_class(cid)
            if learned.available():
                codec = api.get_codec(cid, None if learned.lossless else DEMO_QUALITY).for_item(item)
                if codec.supports(item) is None:  # pc: grids of digits only
                    codecs.append((codec, "" if learned.lossless else DEMO_QUALITY))
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
            label = codec.codec_id + ("" if quality in (None, "") else f" {quality}" if isinstance(quality, str)
                                      else f" q{quality:g}")
            name, original = path.name, size
            if quality is None:  # the samples of a file kept as bytes: against their raw size
                name, original = f"{path.name} as PCM", stream_facts(item.modality, item.meta(), 1)["raw_bytes"]
            rows.append((name, label, original, len(blob), f"{original / len(blob):.2f}",
                         f"{value:.3f} {unit}", verdict, f"{t1 - t0:.2f}", f"{t2 - t1:.2f}"))
    return rows


def _default_row(path, item, size: int) -> tuple:
    """``codec encode`` then ``codec decode`` of the file itself, with default options."""
    import tempfile
    from pathlib import Path

    from .. import api
    from ..datasets.files import read_item
    from ..metrics import rate

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / path.name
        src.write_bytes(path.read_bytes())
        t0 = time.perf_counter()
        omc, header = api.encode_file(src)
        t1 = time.perf_counter()
        back, _ = api.decode_file(omc, Path(tmp) / ("restored" + src.suffix))
        t2 = time.perf_counter()
        same = back.read_bytes() == src.read_bytes() or read_item(back).digest() == item.digest()
        packed = omc.stat().st_size
    value, unit = rate(item, packed)
    return (path.name, header.codec, size, packed, f"{size / packed:.2f}", f"{value:.3f} {unit}",
            "exact" if same else "MISMATCH", f"{t1 - t0:.2f}", f"{t2 - t1:.2f}")
