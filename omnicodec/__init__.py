"""omnicodec: neural and classical data compression behind one container, one entropy backend
and one CLI.

    >>> import omnicodec
    >>> blob = omnicodec.encode(b"hello hello hello hello", codec="zstd")
    >>> omnicodec.decode(blob).data
    b'hello hello hello hello'

The public names are imported lazily so that ``import omnicodec`` stays cheap (no torch, no
compressai, no numba.cuda).
"""

import os as _os

__version__ = "0.1.0"

# MKL's fast memory manager, which torch's CPU build uses for float64 GEMMs, was seen spinning
# in mkl_serv_allocate (mm_account_ptr_by_tid) for over an hour in a fresh clone's test run
# (2026-12-07 #23: a small float64 conv_transpose2d of the integer hyper-synthesis, after the
# thread count had been switched by ``models.base.one_thread``; twice before, 600 s and 20 min):
# off, before MKL's first call
_os.environ.setdefault("MKL_DISABLE_FAST_MM", "1")

_API = {"encode", "decode", "decode_with_header", "open", "read", "write", "test_file", "describe", "get_codec",
        "list_codecs", "choose_codec", "parse_options", "encode_file", "decode_file", "decode_latent", "CodecInfo",
        "Target"}
_ITEMS = {"Image", "Audio", "Video", "Bytes"}

__all__ = sorted(_API | _ITEMS) + ["__version__"]


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def __getattr__(name: str):
    if name in _API:
        from . import api

        return getattr(api, name)
    if name in _ITEMS:
        from . import items

        return getattr(items, name)
    raise AttributeError(f"module 'omnicodec' has no attribute {name!r}")
