import pytest

import omnicodec
from omnicodec.errors import UnsupportedInputError

from ..common import make_video
from .checklist import check_fixture, check_quality_monotone, run_checklist


@pytest.mark.parametrize("pix_fmt", ["yuv420p", "yuv444p"])
def test_ffv1_lossless(pix_fmt):
    run_checklist("ffv1", make_video(pix_fmt=pix_fmt))


@pytest.mark.parametrize("codec_id,pix_fmt", [("x264", "yuv420p"), ("x264", "yuv444p"),
                                              ("x265", "yuv420p"), ("svtav1", "yuv420p")])
def test_lossy_roundtrip(codec_id, pix_fmt):
    run_checklist(codec_id, make_video(pix_fmt=pix_fmt), min_psnr=30)


@pytest.mark.parametrize("codec_id", ["x264", "x265", "svtav1"])
def test_quality_knob(codec_id):
    check_quality_monotone(codec_id, make_video(frames=4, h=64, w=64))


@pytest.mark.parametrize("codec_id", ["ffv1", "x264", "x265", "svtav1"])
def test_fixture(codec_id):
    for version in ("v1", "v2"):  # v1: written by container 1, decoded forever; v2: re-encoded too
        check_fixture(codec_id, make_video(frames=2, h=32, w=32), version)


def test_svtav1_refuses_444():
    with pytest.raises(UnsupportedInputError, match="yuv444p"):
        omnicodec.encode(make_video(pix_fmt="yuv444p"), "svtav1", 50)
