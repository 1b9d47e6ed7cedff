"""The wavelet packet filter bank: PyWavelets' coefficients, exact inverse, any size down to one
sample per band, gradients."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pywt = pytest.importorskip("pywt")

from omnicodec.models.wavelets import WaveletPacket  # noqa: E402


@pytest.mark.parametrize("wave", ["bior4.4", "db2", "haar"])
def test_one_level_equals_pywavelets_periodization(wave):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3, 24))
    bands = WaveletPacket(wave, 1, dims=1).analysis(torch.from_numpy(x)).numpy()
    lo, hi = pywt.dwt(x, wave, mode="periodization", axis=-1)
    assert np.allclose(bands[:, 0::2], lo, atol=1e-12) and np.allclose(bands[:, 1::2], hi, atol=1e-12)
    image = rng.normal(size=(1, 2, 16, 24))
    bands = WaveletPacket(wave, 1, dims=2).analysis(torch.from_numpy(image)).numpy()
    for c in range(2):
        approx, (horizontal, vertical, diagonal) = pywt.dwt2(image[0, c], wave, mode="periodization")
        for i, expect in enumerate((approx, horizontal, vertical, diagonal)):
            assert np.allclose(bands[0, 4 * c + i], expect, atol=1e-12)


@pytest.mark.parametrize("dims,shape,levels", [(2, (2, 3, 64, 40), 3), (2, (1, 3, 8, 8), 3),
                                               (1, (2, 2, 4096), 8), (1, (1, 1, 256), 8)])
def test_packet_transform_is_inverted_exactly(dims, shape, levels):
    wpt = WaveletPacket("bior4.4", levels, dims)
    x = torch.from_numpy(np.random.default_rng(1).normal(size=shape))
    bands = wpt.analysis(x)
    assert bands.shape == (shape[0], shape[1] * wpt.bands, *(s // 2**levels for s in shape[2:]))
    assert (wpt.synthesis(bands) - x).abs().max() < 1e-9
    # every band is a different signal: a packet transform splits the high bands too
    assert len({round(float(b.abs().sum()), 6) for b in bands[0]}) == bands.shape[1]


def test_gradients_flow_through_both_directions():
    wpt = WaveletPacket("bior4.4", 2, 2)
    x = torch.randn(1, 1, 8, 8, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: wpt.synthesis(wpt.analysis(t) ** 2), (x,))


def test_float32_and_float64_agree():
    wpt = WaveletPacket("bior4.4", 3, 2)
    x = torch.rand(1, 3, 32, 48)
    assert (wpt.analysis(x).double() - wpt.analysis(x.double())).abs().max() < 1e-5


@pytest.mark.parametrize("shape", [(1, 3, 64, 64), (2, 3, 40, 56), (1, 1, 8, 72), (1, 3, 96, 8)])
def test_the_compiled_analysis_equals_the_filter_bank(shape):
    """The encoder's path (kernels.wavelets, rows then columns, bands reordered) gives the torch
    form's bands to float32 rounding, square or not, both kernel twins bit for bit."""
    from omnicodec.kernels import kernel

    wpt = WaveletPacket("bior4.4", 3, 2)
    x = torch.rand(*shape, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        reference = wpt.analysis(x)
        wpt.compiled = True
        fast = wpt.analysis(x)
    assert fast.shape == reference.shape and (fast - reference).abs().max() < 1e-5
    v = x.reshape(-1, shape[2], shape[3]).numpy()
    twins = [kernel("wavelets", "split", which)(v, wpt.filters, wpt.offset) for which in ("numpy", "cpu")]
    assert twins[0].dtype == np.float32 and np.array_equal(*twins)
