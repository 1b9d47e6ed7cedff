import re

import pytest

import omnicodec
from omnicodec.errors import UnsupportedInputError

from ..common import make_video
from .checklist import check_fixture, check_quality_monotone, run_checklist


@pytest.mark.parametrize("pix_fmt", ["yuv420p", "yuv444p"])
def test_ffv1_lossless(pix_fmt):
    run_checklist("ffv1", make_video(pix_fmt=pix_fmt))


@pytest.mark.parametrize("pix_fmt", ["yuv420p", "yuv422p", "yuv420p10le"])
def test_ffv1_takes_odd_frame_sizes(pix_fmt):
    """A 63x47 4:2:0 clip (chroma 32x24) went to xz as bytes: FFV1 codes it exactly; the lossy
    encoders, which need even sizes there, still refuse it in one line."""
    video = make_video(frames=2, h=47, w=63, pix_fmt=pix_fmt)
    run_checklist("ffv1", video)
    assert omnicodec.choose_codec(video).codec_id == "ffv1"
    if pix_fmt == "yuv420p":
        with pytest.raises(UnsupportedInputError, match="subsampling divides"):
            omnicodec.encode(video, "x264")
        check_fixture("ffv1", video, "v3-odd")


@pytest.mark.parametrize("codec_id,pix_fmt", [("x264", "yuv420p"), ("x264", "yuv444p"),
                                              ("x265", "yuv420p"), ("svtav1", "yuv420p")])
def test_lossy_roundtrip(codec_id, pix_fmt):
    run_checklist(codec_id, make_video(pix_fmt=pix_fmt), min_psnr=30)


@pytest.mark.parametrize("codec_id", ["x264", "x265", "svtav1"])
def test_quality_knob(codec_id):
    check_quality_monotone(codec_id, make_video(frames=4, h=64, w=64))


@pytest.mark.parametrize("codec_id", ["ffv1", "x264", "x265", "svtav1"])
def test_fixture(codec_id):
    # v1: written by container 1, decoded forever; v2: its payload re-encoded too (the lossy
    # ones: Matroska, and v2-elementary: the elementary stream that new streams hold); v3: the
    # default stream in today's container, re-encoded byte for byte
    versions = ("v1", "v2", "v3") if codec_id == "ffv1" else ("v1", "v2", "v2-elementary", "v3")
    for version in versions:
        check_fixture(codec_id, make_video(frames=2, h=32, w=32), version)


@pytest.mark.parametrize("codec_id, version", [("x264", r"x264 core \d+( r\d+)?"), ("x265", r"x265 \d+\.\d+\S*"),
                                               ("ffv1", r"libavcodec \d+\.\d+\.\d+"), ("svtav1", "")])
def test_the_header_names_the_encoder_version(codec_id, version):
    """x264 and x265 state their version in an SEI unit the stream leaves out: it goes to the
    header (SVT-AV1 states none, so none is claimed)."""
    header = omnicodec.decode_with_header(omnicodec.encode(make_video(frames=2, h=32, w=32), codec_id, 50))[0]
    assert re.fullmatch(version, header.encoder)


@pytest.mark.parametrize("codec_id", ["x264", "x265", "svtav1"])
def test_the_top_quality_is_the_best(codec_id):
    """Quality 100 is the best the encoder does (SVT-AV1's CRF 0 once meant FFmpeg's default)."""
    from omnicodec.metrics import item_psnr

    clip = make_video(frames=3, h=64, w=64)
    top, next_best = (item_psnr(clip, omnicodec.decode(omnicodec.encode(clip, codec_id, q))) for q in (100, 95))
    assert top > next_best


def test_svtav1_refuses_444():
    with pytest.raises(UnsupportedInputError, match="yuv444p"):
        omnicodec.encode(make_video(pix_fmt="yuv444p"), "svtav1", 50)


@pytest.mark.parametrize("codec_id, banner, start", [("x264", b"x264 - core", b"\x00\x00\x00\x01"),
                                                      ("x265", b"x265 (build", b"\x00\x00\x00\x01"),
                                                      ("svtav1", None, b"\x12\x00")])
def test_new_streams_hold_the_elementary_stream_without_the_encoder_banner(codec_id, banner, start):
    """The same pixels as the Matroska layout of older streams, a fraction of the bytes, and
    Matroska/MP4/raw files back out that FFmpeg decodes to those pixels."""
    import io

    import av

    from omnicodec import container, registry

    video = make_video(frames=6, h=48, w=64)
    new = omnicodec.get_codec(codec_id, 50)
    assert new.stream == "elementary"
    old = registry.get_codec_class(codec_id).from_config({**new.get_config(), "stream": "mkv"})
    a, b = omnicodec.encode(video, old), omnicodec.encode(video, new)
    assert omnicodec.decode(b).digest() == omnicodec.decode(a).digest()
    assert len(b) < len(a) - 400
    data_a, data_b = container.unpack(a).sections["DATA"], container.unpack(b).sections["DATA"]
    assert data_b.startswith(start)  # an Annex B start code; AV1's temporal delimiter OBU
    assert banner is None or (banner in data_a and banner not in data_b)
    meta = container.unpack(b).header.meta
    frames = [f.to_ndarray().tobytes() for f in av.open(io.BytesIO(data_a)).decode(video=0)]
    for ext in new.standard:
        out = new.standard_file(data_b, ext, meta)
        box = av.open(io.BytesIO(out), format={"h264": "h264", "hevc": "hevc", "av1": "obu"}[new.kind]
                      if ext in new.raw else None)
        assert [f.to_ndarray().tobytes() for f in box.decode(video=0)] == frames, ext
    for ext in set(new.standard) - set(new.raw):  # older Matroska streams: copied or remuxed
        box = av.open(io.BytesIO(old.standard_file(data_a, ext, meta)))
        assert [f.to_ndarray().tobytes() for f in box.decode(video=0)] == frames, ext
    with pytest.raises(UnsupportedInputError, match="stored in Matroska"):
        old.standard_file(data_a, new.raw[0], meta)


@pytest.mark.parametrize("codec_id", ["x264", "x265"])
def test_tune_reaches_the_encoder_and_is_checked(codec_id):
    """``tune=psnr`` (the benchmarks' anchor setting) changes the stream, is kept in the config,
    and a tune the encoder lacks is refused by name."""
    clip = make_video(frames=4, h=64, w=64)
    plain = omnicodec.encode(clip, omnicodec.get_codec(codec_id, 50))
    tuned = omnicodec.encode(clip, omnicodec.get_codec(codec_id, 50, tune="psnr"))
    header, decoded = omnicodec.decode_with_header(tuned)
    assert tuned != plain and header.config["tune"] == "psnr" and "tune" not in omnicodec.decode_with_header(plain)[0].config
    assert decoded.planes[0].shape == clip.planes[0].shape
    with pytest.raises(UnsupportedInputError, match="tune"):
        omnicodec.get_codec(codec_id, 50, tune="cartoon")
