"""omnicodec's codecs as a numcodecs codec, so that zarr arrays (and anything else that takes
numcodecs codecs) can be stored with them::

    import zarr
    from omnicodec.arrays import Omnicodec

    z = zarr.create_array("photos.zarr", shape=(4096, 4096, 3), chunks=(512, 512, 3), dtype="uint8",
                          zarr_format=2, compressors=Omnicodec("jxl-lossless"))

Each chunk is stored as a whole .omc file: self-describing, with its CRCs and, for a lossless
codec, the digest that its decode is checked against (30 to 90 bytes of container per chunk).
What a chunk is to the codec follows the codec's modality:

* image codecs (``jxl-lossless``, ``png``, ``webp``, ``hyperprior``...): a (H, W) or (H, W, C)
  chunk, C from 1 to 4, of uint8 (uint16 or float32 where the codec stores them), its mode as
  :class:`omnicodec.Image` infers it;
* audio codecs (``flac``, ``opus``...): (N,) or (N, C) samples (int16, int32, float32) at
  ``sample_rate``;
* bytes codecs (``zstd``, ``xz``, ``logzip``...): the chunk's bytes, of any dtype and shape.

A decode gives the chunk's values back in C order (lossy codecs: their reconstruction).  The
numcodecs id is ``omnicodec``; the package registers it as a ``numcodecs.codecs`` entry point,
so ``numcodecs.get_codec({"id": "omnicodec", "codec": "flac", ...})`` finds it.

On top of the public API (like ``latents``, ``archive`` and ``bench``): only the CLI imports
it, and nothing in omnicodec depends on numcodecs being installed (the ``zarr`` extra).
"""

from __future__ import annotations

import asyncio
import functools
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
from numcodecs.abc import Codec as _NumcodecsCodec
from numcodecs.compat import ensure_bytes, ensure_ndarray, ndarray_copy
from zarr import registry as zarr_registry
from zarr.abc.codec import ArrayBytesCodec

from . import api
from .errors import UnsupportedInputError
from .items import Audio, Bytes, Image


class Omnicodec(_NumcodecsCodec):
    """The omnicodec codec ``codec`` (an id of ``codec list``) at ``quality`` (lossy codecs), with
    the codec's own ``options`` (as ``codec list --options`` shows them, checked here)."""

    codec_id = "omnicodec"

    def __init__(self, codec: str = "zstd", quality: float | None = None, sample_rate: int | None = None,
                 **options: Any):
        self.codec, self.quality, self.sample_rate, self.options = codec, quality, sample_rate, dict(options)
        self._codec = api.get_codec(codec, quality, **options)  # an unknown codec or option fails here
        self._modality = self._codec.modality
        if self._modality == "audio" and not sample_rate:
            raise UnsupportedInputError(f"{codec} codes sound: give the chunks' sample_rate")
        if self._modality == "video":
            raise UnsupportedInputError(f"{codec} codes video, whose frames are not one array: use an image codec")

    def get_config(self) -> dict[str, Any]:
        extra = {"quality": self.quality, "sample_rate": self.sample_rate}
        return {"id": self.codec_id, "codec": self.codec, **self.options,
                **{k: v for k, v in extra.items() if v is not None}}

    def encode(self, buf) -> bytes:
        chunk = ensure_ndarray(buf)
        if self._modality == "image":
            item = Image(np.ascontiguousarray(chunk))
        elif self._modality == "audio":
            item = Audio(np.ascontiguousarray(chunk), int(self.sample_rate))
        else:
            item = Bytes(np.ascontiguousarray(chunk).tobytes())
        return api.encode(item, self._codec)

    def decode(self, buf, out=None):
        item = api.decode(ensure_bytes(buf))
        if isinstance(item, Image):
            values = item.pixels
        elif isinstance(item, Audio):
            values = item.samples
        elif isinstance(item, Bytes):
            values = np.frombuffer(item.data, np.uint8)
        else:
            raise UnsupportedInputError(f"a {type(item).__name__} is not an array chunk")
        return ndarray_copy(np.ascontiguousarray(values), out) if out is not None else np.ascontiguousarray(values)

    def __repr__(self) -> str:
        return f"Omnicodec({', '.join(f'{k}={v!r}' for k, v in self.get_config().items() if k != 'id')})"


@functools.lru_cache(maxsize=32)
def _numcodec(config_json: str) -> Omnicodec:
    """The numcodecs codec of a ZarrCodec's settings, made once per process."""
    return Omnicodec(**json.loads(config_json))


@dataclass(frozen=True)
class ZarrCodec(ArrayBytesCodec):
    """:class:`Omnicodec` as a zarr v3 array-to-bytes codec (the ``serializer`` of an array;
    metadata name ``omnicodec``, registered as a ``zarr.codecs`` entry point)::

        zarr.create_array(store, shape=..., chunks=(512, 512, 3), dtype="uint8",
                          serializer=ZarrCodec(codec="jxl-lossless"), compressors=None)
    """

    is_fixed_size = False
    configuration: str = "{}"  # Omnicodec's settings as sorted JSON (a frozen dataclass field)

    def __init__(self, **config: Any) -> None:
        _numcodec(json.dumps(config, sort_keys=True))  # checked now: an unknown codec fails here
        object.__setattr__(self, "configuration", json.dumps(config, sort_keys=True))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ZarrCodec:
        return cls(**data.get("configuration", {}))

    def to_dict(self) -> dict[str, Any]:
        return {"name": "omnicodec", "configuration": json.loads(self.configuration)}

    async def _encode_single(self, chunk_array, chunk_spec):
        data = await asyncio.to_thread(_numcodec(self.configuration).encode, chunk_array.as_ndarray_like())
        return chunk_spec.prototype.buffer.from_bytes(data)

    async def _decode_single(self, chunk_bytes, chunk_spec):
        values = await asyncio.to_thread(_numcodec(self.configuration).decode, chunk_bytes.to_bytes())
        return chunk_spec.prototype.nd_buffer.from_ndarray_like(values.reshape(chunk_spec.shape))

    def compute_encoded_size(self, input_byte_length: int, chunk_spec) -> int:
        raise NotImplementedError  # variable-size output


# also a zarr.codecs entry point, for readers that never import this module
zarr_registry.register_codec("omnicodec", ZarrCodec)
