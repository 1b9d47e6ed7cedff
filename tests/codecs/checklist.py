"""The per-codec checklist every codec test module runs (numcodecs-style)."""

from __future__ import annotations

import json

import pytest

import omnicodec
from omnicodec import registry
from omnicodec.metrics import item_psnr

from ..common import assert_corruption_detected, check_fixture, items_equal, roundtrip


def run_checklist(codec_id: str, item, min_psnr: float | None = None) -> None:
    cls = registry.get_codec_class(codec_id)
    if not cls.available():
        pytest.fail(f"{codec_id} is not available here: {cls.missing()}")
    quality = None if cls.lossless else 90
    codec = omnicodec.get_codec(codec_id, quality).for_item(item)  # the codec the API runs on it
    config = json.loads(json.dumps(codec.get_config()))  # what a header stores
    assert type(codec).from_config(config) == codec, "config does not round-trip through JSON"
    blob, decoded = roundtrip(item, codec_id, quality)
    if cls.lossless:
        assert items_equal(decoded, item), f"{codec_id} is not lossless"
    else:
        assert decoded.meta() == item.meta()
        assert item_psnr(item, decoded) > min_psnr
    header = omnicodec.decode_with_header(blob)[0]
    assert header.codec == codec_id
    assert header.config == config, "the stream's config is not the one the codec was built with"
    omnicodec.encode(item, codec)
    assert codec.get_config() == config, "encoding changed the codec's config"
    assert_corruption_detected(blob)


def check_quality_monotone(codec_id: str, item) -> None:
    """A higher quality never gives a smaller file over a coarse sweep."""
    sizes = [len(omnicodec.encode(item, codec_id, q)) for q in (10, 50, 95)]
    assert sizes[0] < sizes[2], sizes


__all__ = ["run_checklist", "check_quality_monotone", "check_fixture"]
