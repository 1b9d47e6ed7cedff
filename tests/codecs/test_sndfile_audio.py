import pytest

from ..common import make_audio, peak_growth
from .checklist import check_fixture, check_quality_monotone, run_checklist


@pytest.mark.parametrize("codec_id", ["flac", "wav"])
@pytest.mark.parametrize("subtype,channels", [("PCM_16", 1), ("PCM_16", 2), ("PCM_24", 2)])
def test_lossless_roundtrip(codec_id, subtype, channels):
    run_checklist(codec_id, make_audio(channels=channels, subtype=subtype))


@pytest.mark.parametrize("codec_id,rate", [("opus", 48000), ("opus", 44100), ("vorbis", 44100),
                                           ("mp3", 44100)])
def test_lossy_roundtrip(codec_id, rate):
    channels = 1 if codec_id == "mp3" else 2
    run_checklist(codec_id, make_audio(frames=rate // 2, rate=rate, channels=channels), min_psnr=30)


@pytest.mark.parametrize("codec_id", ["opus", "vorbis", "mp3"])
def test_quality_knob(codec_id):
    check_quality_monotone(codec_id, make_audio(frames=48000, rate=48000))


@pytest.mark.parametrize("codec_id", ["flac", "wav", "opus", "vorbis", "mp3"])
def test_fixture(codec_id):
    for version in ("v1", "v2"):  # v1: written by container 1, decoded forever; v2: re-encoded too
        check_fixture(codec_id, make_audio(frames=2400, rate=48000), version)


@pytest.mark.parametrize("codec_id", ["flac", "wav", "opus", "vorbis", "mp3"])
def test_header_claiming_more_frames_than_the_payload_is_refused_without_allocating(codec_id):
    """A 2 kB stream whose header claims 2**28 frames (within the caps and the memory limit)
    was zero-padded to 1 GiB."""

    import omnicodec
    from omnicodec import container
    from omnicodec.errors import CorruptStreamError

    channels = 1 if codec_id == "mp3" else 2
    box = container.unpack(omnicodec.encode(make_audio(frames=2400, rate=48000, channels=channels), codec_id))
    box.header.meta["frames"] = 1 << 28
    def attempt():
        with pytest.raises(CorruptStreamError, match="frames"):
            omnicodec.decode(container.pack(box.header, box.sections))

    assert peak_growth(attempt) < 200_000 * 1024
