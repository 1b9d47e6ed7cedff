"""The shared entropy-coding backend: one FIFO interface over constriction's coders and exact
integer models.

    enc = Encoder("ans")                       # or "range"
    enc.encode(symbols, QuantizedGaussian(-255, 255), means=mu, scales=sigma)
    data = enc.finish()
    dec = Decoder(data, "ans")
    symbols = dec.decode(QuantizedGaussian(-255, 255), means=mu, scales=sigma)

Both coders are first-in first-out: the ANS wrapper buffers and replays in reverse so that the
stack order never leaks.  Every codec that entropy-codes goes through this package.
"""

from .coders import CODERS, Decoder, Encoder
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
    "CODERS", "Encoder", "Decoder", "EntropyModel", "Categorical", "AdaptiveCategorical",
    "QuantizedGaussian", "QuantizedLaplace", "QuantizedLogistic", "GaussianMixture",
]
