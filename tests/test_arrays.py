"""omnicodec.arrays: the codecs as a numcodecs codec and a zarr v3 serializer, on real zarr arrays."""

from __future__ import annotations

import subprocess
import sys

import numcodecs
import numpy as np
import pytest
import zarr

import omnicodec
from omnicodec.arrays import Omnicodec, ZarrCodec
from omnicodec.errors import CorruptStreamError, UnknownCodecError, UnsupportedInputError

from .common import make_image


def _photo(h=200, w=300):
    return np.ascontiguousarray(omnicodec.read(omnicodec.__path__[0] + "/samples/kodim23.png").pixels[:h, :w])


def test_a_zarr_v2_array_of_image_chunks_is_lossless_and_smaller(tmp_path):
    photo = _photo()  # 200 x 300: the edge chunks are partial
    z = zarr.create_array(tmp_path / "a.zarr", shape=photo.shape, chunks=(128, 128, 3), dtype="uint8",
                          zarr_format=2, compressors=Omnicodec("jxl-lossless"))
    z[:] = photo
    again = zarr.open_array(tmp_path / "a.zarr")
    assert np.array_equal(again[:], photo) and np.array_equal(again[50:150, 100:220], photo[50:150, 100:220])
    assert 0 < z.nbytes_stored() < 0.75 * photo.nbytes


def test_lossy_learned_and_bytes_codecs_in_chunks():
    photo = _photo(128, 128)
    for codec, exact in ((Omnicodec("webp", quality=80), False), (Omnicodec("hyperprior", quality=60), False),
                         (Omnicodec("zstd", level=3), True)):
        z = zarr.create_array({}, shape=photo.shape, chunks=(64, 64, 3), dtype="uint8", zarr_format=2,
                              compressors=codec)
        z[:] = photo
        err = np.abs(z[:].astype(float) - photo)
        assert (err.max() == 0) if exact else (0 < err.mean() < 6), (codec, err.mean())
    values = np.random.default_rng(0).standard_normal((40, 50))  # any dtype and shape through a bytes codec
    z = zarr.create_array({}, shape=values.shape, chunks=(16, 16), dtype="float64", zarr_format=2,
                          compressors=Omnicodec("xz"))
    z[:] = values
    assert np.array_equal(z[:], values)


def test_sound_chunks_need_their_rate():
    wave = (np.sin(np.arange(40000) / 7.0) * 9000).astype(np.int16)
    z = zarr.create_array({}, shape=wave.shape, chunks=(16000,), dtype="int16", zarr_format=2,
                          compressors=Omnicodec("flac", sample_rate=16000))
    z[:] = wave
    assert np.array_equal(z[:], wave)
    with pytest.raises(UnsupportedInputError, match="sample_rate"):
        Omnicodec("flac")


def test_config_round_trips_through_the_numcodecs_registry():
    codec = Omnicodec("image-zstd", level=3)
    assert codec.get_config() == {"id": "omnicodec", "codec": "image-zstd", "level": 3}
    again = numcodecs.get_codec(codec.get_config())  # found through the entry point
    assert isinstance(again, Omnicodec) and again.get_config() == codec.get_config()
    image = make_image(20, 30).pixels
    assert np.array_equal(again.decode(codec.encode(image)).reshape(image.shape), image)
    with pytest.raises(UnknownCodecError):
        Omnicodec("nope")
    with pytest.raises(UnsupportedInputError, match="level"):
        Omnicodec("zstd", level="high")
    with pytest.raises(UnsupportedInputError, match="video"):
        Omnicodec("x264")


def test_a_damaged_chunk_is_an_error_not_wrong_values():
    codec = Omnicodec("png")
    blob = bytearray(codec.encode(make_image(20, 30).pixels))
    blob[len(blob) // 2] ^= 0x40
    with pytest.raises(CorruptStreamError):
        codec.decode(bytes(blob))


def test_a_zarr_v3_array_reads_back_in_a_process_that_never_imported_omnicodec(tmp_path):
    photo = _photo(100, 140)
    z = zarr.create_array(tmp_path / "b.zarr", shape=photo.shape, chunks=(64, 64, 3), dtype="uint8",
                          serializer=ZarrCodec(codec="jxl-lossless"), compressors=None)
    z[:] = photo
    np.save(tmp_path / "photo.npy", photo)
    script = ("import numpy as np, zarr, sys; z = zarr.open_array(sys.argv[1]); "
              "print(np.array_equal(z[:], np.load(sys.argv[2])), z.metadata.to_dict()['codecs'][0]['name'])")
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path / "b.zarr"), str(tmp_path / "photo.npy")],
                         capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True", "omnicodec"]  # the zarr.codecs entry point
