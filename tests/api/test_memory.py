"""limits.MAX_MEMORY: a decode is refused before it allocates when its codec's estimate is over
the limit, and the estimates hold (measured in a fresh process)."""

import json
import subprocess
import sys

import pytest

import omnicodec
from omnicodec import api, container, limits
from omnicodec.cli.main import main
from omnicodec.codecs.pillow_image import PNG
from omnicodec.errors import ResourceLimitError

from ..common import ROOT, make_audio, make_bytes, make_image, make_video


def test_a_header_over_the_limit_is_refused_before_decoding(monkeypatch):
    box = container.unpack(omnicodec.encode(make_image(40, 56), "hyperprior", 50))
    box.header.meta.update(width=700_000, height=40)  # 28 MP: within the pixel cap
    monkeypatch.setattr(limits, "MAX_MEMORY", 1 << 30)
    with pytest.raises(ResourceLimitError, match="memory limit"):
        omnicodec.decode(container.pack(box.header, box.sections))


def test_the_limit_follows_the_setting(monkeypatch):
    blob = omnicodec.encode(make_image(200, 300), "png")
    box = container.unpack(blob)
    need = len(box.sections["DATA"]) + PNG().decode_memory(box.header.meta, 200 * 300 * 3)
    assert need == len(box.sections["DATA"]) + int(PNG.decode_copies * 180_000) + PNG.decode_slack
    monkeypatch.setattr(limits, "MAX_MEMORY", need - 1)
    with pytest.raises(ResourceLimitError):
        omnicodec.decode(blob)
    monkeypatch.setattr(limits, "MAX_MEMORY", need)
    assert omnicodec.decode(blob).pixels.shape == (200, 300, 3)


def test_cli_max_memory_refuses_in_one_line_and_writes_nothing(tmp_path, capsys):
    src = tmp_path / "a.omc"
    src.write_bytes(omnicodec.encode(make_image(200, 300), "png"))
    saved = limits.MAX_MEMORY
    try:
        assert main(["decode", str(src), "-o", str(tmp_path / "a.bmp"), "--max-memory", "100K"]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "memory limit of 0 MiB" in err[0]
        assert sorted(p.name for p in tmp_path.iterdir()) == ["a.omc"]
        # to its own format the stored PNG is copied, never decoded: no pixels, nothing to refuse
        assert main(["decode", str(src), "-o", str(tmp_path / "a.png"), "--max-memory", "100K"]) == 0
    finally:
        limits.MAX_MEMORY = saved


_CHILD = """
import sys, omnicodec
from omnicodec import api, container
blob = open(sys.argv[1], "rb").read()
header = container.unpack(blob).header
codec = api._decoder(header)  # the check passes: this is its estimate
omnicodec.decode(open(sys.argv[2], "rb").read())  # load what every decode of the codec shares
from tests.common import peak_growth
grown = peak_growth(lambda: omnicodec.decode(blob))
payload = sum(len(v) for v in container.unpack(blob).sections.values())
print(grown, payload + codec.decode_memory(header.meta, omnicodec.items.check_meta(header.modality, header.meta)))
"""

def _float_sound(frames: int, subtype: str = "FLOAT"):
    """Float32 (or float64) sound off any integer grid, nearly every sample distinct (flac's
    float_bits 32 or 64, its mantissa way)."""
    import numpy as np

    t = np.arange(frames)[:, None] / 48000
    noise = np.random.default_rng(0).standard_normal((frames, 2))
    x = 0.4 * np.sin(2 * np.pi * 440 * t) + 0.01 * noise
    return omnicodec.Audio(x.astype(np.float32) if subtype == "FLOAT" else x, 48000, subtype)


def _ranked_sound(frames: int, subtype: str):
    """16-bit sound after a gain at 24 bits, or 8-bit sound after a gain at 16: few values,
    coded by rank (flac's ``ranks``)."""
    import numpy as np

    base = make_audio(frames=frames, rate=48000, channels=2).frames.astype(np.float64)
    if subtype == "PCM_16":
        return omnicodec.Audio(np.round(np.round(base / 256) * 77.3).astype(np.int16), 48000, subtype)
    return omnicodec.Audio(np.round(base * (0.8 * 256)).astype(np.int32) << 8, 48000, subtype)


CASES = {  # name: (codec, a big item, a small one)
    "png": ("png", lambda: make_image(1200, 1600), lambda: make_image(20, 30)),
    "jpeg": ("jpeg", lambda: make_image(1200, 1600), lambda: make_image(20, 30)),
    "flac": ("flac", lambda: make_audio(frames=3_000_000, rate=48000, channels=2),
             lambda: make_audio(frames=100, channels=2)),
    "flac-float32": ("flac", lambda: _float_sound(3_000_000), lambda: _float_sound(100)),
    "flac-float64": ("flac", lambda: _float_sound(2_000_000, "DOUBLE"), lambda: _float_sound(100, "DOUBLE")),
    "flac-ranks24": ("flac", lambda: _ranked_sound(3_000_000, "PCM_24"), lambda: _ranked_sound(2000, "PCM_24")),
    "flac-ranks16": ("flac", lambda: _ranked_sound(3_000_000, "PCM_16"), lambda: _ranked_sound(2000, "PCM_16")),
    "flac-12ch": ("flac", lambda: make_audio(frames=500_000, rate=48000, channels=12),
                  lambda: make_audio(frames=100, channels=12)),
    "ffv1": ("ffv1", lambda: make_video(frames=20, h=360, w=640), lambda: make_video(frames=2, h=16, w=16)),
    "gzip": ("gzip", lambda: make_bytes(lines=150_000), lambda: make_bytes(lines=5)),
    "logzip": ("logzip", lambda: make_bytes(lines=150_000), lambda: make_bytes(lines=5)),
    "hyperprior": ("hyperprior", lambda: make_image(768, 1024), lambda: make_image(64, 64)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_decode_memory_estimates_hold(name, tmp_path):
    """A decode grows the process by no more than its codec's decode_memory says (after what
    every decode of the codec shares, such as a learned codec's model, is loaded)."""
    codec_id, big, little = CASES[name]
    (tmp_path / "big.omc").write_bytes(omnicodec.encode(big(), codec_id))
    small = str(tmp_path / "small.omc")
    (tmp_path / "small.omc").write_bytes(omnicodec.encode(little(), codec_id))
    out = subprocess.run([sys.executable, "-c", _CHILD, str(tmp_path / "big.omc"), small],
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    grown, planned = map(int, out.stdout.split())
    assert grown <= planned, json.dumps({"grown_mib": grown >> 20, "planned_mib": planned >> 20})


_STREAMED = """
import sys
from omnicodec import api
from tests.common import peak_growth
print(peak_growth(lambda: api.decode_file(sys.argv[1], sys.argv[2])))
"""


@pytest.mark.parametrize("codec_id", ["gzip", "zstd"])
def test_streamed_bytes_decode_holds_a_chunk_not_the_file(codec_id, tmp_path):
    """192 MiB of zeros decoded to a file grows the process by a few MiB: the bytes codecs
    decode in 1 MiB chunks (gzip of 1 GiB of zeros used to peak at 2 GB); zstd also holds its
    window, 128 MiB with long-distance matching (2**27, as `zstd --long=27`)."""
    src = tmp_path / "zeros.bin"
    with src.open("wb") as f:
        for _ in range(192):
            f.write(bytes(1 << 20))
    api.encode_file(src, tmp_path / "z.omc", codec=codec_id)
    out = subprocess.run([sys.executable, "-c", _STREAMED, str(tmp_path / "z.omc"), str(tmp_path / "back.bin")],
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert int(out.stdout) < (24 << 20) + (128 << 20 if codec_id == "zstd" else 0)
    assert (tmp_path / "back.bin").stat().st_size == 192 << 20


@pytest.mark.slow
def test_a_12000_square_png_decodes_within_its_estimate_and_quietly(tmp_path):
    """The audit's case: a real 12000 x 12000 PNG (1 MiB, 412 MiB of pixels) grew the process
    by 1377 MiB; Pillow's DecompressionBombWarning leaked two lines (our caps decide)."""
    import numpy as np

    from omnicodec.items import Image

    yy, xx = np.mgrid[0:12000, 0:12000]
    pixels = np.stack([xx % 256, yy % 256, (xx ^ yy) % 256], -1).astype(np.uint8)
    (tmp_path / "big.omc").write_bytes(omnicodec.encode(Image(pixels), "png"))
    del yy, xx, pixels
    (tmp_path / "small.omc").write_bytes(omnicodec.encode(make_image(20, 30), "png"))
    out = subprocess.run([sys.executable, "-c", _CHILD, str(tmp_path / "big.omc"), str(tmp_path / "small.omc")],
                         capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert out.returncode == 0 and "Warning" not in out.stderr, out.stderr[-2000:]
    grown, planned = map(int, out.stdout.split())
    assert grown <= planned
