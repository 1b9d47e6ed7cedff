"""Shared test helpers: synthetic items, round trips, corruption, frozen fixtures."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

import omnicodec
from omnicodec import container, registry
from omnicodec.errors import CorruptStreamError, UnsupportedInputError
from omnicodec.items import PIX_FMTS, Audio, Bytes, Image, Video, chroma_shape

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"
# the fixture folders of a codec's default stream: v1 written by container 1 (decoded forever),
# v2 by container 2 (its payload re-encoded too), v3 by today's container (re-encoded byte for byte)
VERSIONS = ("v1", "v2", "v3")
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def peak_growth(fn) -> int:
    """Bytes by which the process's peak RSS rises above its RSS at the start while ``fn()``
    runs (Linux; the peak is reset through /proc/self/clear_refs, so an earlier, higher peak
    of the test process cannot hide the growth)."""
    def status(key: str) -> int:
        with open("/proc/self/status") as f:
            return int(next(x for x in f if x.startswith(key)).split()[1]) * 1024

    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = status("VmRSS:")
    fn()
    return status("VmHWM:") - before


def make_image(h: int = 37, w: int = 53, mode: str = "RGB", seed: int = 0) -> Image:
    """A smooth gradient with texture, odd-sized by default."""
    rng = np.random.default_rng(seed)
    from omnicodec.items import IMAGE_MODES

    channels, dtype = IMAGE_MODES[mode]
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([30 + (xx * 150 // max(w - 1, 1)) + c * 20 + yy // 2 for c in range(channels)], -1)
    noisy = base + rng.integers(-2, 3, base.shape)
    if dtype == "uint16":
        return Image((noisy * 257).clip(0, 65535).astype(np.uint16), mode)
    if dtype == "float32":
        return Image((noisy / 255.0).astype(np.float32), mode)
    return Image(noisy.clip(0, 255).astype(np.uint8), mode)


def make_digits(rows: int = 1, cols: int = 1, seed: int = 0) -> Image:
    """A grid of real MNIST test digits (28x28 grey), drawn with replacement from the 100 the
    package bundles (``omnicodec/samples/mnist-test-100.png``, the first 100 of the test set)."""
    from importlib import resources

    from PIL import Image as PILImage

    with PILImage.open(resources.files("omnicodec") / "samples" / "mnist-test-100.png") as im:
        digits = np.asarray(im).reshape(10, 28, 10, 28).transpose(0, 2, 1, 3).reshape(100, 28, 28)
    pick = digits[np.random.default_rng(seed).integers(0, 100, rows * cols)]
    return Image(np.ascontiguousarray(pick.reshape(rows, cols, 28, 28).transpose(0, 2, 1, 3).reshape(rows * 28, cols * 28)),
                 "L")


def make_audio(frames: int = 4800, rate: int = 16000, channels: int = 1, subtype: str = "PCM_16",
               seed: int = 0) -> Audio:
    rng = np.random.default_rng(seed)
    t = np.arange(frames)[:, None] / rate
    x = 0.4 * np.sin(2 * np.pi * 440 * t * (1 + np.arange(channels))) + 0.01 * rng.standard_normal((frames, channels))
    if subtype == "PCM_24":
        return Audio((np.round(x * 2**23).astype(np.int32) << 8), rate, subtype)
    return Audio(np.round(x * 32767).astype(np.int16), rate, subtype)


def make_video(frames: int = 3, h: int = 48, w: int = 64, pix_fmt: str = "yuv420p", seed: int = 0) -> Video:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    ys = np.stack([(xx * 3 + yy * 2 + 8 * i) % 220 + 16 for i in range(frames)]).astype(np.uint8)
    ch, cw = chroma_shape(pix_fmt, h, w)
    u = np.full((frames, ch, cw), 128, np.uint8) + rng.integers(0, 3, (frames, ch, cw)).astype(np.uint8)
    v = np.full((frames, ch, cw), 100, np.uint8)
    if PIX_FMTS[pix_fmt][2] == "uint16":  # 10 bits and more: the same picture, two more bits
        ys, u, v = (p.astype(np.uint16) << 2 | 1 for p in (ys, u, v))
    return Video((ys, u, v), (25, 1), pix_fmt)


def make_bytes(lines: int = 300, seed: int = 0) -> Bytes:
    rng = np.random.default_rng(seed)
    rows = [f"2024-01-{1 + i % 28:02d} 12:{i % 60:02d}:{(i * 7) % 60:02d} INFO worker[{rng.integers(100, 999)}]: "
            f"request {i} took {rng.integers(1, 500)} ms\n" for i in range(lines)]
    return Bytes("".join(rows).encode())


ITEMS = {"image": make_image, "audio": make_audio, "video": make_video, "bytes": make_bytes}


def items_equal(a, b) -> bool:
    return a.digest() == b.digest()


def roundtrip(item, codec_id: str, quality: float | None = None):
    blob = omnicodec.encode(item, codec_id, quality)
    return blob, omnicodec.decode(blob)


def section_spans(blob: bytes) -> list[tuple[int, int]]:
    """(start, end) byte spans: the fixed header + JSON + CRC, then each section."""
    return container.spans(blob)


def assert_corruption_detected(blob: bytes) -> None:
    """Flipping a byte in every part, and truncating at every boundary, raises the right type."""
    from omnicodec.errors import TruncatedStreamError, UnsupportedInputError

    for start, end in section_spans(blob):
        for pos in {start, (start + end) // 2, end - 1}:
            bad = bytearray(blob)
            bad[pos] ^= 0x5A
            with pytest.raises((CorruptStreamError, UnsupportedInputError)):
                omnicodec.decode(bytes(bad))
        if start:
            with pytest.raises(TruncatedStreamError):
                omnicodec.decode(blob[:start + (end - start) // 2])
            if start < len(blob):
                with pytest.raises(TruncatedStreamError):
                    omnicodec.decode(blob[:start])


def check_fixture(codec_id: str, item, version: str = "v1", codec=None) -> None:
    """Decode the frozen fixture for ``codec_id`` and compare with the recorded digest.

    ``version`` names the fixture folder; a codec may keep several (streams written by older
    weights must go on decoding).  A missing fixture fails unless REGEN_FIXTURES=1, which writes
    it from ``item`` (with ``codec``, a configured codec, if given; else the default).
    """
    folder = FIXTURES / codec_id / version
    blob_path, expect_path = folder / "sample.omc", folder / "expected.json"
    if not blob_path.exists():
        if os.environ.get("REGEN_FIXTURES") != "1":
            pytest.fail(f"missing fixture {blob_path}; run with REGEN_FIXTURES=1 to create it")
        folder.mkdir(parents=True, exist_ok=True)
        blob = omnicodec.encode(item, codec or codec_id)
        decoded = omnicodec.decode(blob)
        blob_path.write_bytes(blob)
        expect_path.write_text(json.dumps({"decoded_digest": decoded.digest(),
                                           "source_digest": item.digest()}, indent=1) + "\n")
    expected = json.loads(expect_path.read_text())
    blob = blob_path.read_bytes()
    header, decoded = omnicodec.decode_with_header(blob)
    assert header.codec == codec_id and header.format_version == int(version[1:].split("-")[0])
    assert decoded.digest() == expected["decoded_digest"]
    if header.format_version >= 2:
        # the bitstream-change guard: today's encoder, given the same item and config, writes
        # the frozen payload again (and, in today's container version, the frozen bytes); a
        # change needs a new fixture folder (and, if old files would no longer decode, a version
        # bump), never a silent edit of the format
        assert item.digest() == expected["source_digest"], "the test's item is not the fixture's source"
        codec = registry.get_codec_class(codec_id).from_config(header.config)
        if _decode_only(codec):  # weights kept for their streams only: encoding is refused
            with pytest.raises(UnsupportedInputError, match="decode old streams only"):
                omnicodec.encode(item, codec)
            return
        again = omnicodec.encode(item, codec)
        box, frozen = container.unpack(again), container.unpack(blob)
        box.header.format_version = frozen.header.format_version
        box.header.encoder = frozen.header.encoder  # the library's version may move on
        assert box.header == frozen.header and sorted(box.sections) == sorted(frozen.sections)
        if codec.cpu_dependent_encode:  # about the same payload bytes (SIMD rounding)
            sizes = [sum(map(len, b.sections.values())) for b in (box, frozen)]
            assert abs(sizes[0] - sizes[1]) <= 0.05 * sizes[1]
            return
        same = box.sections == frozen.sections and (header.format_version < container.FORMAT_VERSION
                                                    or container.pack(box.header, box.sections) == blob)
        assert same, (
            f"{codec_id}'s encoder no longer writes {blob_path.relative_to(FIXTURES)}: if its format "
            "changed, add a fixture folder (and keep this one decoding); if only an external "
            "library's encoder changed, regenerate the folder and say so in the commit")


def _decode_only(codec) -> bool:
    """Whether a learned codec's weights are a decode-only file (``models.packing``)."""
    from omnicodec.codecs.learned import LearnedCodec, find_weights, manifest

    if not isinstance(codec, LearnedCodec):
        return False
    path, _ = find_weights(codec.codec_id, codec.default_weights(), codec.weights)
    return bool(manifest()[path.name].get("dropped"))


def write_images(folder: Path, n: int = 3, size=(80, 96)) -> Path:
    """``n`` random RGB PNGs of ``size`` in ``folder`` (a training folder)."""
    from PIL import Image as PILImage

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        PILImage.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return folder
