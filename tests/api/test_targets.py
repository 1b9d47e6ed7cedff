"""Rate targets: --bpp / --size / -b search a lossy codec's quality for the largest file within
the target; --crf sets the quality whose CRF it is."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import omnicodec
from omnicodec import Image, Target
from omnicodec.cli.main import main
from omnicodec.datasets.files import write_item
from omnicodec.errors import UnsupportedInputError

from ..common import make_audio, make_image, make_video

SAMPLES = Path(omnicodec.__file__).parent / "samples"


@pytest.fixture(scope="module")
def photo():
    """A 128 x 192 crop of the bundled photo: real texture, so sizes move smoothly with quality."""
    return Image(np.ascontiguousarray(omnicodec.read(SAMPLES / "kodim23.png").pixels[128:256, 192:384]))


@pytest.mark.parametrize("codec_id, bpp", [("webp", 1.0), ("avif", 0.8), ("jpeg", 1.2)])
def test_bits_per_pixel_are_met_from_below(photo, codec_id, bpp):
    blob = omnicodec.encode(photo, codec_id, target=Target(bpp=bpp))
    got = 8 * len(blob) / (128 * 192)
    assert 0.95 * bpp <= got <= bpp
    header = omnicodec.decode_with_header(blob)[0]
    assert 0 < header.config["quality"] < 100  # a searched quality, neither end of the range


def test_a_bitrate_is_met_for_sound_and_video():
    speech = omnicodec.read(SAMPLES / "speech-female-3s.flac")  # 3 s
    blob = omnicodec.encode(speech, "vorbis", target=Target(bitrate=96_000))
    assert 0.95 * 96_000 <= 8 * len(blob) / 3 <= 96_000
    clip = omnicodec.read(SAMPLES / "CiscoVT2people_160x96_6fps.y4m")  # 5 frames at 6 fps
    blob = omnicodec.encode(clip, "x264", target=Target(bitrate=100_000))
    assert 0.95 * 100_000 <= 8 * len(blob) / (5 / 6) <= 100_000


def test_targets_that_cannot_be_met_are_refused_in_one_line():
    with pytest.raises(UnsupportedInputError, match="cannot make it as small as 10 bytes"):
        omnicodec.encode(make_image(), "webp", target=Target(size=10))
    with pytest.raises(UnsupportedInputError, match="lossy codec"):
        omnicodec.encode(make_image(), "png", target=Target(bpp=1))
    with pytest.raises(UnsupportedInputError, match="bits per pixel are for images"):
        omnicodec.encode(make_audio(), "vorbis", target=Target(bpp=1))
    with pytest.raises(UnsupportedInputError, match="a bitrate is for sound and video"):
        omnicodec.encode(make_image(), "webp", target=Target(bitrate=1000))


def test_cli_targets_and_crf(tmp_path, capsys, photo):
    write_item(photo, tmp_path / "p.png")
    assert main(["encode", str(tmp_path / "p.png"), "-c", "webp", "--size", "2K", "-o", str(tmp_path / "p.omc")]) == 0
    assert 0.95 * 2048 <= (tmp_path / "p.omc").stat().st_size <= 2048
    assert main(["encode", str(tmp_path / "p.png"), "-c", "webp", "--bpp", "1", "-o", str(tmp_path / "p.webp")]) == 0
    assert 0.9 <= 8 * (tmp_path / "p.webp").stat().st_size / (128 * 192) <= 1.0  # the standard file
    assert main(["encode", str(tmp_path / "p.png"), "-c", "webp", "--bpp", "1", "-q", "50", "-o",
                 str(tmp_path / "q.omc")]) == 1
    assert "give one of them" in capsys.readouterr().err and not (tmp_path / "q.omc").exists()
    write_item(make_video(frames=4, h=64, w=64), tmp_path / "v.y4m")
    assert main(["encode", str(tmp_path / "v.y4m"), "-c", "x265", "--crf", "28", "-o", str(tmp_path / "v.omc")]) == 0
    capsys.readouterr()
    assert main(["info", str(tmp_path / "v.omc"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["effective"] == {"crf": 28.0}
    for bad in (["-c", "svtav1", "--crf", "30.5"], ["-c", "ffv1", "--crf", "20"], ["-c", "x264", "--crf", "52"]):
        assert main(["encode", str(tmp_path / "v.y4m"), *bad, "-o", str(tmp_path / "w.omc")]) == 1
        assert "CRF" in capsys.readouterr().err and not (tmp_path / "w.omc").exists()


def test_a_target_above_the_largest_output_gets_the_top_quality():
    header = omnicodec.decode_with_header(omnicodec.encode(make_image(), "webp", target=Target(size=10**6)))[0]
    assert header.config["quality"] == 100.0
