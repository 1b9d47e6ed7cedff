"""codec bench: rate-distortion of codecs on the user's own files."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image as PILImage

import omnicodec
from omnicodec import bench
from omnicodec.cli.main import main
from omnicodec.datasets.files import write_item

from .common import make_audio, make_image


def test_bench_prints_writes_a_plot_and_measures_what_encode_gives(tmp_path, capsys):
    write_item(make_image(64, 96), tmp_path / "p.png")
    plot, out = tmp_path / "rd.png", tmp_path / "rd.json"
    assert main(["bench", str(tmp_path / "p.png"), "--codecs", "jpeg,webp", "--qualities", "20,40,60,80",
                 "--plot", str(plot), "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "BD-rate against jpeg" in text and "webp" in text
    assert PILImage.open(plot).size[0] > 100
    result = json.loads(out.read_text())
    rows = result["rows"]
    assert len(rows) == 8 and isinstance(result["bd_rate"][str(tmp_path / "p.png")]["webp"], float)
    item = omnicodec.read(tmp_path / "p.png")
    blob = omnicodec.encode(item, "webp", 40.0)
    row = next(r for r in rows if r["codec"] == "webp" and r["quality"] == 40)
    assert row["bytes"] == len(blob) and row["rate"] == 8 * len(blob) / (64 * 96)
    decoded = omnicodec.decode(blob).pixels.astype(float)
    assert abs(row["psnr"] - 10 * np.log10(255 ** 2 / np.mean((decoded - item.pixels) ** 2))) < 1e-9


def test_sound_is_measured_by_snr_and_failures_are_rows():
    stereo = make_audio(frames=16000, rate=16000, channels=2)
    row = bench.measure("a.wav", stereo, "vorbis", 50)
    noise = omnicodec.decode(omnicodec.encode(stereo, "vorbis", 50)).samples.astype(float) - stereo.samples
    expect = 10 * np.log10(np.sum(stereo.samples.astype(float) ** 2) / np.sum(noise ** 2))
    assert abs(row["snr"] - expect) < 1e-9 and row["rate_unit"] == "kbit/s"
    three = make_audio(frames=16000, rate=16000, channels=3)
    assert "error" in bench.measure("a.wav", three, "opus", 50)  # at most stereo: a row, not a crash


def test_bench_refuses_bad_arguments_in_one_line(tmp_path, capsys):
    write_item(make_image(32, 32), tmp_path / "p.png")
    for bad in (["--codecs", "nope"], ["--codecs", "jpeg", "--reference", "webp"], ["--qualities", "a,b"]):
        assert main(["bench", str(tmp_path / "p.png"), *bad, "--plot", "-"]) == 1
        assert capsys.readouterr().err.count("\n") == 1
