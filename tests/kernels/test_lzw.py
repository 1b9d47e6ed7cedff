"""TIFF's LZW: the NumPy and CPU twins write the same codes, which libtiff's decoder (through
imagecodecs) reads back, and which are the codes libtiff itself writes."""

from __future__ import annotations

import imagecodecs
import numpy as np
import pytest

from omnicodec.kernels.lzw import encode


def _inputs():
    rng = np.random.default_rng(2)
    yield "empty", b""
    yield "one byte", b"\x07"
    yield "noise", rng.integers(0, 256, 30000, np.uint8).tobytes()  # table full: Clears at 12 bits
    yield "flat", bytes(50000)  # long strings, few codes
    ramp = (np.arange(120000) // 7 % 251).astype(np.uint8)
    yield "noise then flat", rng.integers(0, 256, 12000, np.uint8).tobytes() + bytes(40000)  # the ratio check
    yield "ramp", ramp.tobytes()


@pytest.mark.parametrize("final_step", [False, True])
@pytest.mark.parametrize("name,data", list(_inputs()))
def test_the_twins_agree_and_libtiff_reads_them(name, data, final_step):
    array = np.frombuffer(data, np.uint8)
    codes = encode["cpu"](array, final_step)
    assert codes == encode["numpy"](array, final_step)
    if data:
        assert bytes(imagecodecs.lzw_decode(codes)) == data
    else:  # End of Information alone, 9 bits (257), padded: what libtiff writes for an empty strip
        assert codes == bytes([257 >> 1, (257 & 1) << 7])


@pytest.mark.parametrize("name,data", [x for x in _inputs() if x[1]])
def test_the_codes_are_libtiffs(name, data):
    """A TIFF strip libtiff wrote (imagecodecs' tiff_encode): the same bytes, whichever of the
    two endings it uses."""
    tiff = imagecodecs.tiff_encode(np.frombuffer(data, np.uint8).reshape(1, -1), compression="lzw")
    array = np.frombuffer(data, np.uint8)
    assert encode["cpu"](array, True) in tiff or encode["cpu"](array, False) in tiff
