"""Fuzz targets: the container parser and every codec's decoder, reached through the public API.

A target takes bytes and either returns or raises one of omnicodec's errors
(``OmnicodecError``); any other exception, a hang or memory past the limit is a finding.
Decodes run with ``limits.MAX_MEMORY`` at 1 GiB, so a finding of memory means a codec's
``decode_memory`` estimate was wrong (or missing), not that a large header was accepted.

* ``container``: the bytes are a whole .omc file given to ``omnicodec.decode``; mutations
  mostly test the container's own checks (magic, varints, the header and its schema, CRCs).
* ``codec:ID``: the bytes replace one section of ID's frozen fixture (tests/fixtures/ID), and
  may overwrite one integer field of its header's ``meta``; the file is then re-packed with
  valid checksums, so the mutation reaches the codec's decoder (and the size caps and digest
  check in front of and behind it).  Layout of the input::

      byte 0      which section (index into the fixture's sorted tags, modulo their count)
      byte 1      bit 7 set: overwrite meta field (byte 1 & 0x7f) modulo the int fields...
      bytes 2-9   ...with this signed 64-bit little-endian value
      bytes 10-   the section's new payload

* ``all``: byte 0 picks the codec, the rest is a ``codec:ID`` input: one process covers every
  decoder (the CI smoke run).

``seeds(target)`` gives each target's starting corpus: the fixtures, in that layout.
"""

from __future__ import annotations

import dataclasses
import json
from functools import lru_cache
from pathlib import Path
from typing import Callable

import omnicodec
from omnicodec import container, limits
from omnicodec.errors import OmnicodecError

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures"
_HEAD = 10


@lru_cache(maxsize=None)
def fixture(codec_id: str) -> tuple[container.Header, dict[str, bytes]]:
    """The codec's newest frozen fixture (the last folder in sorted order; a folder of a
    non-default variant, such as a lane-coded hyperprior, is named to sort before it)."""
    folder = sorted(p for p in (FIXTURES / codec_id).iterdir() if (p / "sample.omc").exists())[-1]
    box = container.unpack((folder / "sample.omc").read_bytes())
    return box.header, dict(box.sections)


def codec_ids() -> list[str]:
    return sorted(p.name for p in FIXTURES.iterdir() if p.is_dir())


def _int_fields(meta: dict) -> list[str]:
    return sorted(k for k, v in meta.items() if isinstance(v, int) and not isinstance(v, bool))


def build(codec_id: str, data: bytes) -> bytes:
    """A ``codec:ID`` input -> the .omc file it stands for."""
    header, sections = fixture(codec_id)
    tags = sorted(sections)
    head = data[:_HEAD].ljust(_HEAD, b"\0")
    sections = dict(sections)
    sections[tags[head[0] % len(tags)]] = data[_HEAD:]
    meta = json.loads(json.dumps(header.meta))
    fields = _int_fields(meta)
    if head[1] & 0x80 and fields:
        meta[fields[(head[1] & 0x7F) % len(fields)]] = int.from_bytes(head[2:10], "little", signed=True)
    return container.pack(dataclasses.replace(header, meta=meta), sections)


MAX_MEMORY = 1 << 30  # what a fuzzed decode may plan to allocate (run.py's -rss_limit_mb is above)


def decode(blob: bytes) -> None:
    """Decode through the public API under MAX_MEMORY; only omnicodec's own errors are expected."""
    saved, limits.MAX_MEMORY = limits.MAX_MEMORY, min(limits.MAX_MEMORY, MAX_MEMORY)
    try:
        omnicodec.decode(blob)
    except OmnicodecError:
        pass
    finally:
        limits.MAX_MEMORY = saved


def target(name: str) -> Callable[[bytes], None]:
    if name == "container":
        return decode
    if name == "all":
        ids = codec_ids()
        return lambda data: decode(build(ids[data[0] % len(ids)], data[1:])) if data else None
    codec_id = name.removeprefix("codec:")
    if codec_id not in codec_ids():
        raise SystemExit(f"no target {name!r}: container, all, or codec:ID for ID in {codec_ids()}")
    return lambda data: decode(build(codec_id, data))


def seeds(name: str) -> list[bytes]:
    """The starting corpus: every fixture file, or every section of the fixtures in the
    ``codec:ID`` layout."""
    if name == "container":
        return [p.read_bytes() for p in sorted(FIXTURES.glob("*/*/sample.omc"))]
    ids = codec_ids() if name == "all" else [name.removeprefix("codec:")]
    out = []
    for codec_id in ids:
        prefix = bytes([ids.index(codec_id)]) if name == "all" else b""
        _, sections = fixture(codec_id)
        for i, tag in enumerate(sorted(sections)):
            out.append(prefix + bytes([i]) + bytes(_HEAD - 1) + sections[tag])
    return out
