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
* ``recipes``: byte 0 picks one of a few small items with a recipe (a zlib PNG's and another
  deflater's ``pngz``, an LZW TIFF's ``tifz``, a gzip file's ``gzpz`` of one member and one of
  two, a ZIP's ``zipz``, a bzip2 file's ``bz2z``), the rest replaces that side data, and the
  item is rendered as its file (``files.render``, what a decode writes): a crafted file can
  carry any side data under a valid digest.

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


@lru_cache(maxsize=1)
def recipe_items() -> list[tuple[object, str, str]]:
    """(item, side-data tag, extension) for the ``recipes`` target, made here (small, fixed)."""
    import bz2
    import gzip
    import io
    import zipfile

    import imagecodecs
    import numpy as np
    from PIL import Image as PILImage

    from omnicodec.datasets.files import read_item
    from omnicodec.datasets.recipes import png_chunk

    yy, xx = np.mgrid[0:24, 0:40]
    pixels = np.stack([xx * 5, yy * 9, xx + yy], -1).astype(np.uint8)
    out = io.BytesIO()
    PILImage.fromarray(pixels).save(out, "PNG")
    png = out.getvalue()
    rows = np.concatenate([np.ones((24, 1), np.uint8), pixels.reshape(24, -1)], 1).tobytes()  # (Sub filters)
    odd = imagecodecs.zopfli_encode(rows)  # zlib does not make it: pngz's second form
    other = png[:33] + png_chunk(b"IDAT", odd) + png[-12:]  # (signature and IHDR, the IDAT, IEND)
    tiff = imagecodecs.tiff_encode(pixels, compression="lzw", predictor=True)
    log = b"".join(b"line %d of a log\n" % i for i in range(300))
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("a.log", log)
        z.writestr("b.log", log[::-1])
    files = [(png, "x.png", "pngz", ".png"), (other, "x.png", "pngz", ".png"), (tiff, "x.tif", "tifz", ".tif"),
             (gzip.compress(log, mtime=0), "x.gz", "gzpz", ".gz"),
             (gzip.compress(log[:999], mtime=0) + gzip.compress(log[999:], mtime=0), "x.gz", "gzpz", ".gz"),
             (archive.getvalue(), "x.zip", "zipz", ".zip"),
             (bz2.compress(log), "x.bz2", "bz2z", ".bz2")]
    items = []
    for data, name, tag, ext in files:
        item = read_item(Path(name), data=data, exact=True)
        assert tag in item.extra, name
        items.append((item, tag, ext))
    return items


def render_recipe(data: bytes) -> None:
    """A ``recipes`` input rendered; only omnicodec's errors are expected."""
    import dataclasses
    import warnings

    from omnicodec.datasets.files import render
    from omnicodec.datasets.recipes import ZlibMismatch

    if not data:
        return
    item, tag, ext = recipe_items()[data[0] % len(recipe_items())]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ZlibMismatch)  # (a pngz of another zlib: rendered all the same)
            render(dataclasses.replace(item, extra={**item.extra, tag: data[1:]}), ext)
    except OmnicodecError:
        pass


def target(name: str) -> Callable[[bytes], None]:
    if name == "container":
        return decode
    if name == "recipes":
        return render_recipe
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
    if name == "recipes":
        return [bytes([i]) + item.extra[tag] for i, (item, tag, _) in enumerate(recipe_items())]
    ids = codec_ids() if name == "all" else [name.removeprefix("codec:")]
    out = []
    for codec_id in ids:
        prefix = bytes([ids.index(codec_id)]) if name == "all" else b""
        _, sections = fixture(codec_id)
        for i, tag in enumerate(sorted(sections)):
            out.append(prefix + bytes([i]) + bytes(_HEAD - 1) + sections[tag])
    return out
