import math

import numpy as np
import pytest

from omnicodec.metrics import bd_rate, psnr


def test_bd_rate_hand_computed_constant_ratio():
    """B spends exactly 80% of A's bits at every PSNR: log-rate curves differ by log(0.8)
    everywhere, so the BD-rate is -20% whatever the fit."""
    rate_a = [0.25, 0.5, 1.0, 2.0, 4.0]
    psnr_a = [28.0, 31.0, 34.5, 38.0, 41.0]
    assert bd_rate(rate_a, psnr_a, [0.8 * r for r in rate_a], psnr_a) == pytest.approx(-20.0, abs=1e-9)


def test_bd_rate_hand_computed_linear_case():
    """A: log r = (p - 30) / 5, B: log r = (p - 31) / 5 (same slope, 1 dB better).  On the
    overlap [31, 40] B needs exp(-1/5) of A's rate: BD-rate = (e^-0.2 - 1) = -18.127%."""
    p_a = np.array([30.0, 33.0, 36.0, 40.0])
    p_b = np.array([31.0, 34.0, 37.0, 41.0])
    r_a, r_b = np.exp((p_a - 30) / 5), np.exp((p_b - 31) / 5)
    assert bd_rate(r_a, p_a, r_b, p_b) == pytest.approx((math.exp(-0.2) - 1) * 100, abs=1e-6)
    assert bd_rate(r_b, p_b, r_a, p_a) == pytest.approx((math.exp(0.2) - 1) * 100, abs=1e-6)


def test_bd_rate_published_compressai_anchor():
    """CompressAI's published Kodak points: mbt2018-mean vs WebP is about -33% (its README)."""
    import json
    from pathlib import Path

    ref = Path(__file__).resolve().parents[1].parent / "shared/data/reference/kodak_published_rd.json"
    if not ref.exists():
        pytest.skip("shared reference data not present")
    pts = json.loads(ref.read_text())["bpp_psnr"]
    webp = np.array(pts["WebP"])
    webp = webp[(webp[:, 0] > 0.1) & (webp[:, 0] < 1.6)]
    mean = np.array(pts["mbt2018-mean"])
    value = bd_rate(webp[:, 0], webp[:, 1], mean[:, 0], mean[:, 1])
    assert -40 < value < -25


def test_bd_rate_refuses_disjoint_curves():
    with pytest.raises(ValueError, match="overlap"):
        bd_rate([1, 2, 3, 4], [20, 21, 22, 23], [1, 2, 3, 4], [30, 31, 32, 33])


def test_psnr():
    a = np.zeros(100)
    b = np.full(100, 2.55)
    assert psnr(a, b, 255.0) == pytest.approx(40.0)
