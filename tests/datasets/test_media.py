"""Items <-> Pillow, libsndfile and PyAV (datasets/media.py), shared by the file layer and the
codecs: exact in both directions for every mode an item holds."""

import io

import numpy as np
import pytest

from omnicodec.errors import UnsupportedInputError
from omnicodec.items import Image, Video

from ..common import make_audio, make_image, make_video

media = pytest.importorskip("omnicodec.datasets.media")


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA", "I;16", "F", "CMYK", "P"])
def test_pillow_round_trip_is_exact(mode):
    item = make_image(9, 13, mode)
    back = media.from_pil(media.to_pil(item), allow_loss=False, indices=mode == "P")
    assert back.mode == mode and back.digest() == item.digest()


def test_pillow_conversions_that_lose_are_refused_without_allow_loss():
    from PIL import Image as PILImage

    one_bit = PILImage.fromarray(np.eye(8, dtype=bool))
    with pytest.raises(UnsupportedInputError, match="would be stored as L"):
        media.from_pil(one_bit, allow_loss=False)
    assert media.from_pil(one_bit).mode == "L"
    with pytest.raises(UnsupportedInputError, match="cannot hold mode RGB;16"):
        media.to_pil(make_image(4, 4, "RGB;16"))


def test_wide_png_keeps_sixteen_bits():
    import imagecodecs

    item = make_image(7, 5, "RGBA;16")
    assert np.array_equal(imagecodecs.png_decode(media.wide_png(item, 6)), item.pixels)


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24"])
def test_read_audio_restores_the_samples_a_wav_holds(subtype):
    import soundfile

    item = make_audio(frames=500, channels=2, subtype=subtype)
    buf = io.BytesIO()
    soundfile.write(buf, item.frames, item.sample_rate, subtype=subtype, format="WAV")
    back = media.read_audio(buf.getvalue())
    assert back.subtype == subtype and back.digest() == item.digest()


@pytest.mark.parametrize("pix_fmt", ["yuv420p", "yuv444p10le"])
def test_ffv1_mkv_round_trips_through_planes(pix_fmt):
    import av

    item = make_video(frames=2, h=16, w=24, pix_fmt=pix_fmt)
    data = media.mkv(item, "ffv1", pix_fmt, media.FFV1_OPTIONS)
    planes = [[], [], []]
    dtype = item.planes[0].dtype
    with av.open(io.BytesIO(data)) as box:
        for frame in box.decode(video=0):
            for i, (plane, ref) in enumerate(zip(frame.planes, item.planes)):
                planes[i].append(media.read_plane(plane, ref.shape[1], ref.shape[2], dtype))
    back = Video(tuple(np.stack(p) for p in planes), item.fps, pix_fmt)
    assert back.digest() == item.digest()


def test_items_refuse_arrays_they_cannot_describe():
    with pytest.raises(UnsupportedInputError, match="shape"):
        Image(np.zeros((2, 2, 5), np.uint8))
    with pytest.raises(UnsupportedInputError, match="holds 3-channel uint8"):
        Image(np.zeros((2, 2, 3), np.uint16), "RGB")
