"""The shared entropy-coding backend: one FIFO interface over constriction's coders and exact
integer models.

    enc = Encoder("ans")                       # or "range"
    enc.encode(symbols, QuantizedGaussian(-255, 255), means=mu, scales=sigma)
    data = enc.finish()
    dec = Decoder(data, "ans")
    symbols = dec.decode(QuantizedGaussian(-255, 255), means=mu, scales=sigma)

Both coders are first-in first-out: the ANS wrapper buffers and replays in reverse so that the
stack order never leaks.  ``Encoder("ans", lanes=N)`` / ``Decoder(data, "ans", lanes=N)`` write
and read the lane format instead (``lanes.py``: N interleaved rANS coders in numba kernels,
decoded lane-parallel on CPU threads or a GPU; ``Decoder.finish()`` checks its end).  Every
codec that entropy-codes goes through this package.
"""

from .coders import CODERS, Decoder, Encoder, check_coder
from .models import (
    AdaptiveCategorical,
    Categorical,
    EntropyModel,
    GaussianMixture,
    QuantizedGaussian,
    QuantizedLaplace,
    QuantizedLogistic,
)

__all__ = [
    "CODERS", "check_coder", "Encoder", "Decoder", "EntropyModel", "Categorical", "AdaptiveCategorical",
    "QuantizedGaussian", "QuantizedLaplace", "QuantizedLogistic", "GaussianMixture",
]
