"""The public API behind ``omnicodec.encode`` / ``decode`` / ``open`` and the CLI.

    file -> datasets.files.read_item -> Codec.encode -> container.pack -> .omc bytes
    .omc bytes -> container.unpack -> Codec.decode -> digest check -> item -> write_item
    big bytes file -> StreamingCodec.encode_to (spool) -> container.write, in chunks
    .omc file -> container.open_sections (payloads read on demand) -> StreamingCodec
                 .iter_decode / .decode_lines -> digest check (whole streams) -> file
"""

from __future__ import annotations

import builtins
import contextlib
import glob
import io
import os
import shutil
import socket
import stat
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator

import numpy as np

from . import container, limits, registry
from .codecs.base import Codec, StreamingCodec, check_line_range
from .container import Header
from .errors import CorruptStreamError, OmnicodecError, UnknownCodecError, UnsupportedInputError
from .items import Audio, Bytes, Image, Item, Video, check_meta, select_lines, side_records

OMC_EXT = ".omc"


# ----------------------------------------------------------------------------------- codecs
@dataclass(frozen=True)
class CodecInfo:
    codec_id: str
    modality: str
    lossless: bool
    available: bool
    missing: tuple[str, ...]
    extra: str
    description: str
    options: tuple[str, ...] = ()  # "name=default (values)" for each option (``-O``)


def list_codecs() -> list[CodecInfo]:
    """Every registered codec with its modality, losslessness, availability here and options."""
    out = []
    for cid in registry.codec_ids():
        cls = registry.get_codec_class(cid)
        missing = tuple(cls.missing())
        out.append(CodecInfo(cid, "/".join(cls.modalities()), cls.lossless, not missing, missing, cls.extra,
                             cls.description, tuple(cls.option_help())))
    return out


def get_codec(codec_id: str, quality: float | None = None, **config: Any) -> Codec:
    """A configured codec: from ``quality`` (0..100) and/or explicit config fields and
    settings (such as a streaming codec's ``workers``)."""
    import dataclasses

    cls = registry.get_codec_class(codec_id)
    cls.check_available()
    cls.check_options(config)
    settings = {k: config.pop(k) for k in cls.setting_names() & set(config)}
    codec = cls.from_quality(quality)
    codec = cls.from_config({**codec.get_config(), **config}) if config else codec
    return dataclasses.replace(codec, **settings) if settings else codec


def parse_options(codec_id: str, pairs: list[str]) -> dict[str, Any]:
    """Options as a command line gives them (``["level=3", "long=false"]``), read as the
    codec's field types and checked: ``get_codec(codec_id, **parse_options(codec_id, pairs))``."""
    return registry.get_codec_class(codec_id).parse_options(pairs)


def choose_codec(item: Item, quality: float | None = None) -> Codec:
    """The default codec for ``item``: the best lossless one without ``quality``, else the
    best lossy one (falling back to lossless where the modality has no lossy codec)."""
    reasons: list[str] = []
    for codec in candidates(item, quality, reasons):
        return codec
    raise UnsupportedInputError(f"no codec can encode this {item.modality}: " + "; ".join(reasons))


def candidates(item: Item, quality: float | None = None, reasons: list[str] | None = None):
    """The codecs that can encode ``item``, best first (see :func:`choose_codec`)."""
    prefs = registry.LOSSLESS_PREFERENCE[item.modality]
    if quality is not None:
        prefs = registry.LOSSY_PREFERENCE[item.modality] + prefs
    reasons = [] if reasons is None else reasons
    for cid in prefs:
        cls = registry.get_codec_class(cid)
        if not cls.available():
            reasons.append(f"{cid}: needs {', '.join(cls.missing())}")
            continue
        codec = cls.from_quality(quality if not cls.lossless else None)
        reason = codec.supports(item) or (None if codec.suits(item) else f"{cid}: not suited")
        if reason is None:
            yield codec
        else:
            reasons.append(reason)


# ----------------------------------------------------------------------------- bytes level
def encode(item: Item | bytes | np.ndarray, codec: str | Codec | None = None, quality: float | None = None,
           source: dict[str, str] | None = None, target: Target | None = None) -> bytes:
    """Compress an item, raw bytes or an image array ((H, W) grey or (H, W, C), its mode
    following its dtype: see :class:`omnicodec.Image`) into .omc bytes.  Side data
    (``item.extra``) is stored beside the codec's payload; lossless codecs store the item's
    digest.  With a ``target`` (bits per pixel, bits per second or bytes), a lossy ``codec``'s
    quality is searched for the largest file within it (see :class:`Target`)."""
    return _encode(item, codec, quality, source, target)[1]


@dataclass(frozen=True)
class Target:
    """A size for a lossy encode to meet (``codec encode --bpp / -b / --size``): bits per pixel
    (images; video: per pixel of every frame), bits per second (sound, video) or bytes, of the
    whole .omc file.  The codec's quality is searched by bisection (about 8 encodes) for the
    largest file within the target; a codec whose steps are coarse (JPEG's integer quality)
    lands a step below it, and a target above the codec's largest output gets quality 100."""

    bpp: float | None = None
    bitrate: float | None = None
    size: int | None = None

    def bytes_for(self, item: Item) -> int:
        pixels = (item.pixels.shape[0] * item.pixels.shape[1] if isinstance(item, Image) else
                  item.planes[0].size if isinstance(item, Video) else None)
        return self.bytes_of(pixels, item.seconds if isinstance(item, (Audio, Video)) else None)

    def bytes_of(self, pixels: int | None, seconds: float | None) -> int:
        """The target in bytes of an item of ``pixels`` (all frames'; None: not an image or a
        video) and ``seconds`` (None: not a sound or a video)."""
        if self.size is not None:
            return int(self.size)
        if self.bpp is not None:
            if pixels is None:
                raise UnsupportedInputError("bits per pixel are for images and video: give a sound a bitrate "
                                            "or a size")
            return int(self.bpp * pixels / 8)
        if seconds is None:
            raise UnsupportedInputError("a bitrate is for sound and video: give an image bits per pixel or a size")
        return int((self.bitrate or 0) * seconds / 8)


def _fit(item: Item, codec: Codec | None, target: Target, source) -> tuple[Header, bytes]:
    """The encode of ``item`` by ``codec`` at the highest quality whose file is within ``target``."""
    def encode_at(trial: Codec) -> tuple[Header, bytes, int]:
        header, blob = _encode(item, trial, None, source)
        return header, blob, len(blob)
    return _search(codec, encode_at, lambda _: target.bytes_for(item))


def _search(codec: Codec | None, encode_at: Callable, goal_of: Callable[[Header], int]) -> tuple[Header, Any]:
    """(header, result) of ``encode_at(codec at quality q)`` -> (header, result, size in bytes)
    at the highest quality q whose size is within ``goal_of(the first header)``: the ends
    first (a goal beyond either needs no search), then bisection."""
    import dataclasses

    if codec is None or codec.lossless or not any(f.name == "quality" for f in dataclasses.fields(codec)):
        raise UnsupportedInputError("a size target needs a lossy codec with a quality: name one with -c")
    if getattr(codec, "bitrate", 0):
        raise UnsupportedInputError(f"{codec.codec_id} is already given a bitrate: drop the size target")
    lo, hi, best, goal = 0.0, 100.0, None, None
    for q in [0.0, 100.0] + [None] * 14:
        q = (lo + hi) / 2 if q is None else q
        header, result, size = encode_at(dataclasses.replace(codec, quality=q))
        goal = goal_of(header) if goal is None else goal
        if size <= goal:
            lo, best = q, (header, result, size)
        elif q == 0.0:
            raise UnsupportedInputError(f"{codec.codec_id} cannot make it as small as {goal} bytes: "
                                        f"{size} at quality 0")
        else:
            hi = q
        if best[2] >= 0.99 * goal or hi - lo < 0.05:
            break
    return best[:2]


def _encode(item: Item | bytes, codec: str | Codec | None = None, quality: float | None = None,
            source: dict[str, str] | None = None, target: Target | None = None) -> tuple[Header, bytes]:
    """:func:`encode`, also returning the header it wrote."""
    from .datasets.files import RECIPES

    if isinstance(item, (bytes, bytearray, memoryview)):
        item = Bytes(bytes(item))
    elif isinstance(item, np.ndarray):
        if item.ndim not in (2, 3):
            raise UnsupportedInputError(f"an array of shape {item.shape} is not an image (H, W) or (H, W, C); "
                                        "wrap audio as omnicodec.Audio(samples, rate), video as omnicodec.Video")
        item = Image(item)
    elif not isinstance(item, (Image, Audio, Video, Bytes)):
        raise TypeError(f"encode takes an Image, Audio, Video or Bytes item, bytes or an image array, "
                        f"not {type(item).__name__}")
    if codec is None and target is None:
        codec = choose_codec(item, quality)
    elif isinstance(codec, str):
        codec = get_codec(codec, quality)
    if target is not None:
        return _fit(item, codec, target, source)
    codec = codec.for_item(item)
    codec.check_supports(item)
    try:  # the checks a decoder will make, applied at encode: never write what cannot be decoded
        check_meta(item.modality, item.meta())
    except CorruptStreamError as exc:
        raise UnsupportedInputError(f"too large to be decoded within the caps: {exc}") from None
    config = codec.get_config()  # fixed before encode: the stream records what was asked for
    sections = codec.encode(item)
    for tag, value in item.extra.items():
        if tag in RECIPES and not codec.lossless:
            continue  # (how the original file compressed the pixels the codec changes)
        if len(tag.encode("ascii")) != 4 or not _is_side(tag) or tag in sections:
            raise UnsupportedInputError(f"side data tag {tag!r} must be 4 ASCII characters, "
                                        "starting lower-case")
        sections[tag] = bytes(value)
    header = Header(codec=codec.codec_id, modality="" if item.modality == codec.modality else item.modality,
                    config=config, meta={} if codec.verbatim else item.meta(), source=dict(source or {}),
                    digest=item.digest() if codec.lossless and not codec.verbatim else None,
                    encoder=codec.encoder_version())
    return header, container.pack(header, sections)


Source = bytes | bytearray | memoryview | os.PathLike | BinaryIO


def decode(data: Source, repair: bool = False) -> Item:
    """Decompress .omc data to an item: bytes, a path (``pathlib.Path``; a ``str`` is taken
    for bytes' sake as an error) or a binary file object.  Lossless streams are verified
    against their digest.  ``repair``: a codec that can (``vq``) restores payload sections
    that are damaged instead of failing, and says so with a warning (``RepairWarning``);
    for the others it changes nothing."""
    return decode_with_header(data, repair)[1]


def decode_with_header(data: Source, repair: bool = False) -> tuple[Header, Item]:
    """Decompress .omc data (as :func:`decode` takes it); returns the header (modality filled
    in) and the item."""
    box = container.unpack(_read_source(data), repair)
    return box.header, _decode_box(box)


def _read_source(data: Source) -> bytes:
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    if isinstance(data, os.PathLike):
        return Path(data).read_bytes()
    if hasattr(data, "read"):
        return data.read()
    raise TypeError(f"expected .omc bytes, a path or a binary file object, got {type(data).__name__}")


def decode_latent(data: Source, tiles: bool = False):
    """(header, latent) of a learned codec's .omc data (as :func:`decode` takes it): the
    dequantized latent, float32, entropy-decoded only (no synthesis;
    ``LearnedCodec.decode_latent``); with ``tiles``, one latent per tile of a grid
    (tiles, C, h, w) (``LearnedCodec.latent_tiles``; one if untiled)."""
    box = container.unpack(_read_source(data))
    codec = latent_codec(box.header, sum(len(v) for v in box.sections.values()))
    with _invalid_meta(box.header):
        latent = codec.decode_latent(_payload(box.sections), box.header.meta)
        return box.header, codec.latent_tiles(latent, box.header.meta) if tiles else latent


def latent_codec(header: Header, payload_bytes: int | None = None):
    """The learned codec that wrote ``header``'s stream (refusing any other: no latent there)."""
    from .codecs.learned import LearnedCodec

    if not issubclass(_codec_class(header), LearnedCodec):
        raise UnsupportedInputError(f"{header.codec} is not a learned codec: its streams hold no latent")
    return _decoder(header, payload_bytes)


def _codec_class(header: Header):
    """The header's codec class; fills in a modality the header left implied (the codec's
    first; a codec of several modalities names the others in the header)."""
    cls = registry.get_codec_class(header.codec)
    if header.modality and header.modality not in cls.modalities():
        raise CorruptStreamError(f"codec {header.codec} does not produce {header.modality}")
    header.modality = header.modality or cls.modality
    return cls


def _decode_box(box: container.Container) -> Item:
    header = box.header
    codec = _decoder(header, sum(len(v) for v in box.sections.values()))
    with _invalid_meta(header):
        if box.damaged and not codec.repairable:
            raise CorruptStreamError(f"section {box.damaged[0]} checksum mismatch: the file is corrupt "
                                     f"({header.codec} streams cannot be repaired)")
        if box.damaged:
            item = codec.decode_repair(_payload(box.sections), header.meta)
        else:
            item = codec.decode(_payload(box.sections), header.meta)
    item.extra = {t: v for t, v in box.sections.items() if _is_side(t)}
    if header.digest is not None and item.digest() != header.digest:
        raise CorruptStreamError("decoded content does not match the stored digest")
    return item


def _decoder(header: Header, payload_bytes: int | None = None, streamed: bool = False) -> Codec:
    """The codec that decodes ``header``'s stream; a lossless one must have its digest, and an
    in-memory decode of ``payload_bytes`` (None: streamed block by block) must fit
    limits.MAX_MEMORY with the copy of its sections it reads.  ``streamed``: a video decoded a
    frame at a time (``check_meta``)."""
    cls = _codec_class(header)
    cls.check_available()
    if cls.lossless and not cls.verbatim and header.digest is None:
        raise CorruptStreamError(f"{header.codec} is lossless but the header has no digest: the file is damaged")
    codec = cls.from_config(header.config)
    item_bytes = check_meta(header.modality, header.meta, streamed)
    if payload_bytes is not None:
        limits.check_memory(payload_bytes + codec.decode_memory(header.meta, item_bytes),
                            f"this {header.codec} stream")
    return codec


@contextlib.contextmanager
def _invalid_meta(header: Header):
    """A decoder's KeyError, TypeError... on the header's metadata is a CorruptStreamError."""
    try:
        yield
    except CorruptStreamError:
        raise
    except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
        raise CorruptStreamError(f"{header.codec}: header metadata is invalid ({exc})") from None


def _payload(sections: dict[str, Any]) -> dict[str, Any]:
    """The codec's sections (upper-case tags; lower-case ones are the item's side data)."""
    return {t: v for t, v in sections.items() if not _is_side(t)}


def _is_side(tag: str) -> bool:
    """Whether a section of this tag is side data (the file around the content, a recipe):
    lower-case tags; a codec's payload sections are upper case."""
    return tag[:1].islower()


def read(path: str | os.PathLike, modality: str | None = None, allow_loss: bool = False) -> Item:
    """A media file as an item, as ``codec encode`` reads it: PNG, JPEG, WebP, AVIF, BMP, PNM,
    TIFF... as an Image; WAV, FLAC, AIFF, Opus, MP3... as Audio; y4m, MP4, MKV as Video;
    anything else as Bytes (``modality`` forces one).  What the item would not hold whole
    (a second frame, another track) is refused unless ``allow_loss``."""
    from .datasets.files import read_item

    with naming(path):
        return read_item(path, modality, allow_loss=allow_loss)


def write(item: Item, path: str | os.PathLike) -> None:
    """Write an item to ``path`` in the format its extension names (.png, .wav, .y4m, .npy...),
    atomically: a temporary file renamed into place."""
    from .datasets.files import render

    path = Path(path)
    data = render(item, path.suffix.lower())
    atomic_write(path, lambda tmp: tmp.write_bytes(data))


def open(path: str | os.PathLike) -> Header:  # noqa: A001 - mirrors PIL.Image.open
    """Read the header of an .omc file, after checking its framing (the section lengths
    against the file's size, no trailing bytes: a truncated file is refused); payloads are
    not read (:func:`test_file` checks them)."""
    with naming(path):
        with container.open_sections(os.fspath(path)) as box:
            header = box.header
    try:
        _codec_class(header)
    except UnknownCodecError:
        pass  # a codec from a newer omnicodec: the header is still worth showing
    return header


def describe(path: str | os.PathLike, header: Header | None = None) -> dict[str, Any]:
    """What ``codec info`` shows of an .omc file: its size, the header, whether the codec is
    lossless, the encoder settings its config stands for (``Codec.effective``: x265's CRF for
    its quality), the side data kept beside the essence (tag: bytes), and what the header
    implies (:func:`omnicodec.items.stream_facts`: the raw size and ratio, bpp, duration and
    kbit/s)."""
    from .items import stream_facts

    header = header or open(path)
    size = os.path.getsize(path)
    lossless: bool | None = None
    effective: dict[str, Any] = {}
    try:
        cls = _codec_class(header)  # also fills in an implied modality
        lossless = cls.lossless
        effective = cls.from_config(header.config).effective()
    except (UnknownCodecError, CorruptStreamError):
        pass  # a codec from a newer omnicodec, or a config this one cannot read: the header alone
    info = {"file": os.fspath(path), "bytes": size, "format_version": header.format_version,
            **header.to_json(), "lossless": lossless, **({"effective": effective} if effective else {})}
    try:  # the side data kept beside the essence (EXIF, ICC, XMP, PNG chunks, the WAV wrapper)
        with container.open_sections(path) as box:
            side = {tag: len(s) for tag, s in box.sections.items() if _is_side(tag)}
    except OmnicodecError:
        side = {}  # a damaged file: the header alone (``codec test`` says what is wrong)
    return {**info, **({"side_data": side} if side else {}), **stream_facts(header.modality, header.meta, size)}


@contextlib.contextmanager
def naming(path: str | os.PathLike) -> Iterator[None]:
    """Errors of ours raised inside name ``path`` (unless their message already does)."""
    try:
        yield
    except OmnicodecError as exc:
        if os.fspath(path) in str(exc) or f"{Path(path).name}:" in str(exc):
            raise
        raise type(exc)(f"{os.fspath(path)}: {exc}") from None


# ------------------------------------------------------------------------------ file level
def size_bound(size: int) -> int:
    """The most bytes a default (lossless) encode of ``size`` input bytes may take."""
    return size + size // 1000 + 64


def encode_file(src: str | os.PathLike, dst: str | os.PathLike | None = None,
                codec: str | Codec | None = None, quality: float | None = None, force: bool = False,
                progress: Callable[[int], None] | None = None, allow_loss: bool = False,
                verify: bool = True, workers: int | None = None, target: Target | None = None) -> tuple[Path, Header]:
    """Compress a file to ``dst`` (default: ``src`` + .omc); returns (path, header).

    Without ``codec`` and ``quality`` the output restores the file exactly, and is never
    bigger than :func:`size_bound`: the formats in ``datasets.files.ITEM_FORMATS`` (PNG, BMP,
    PGM/PPM, WAV, y4m) are coded as pixels/samples/frames with the rest of the file as side
    data, anything else (JPEG through JPEG XL, already-compressed media, unknown files) as its
    own bytes; each output is decoded and compared before it is
    written (``verify``), and whatever fails falls back to bytes, then to ``store``.  With a
    codec or quality, a file that the item would not hold whole is refused unless the codec is
    lossy, ``quality`` is given or ``allow_loss``.  The output keeps the input's permission
    bits and modification time.  Streaming codecs (logzip) read big inputs in blocks, encoded
    by ``workers`` processes (default: every core; the output is the same for any number);
    a video codec that codes frames one at a time (stem) reads, codes and spools a clip a
    frame at a time, a size ``target`` included (one streamed encode per quality tried).
    ``codec`` is an id or a configured codec (``get_codec("zstd", level=3)``; ``quality``
    then plays no part).  A ``dst`` whose extension is a standard format some codec writes
    (.webp .png .jpg .avif .flac .wav .opus .ogg .mp3 .mkv .mp4: ``Codec.standard``) gets
    that file, not an .omc: the codec asked for (which must write that format) or the
    modality's first that does, lossless unless ``quality`` is given; side data the format
    cannot carry (PNG chunks, the WAV wrapper) is refused for a lossless encode unless
    ``allow_loss``."""
    with naming(src):
        return _encode_file(Path(src), dst, codec, quality, force, progress, allow_loss, verify, workers, target)


def _encode_file(src: Path, dst, codec, quality, force, progress, allow_loss, verify, workers,
                 target=None) -> tuple[Path, Header]:
    import dataclasses

    from .datasets.files import identify

    if not src.is_file():
        raise FileNotFoundError(f"{src}: no such file")
    if isinstance(codec, str):  # configured once: an unknown codec or a bad setting fails before the output check
        codec = get_codec(codec, quality)
    dst = _output_path(Path(dst) if dst is not None else src.with_name(src.name + OMC_EXT))
    _check_output(src, dst, force)
    before = src.stat()
    source = {} if dst.name == src.name + OMC_EXT or not _utf8(src.name) else {"name": src.name}
    with src.open("rb") as f:
        head = f.read(1 << 16)
    modality, fmt = identify(head[:64], src.suffix.lower())
    if codec is not None and modality not in codec.modalities():
        modality = codec.modality
    if dst.suffix.lower() in standard_extensions():
        data = src.read_bytes()
        header = _encode_standard(src, dst, data, modality, codec, quality, allow_loss, verify, target)
        _check_unchanged(src, before, len(data))
        return dst, header
    header = None
    if modality == "video" and hasattr(codec, "encode_frames"):
        header = _encode_frames(src, dst, codec, fmt, source, progress, before, target, drop=allow_loss)
    if modality == "bytes" and not _opened_whole(fmt, before.st_size, codec, quality):
        probe = head if before.st_size < STREAM_MIN else _probe(src, before.st_size)
        chosen = codec if codec is not None else choose_codec(Bytes(probe), quality)
        big = codec is not None or before.st_size >= STREAM_MIN
        if isinstance(chosen, StreamingCodec) and big:
            if workers is not None:
                chosen = dataclasses.replace(chosen, workers=workers)
            header = _encode_stream(src, dst, chosen, source, progress, before, verify)
        elif chosen.verbatim and big:
            header = _store_stream(src, dst, source, before)
    if header is None:
        data = src.read_bytes()
        if codec is not None or quality is not None or target is not None:
            header, blob = _encode_asked(src, data, modality, codec, quality, source, allow_loss, verify, target)
        else:
            header, blob = _encode_default(src, data, modality, fmt, source, verify)
        _check_unchanged(src, before, len(data))
        atomic_write(dst, lambda tmp: tmp.write_bytes(blob), like=before)
    _codec_class(header)  # fills in the implied modality
    return dst, header


STREAM_MIN = 8 << 20  # default bytes encodes stream (logzip, store) from this size on


def _opened_whole(fmt: str, size: int, codec, quality) -> bool:
    """Whether a default encode reads a gzip, bzip2 or ZIP file whole to code its content
    (``recipes.gzip_item`` and its kin), however big: one whose content may fit
    ``recipes.OPEN_MAX``, which a compressed file larger than that cannot (a rotated log's
    .gz is often past STREAM_MIN, and streamed it would only be stored)."""
    from .datasets.recipes import OPEN_MAX

    return fmt in ("gzip", "bzip2", "zip") and codec is None and quality is None and size <= OPEN_MAX


def _probe(src: Path, size: int, n: int = 1 << 18) -> bytes:
    """The start, middle and end of a big file: enough to choose its bytes codec."""
    with src.open("rb") as f:
        if size <= 3 * n:
            return f.read()
        parts = []
        for at in (0, size // 2, size - n):
            f.seek(at)
            parts.append(f.read(n))
    return b"".join(parts)


def _store_stream(src: Path, dst: Path, source: dict, before: os.stat_result) -> Header:
    """``store`` without holding the file in memory: the section is copied in chunks."""
    header = Header(codec="store", modality="", config={}, meta={}, source=source)

    def write(tmp: Path) -> None:
        with src.open("rb") as f, tmp.open("wb") as out:
            try:
                container.write(out, header, {"DATA": (f, before.st_size)})
            except ValueError:  # the file ended early
                pass
            _check_unchanged(src, before, f.tell())

    atomic_write(dst, write, like=before)
    return header


def _encode_standard(src: Path, dst: Path, data: bytes, modality: str, codec, quality, allow_loss,
                     verify, target=None) -> Header:
    """Write ``src`` to ``dst`` as the standard file its extension names (see encode_file)."""
    from .datasets.files import read_item

    ext = dst.suffix.lower()
    if modality == "bytes":
        raise UnsupportedInputError(f"{src.name} is not an image, sound or video: it cannot be written as {ext} "
                                    "(write .omc)")
    lossless = codec.lossless if codec is not None else quality is None and target is None
    item = read_item(src, modality, allow_loss=allow_loss or not lossless, data=data, drop=allow_loss)
    chosen = _standard_codec(ext, modality, item, codec, quality)
    header, blob = _encode(item, chosen, quality, target=target)
    sections = container.unpack(blob).sections
    side = _lost(sections, ext)
    if side and lossless and not allow_loss:
        raise UnsupportedInputError(f"a {ext} file cannot carry the side data of {src.name} ({', '.join(side)}): "
                                    "write .omc, or pass --allow-loss")
    if verify and chosen.lossless:
        decode(blob)  # raises if the stream does not restore the item
    out = standard_file(_decoder(header), sections, header.meta, ext)  # configured as the stream says
    atomic_write(dst, lambda tmp: tmp.write_bytes(out), like=os.stat(src))
    return header


def _encode_asked(src, data, modality, codec, quality, source, allow_loss, verify,
                  target=None) -> tuple[Header, bytes]:
    from .datasets.files import read_item

    lossless = codec.lossless if codec is not None else quality is None and target is None
    item = read_item(src, modality, allow_loss=allow_loss or not lossless, data=data, drop=allow_loss,
                     exact=lossless)
    header, blob = _encode(item, codec, quality, source=source, target=target)
    if verify and lossless:
        decode(blob)  # raises if the stream does not restore the item
    return header, blob


def _encode_default(src, data, modality, fmt, source, verify) -> tuple[Header, bytes]:
    from .datasets.files import EXPANDED, ITEM_FORMATS, WRAPPERS, read_item

    limit = size_bound(len(data))
    raw = None  # an item codec's output that the bytes route may beat (wav, an expanded ZIP)
    if fmt in ITEM_FORMATS:
        try:
            item = read_item(src, modality, data=data, exact=True)
        except Exception:  # noqa: BLE001 - whatever a reader makes of it, bytes always work
            item = None
        if item is not None and fmt in WRAPPERS and not WRAPPERS[fmt] & item.extra.keys():
            item = None  # read through Pillow or libsndfile: it would not give the file back
        for codec in candidates(item) if item is not None else ():
            if codec.verbatim:  # (an opened file's content stored beside its recipe: the file stored is no larger)
                continue
            done = _try(item, codec, source, limit)
            if done is not None and (not verify or _restores(done[1], src.name, data)):
                if not codec.uncompressed and fmt not in EXPANDED:
                    return done
                raw, limit = done, len(done[1])  # the bytes codecs' output has to be smaller
                break
    item = Bytes(data)
    for codec in candidates(item):
        if raw is not None and codec.verbatim:
            break  # (store)
        done = _try(item, codec, source, limit)
        if done is not None and (not verify or codec.verbatim or _restores(done[1], src.name, data)):
            return done
    if raw is not None:
        return raw
    raise UnsupportedInputError(f"{src}: no codec could store it within {limit} bytes")  # unreachable: store


def _try(item: Item, codec: Codec, source: dict, limit: int) -> tuple[Header, bytes] | None:
    try:
        header, blob = _encode(item, codec, source=source)
    except Exception:  # noqa: BLE001 - a codec that cannot take this input is skipped
        return None
    return (header, blob) if len(blob) <= limit else None


def _restores(blob: bytes, name: str, data: bytes) -> bool:
    """Whether ``blob``, saved as ``name`` + .omc, decodes the way ``codec decode`` decodes it
    without -o back to the original file, byte for byte: through ``_decode_to`` into a scratch
    file named as decode_file names it, in the format it writes there.  Until 2026-12-07 #23
    the scratch file was named for the format the encoder read (a WAV saved as song.flac was
    checked as song.wav, then decoded to a FLAC file), and a PNG passed with the same pixels
    and chunks (a PNG of odd IDAT chunks came back with other ones); until #22 the check
    decoded in memory (passing stored content beside a recipe that ``codec decode`` refused)."""
    from .datasets.recipes import ZlibMismatch

    try:
        with tempfile.TemporaryDirectory(prefix="omc-verify-") as scratch, warnings.catch_warnings():
            warnings.simplefilter("ignore", ZlibMismatch)  # (judged by the bytes, not announced)
            with container.read_lazy(io.BytesIO(blob), len(blob)) as box:
                cls = _codec_class(box.header)  # (fills in the implied modality)
                out = default_output(Path(scratch) / (name + OMC_EXT), box.header, box.sections)
                _decode_to(box, cls, out, None, ext=_restored_ext(out.name, box.sections))
            return out.read_bytes() == data
    except Exception:  # noqa: BLE001 - anything short of an exact restore is a failure
        return False


def _decode_frames_to(box: container.LazyContainer, tmp: Path, frames: tuple[int, int] | None) -> None:
    """A frame-streaming codec's stream (stem) decoded to .y4m a frame at a time, all of it or
    ``frames`` = (start, stop), 0-based and half-open (decoding from the intra frame before
    ``start``): payloads read from the file as they are needed, so memory holds a frame
    whatever the clip's length."""
    from .datasets import y4m

    header, meta = box.header, box.header.meta
    codec = _decoder(header, streamed=True)
    one = {**meta, "frames": 1}
    limits.check_memory(codec.decode_memory(one, check_meta(header.modality, one)),
                        f"a frame of this {header.codec} stream")
    total = meta["frames"]
    start, stop = frames if frames is not None else (0, total)
    if start >= total:
        raise UnsupportedInputError(f"--frames: the stream holds {total} frames")
    stop = min(stop, total)
    side = box.sections.get("y4mh")
    if side is not None and len(side) > (1 << 16) + 256 * total:
        raise CorruptStreamError(f"y4m side data of {len(side)} bytes is too large")
    side = y4m.side_range(side.read(), total, start, stop) if side is not None else None
    decoded = codec.decode_frames(box.sections, meta, start, stop - start, streamed=True)
    with tmp.open("wb") as out:
        y4m.write(out, {**meta, "frames": stop - start}, decoded, side)


def _check_unchanged(src: Path, before: os.stat_result, read: int) -> None:
    after = src.stat()
    if read != before.st_size or (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
        raise UnsupportedInputError(f"{src}: the file changed while it was being read; nothing was written")


def _encode_stream(src: Path, dst: Path, codec: StreamingCodec, source: dict, progress, before,
                   verify) -> Header:
    """A streaming codec's encode: the input read in chunks (and hashed as it goes), the stream
    section spooled to a temporary file, then copied into the container."""
    done = [0]

    def tick(n: int) -> None:
        done[0] += n
        if progress:
            progress(done[0])

    with src.open("rb") as f, tempfile.TemporaryFile(dir=dst.parent) as spool:
        reader = _HashingReader(f)
        streamed = codec.encode_to(reader, spool, progress=tick)
        length = spool.tell()
        spool.seek(0)
        _check_unchanged(src, before, reader.size)
        header = Header(codec=codec.codec_id, modality="", config=codec.get_config(),
                        meta=streamed.meta, source=source, digest=reader.digest.hexdigest(),
                        encoder=codec.encoder_version())

        def write(tmp: Path) -> None:
            with tmp.open("wb") as out:
                container.write(out, header, {**streamed.sections, codec.stream_section: (spool, length)})
            if verify:
                _verify_stream(tmp, header.digest)

        atomic_write(dst, write, like=before)
    return header


def _encode_frames(src: Path, dst: Path, codec: Codec, fmt: str, source: dict, progress, before,
                   target: Target | None = None, drop: bool = False) -> Header:
    """A frame-streaming codec's encode (stem): frames read from the file, coded and their
    payloads spooled one at a time (memory holds a frame, whatever the clip's length), then the
    container written; the same stream as the encode of the whole clip.  With a ``target``, the
    quality is searched as ``_fit`` searches it, each try a streamed encode of the whole file
    (about 8 passes over the clip).  Other streams of the file (audio) are refused unless
    ``drop``."""
    def encode_at(trial: Codec) -> tuple[Header, BinaryIO, int]:
        header, out = _frames_container(src, dst, trial, fmt, source, progress, before, drop)
        return header, out, out.seek(0, os.SEEK_END)

    if target is None:
        header, out = encode_at(codec)[:2]
    else:
        def goal(h: Header) -> int:
            m = h.meta
            return target.bytes_of(m["width"] * m["height"] * m["frames"], m["frames"] * m["fps"][1] / m["fps"][0])
        header, out = _search(codec, encode_at, goal)
    with out:
        def write(tmp: Path) -> None:
            out.seek(0)
            with tmp.open("wb") as dst_file:
                shutil.copyfileobj(out, dst_file, 1 << 22)

        atomic_write(dst, write, like=before)
    return header


def _frames_container(src: Path, dst: Path, codec: Codec, fmt: str, source: dict, progress,
                      before, drop: bool) -> tuple[Header, BinaryIO]:
    """``_encode_frames``'s container, in a temporary file beside ``dst``."""
    config = codec.get_config()
    with src.open("rb") as f, tempfile.TemporaryFile(dir=dst.parent) as spool:
        try:  # what is wrong with the input, named as read_item names it
            header, index, side = _spool_frames(f, fmt, codec, config, source, spool, progress, drop)
        except (UnsupportedInputError, CorruptStreamError) as exc:
            raise UnsupportedInputError(f"{src.name}: {exc}") from None
        _check_unchanged(src, before, before.st_size)
        length = len(index) + spool.tell()
        spool.seek(0)
        out = tempfile.TemporaryFile(dir=dst.parent)
        try:
            container.write(out, header, {"DATA": (_Joined(io.BytesIO(index), spool), length),
                                          **({"y4mh": side} if side else {})})
        except BaseException:
            out.close()
            raise
    return header, out


def _spool_frames(f: BinaryIO, fmt: str, codec: Codec, config: dict, source: dict, spool: BinaryIO,
                  progress, drop: bool) -> tuple[Header, bytes, bytes | None]:
    """A clip's frames from ``f`` coded into ``spool``: (its header, DATA's index, side data)."""
    from .datasets.files import open_video

    with open_video(f, fmt, allow_loss=True, drop=drop) as reader:
        count = [0]

        def tick(t: int) -> None:
            count[0] = t
            if t > limits.MAX_FRAMES:
                raise UnsupportedInputError(f"more than {limits.MAX_FRAMES} frames, the decoders' cap")
            if progress:
                progress(f.tell())
        index = codec.encode_frames(reader.frames(), reader.pix_fmt, spool, tick)
        meta = {"width": reader.width, "height": reader.height, "frames": count[0],
                "fps": [int(v) for v in reader.fps], "pix_fmt": reader.pix_fmt}
        header = Header(codec=codec.codec_id, modality="", config=config, meta=meta, source=source,
                        digest=None, encoder=codec.encoder_version())
        return header, index, reader.side()


class _Joined:
    """Binary files read one after the other, as one (``read`` only)."""

    def __init__(self, *files):
        self.files = list(files)

    def read(self, n: int = -1) -> bytes:
        while self.files:
            chunk = self.files[0].read(n)
            if chunk:
                return chunk
            self.files.pop(0)
        return b""


class _HashingReader:
    """A binary file's ``read``, counting and hashing what it returns."""

    def __init__(self, f):
        import hashlib

        self.f, self.size, self.digest = f, 0, hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        chunk = self.f.read(n)
        self.size += len(chunk)
        self.digest.update(chunk)
        return chunk


def _verify_stream(path: Path, digest: str) -> None:
    import hashlib

    with container.open_sections(path) as box:
        codec, h = _decoder(box.header), hashlib.sha256()
        for block in codec.iter_decode(_payload(box.sections), box.header.meta):
            h.update(block)
    if h.hexdigest() != digest:
        raise CorruptStreamError(f"{path.name}: the written stream does not restore the input")


def decode_file(src: str | os.PathLike, dst: str | os.PathLike | None = None,
                force: bool = False, lines: tuple[int, int] | None = None,
                allow_loss: bool = False, repair: bool = False,
                frames: tuple[int, int] | None = None, original: bool = False) -> tuple[Path, Header]:
    """Decompress an .omc file; the output format follows ``dst``'s extension, else the
    original file's name (restored exactly by a default encode), else the modality default.
    Without ``dst``, into a folder ``dst``, or with ``original``, the output is the original
    file, in the format its side data belongs to whatever the name's extension says (a WAV
    saved as NAME.flac: ``_restored_ext``).
    An extension that is the stored stream's own format (a WebP stream to .webp, x265 to .mkv
    or .mp4: ``Codec.standard``) gets the stored stream itself, not decoded and re-encoded
    (ffmpeg's ``-c copy``); side data the format cannot carry (PNG chunks in a WebP, the WAV
    wrapper in an Opus file) is refused unless ``allow_loss`` lets it go, and side data that
    a rendering of the item keeps (EXIF in a PNG, the WAV wrapper in a WAV) has it rendered.
    ``lines`` = (start, stop), 0-based and half-open, restores only those lines of a bytes
    stream (a streaming codec such as logzip reads and decodes only the blocks that hold
    them).  ``frames`` = (start, stop), 0-based and half-open, decodes only those frames of a
    video stream that seeks (stem, to .y4m).  Sections are read from the file as they are
    needed: stored bytes, streaming codecs and stem to .y4m (a frame at a time, a GOP a worker
    process) never hold the file or the clip in memory.  The output takes the .omc file's permission bits
    and modification time (those of the original, for a default encode).  ``repair``: as
    :func:`decode`'s."""
    src = Path(src)
    if not src.is_file():
        raise FileNotFoundError(f"{src}: no such file")
    if lines is not None:
        check_line_range(*lines)
    st = src.stat()
    with naming(src), container.open_sections(src) as box:
        header = box.header
        cls = _codec_class(header)
        restore = original or dst is None or Path(dst).is_dir()  # the original file
        if dst is None or Path(dst).is_dir():  # under its own name
            dst = default_output(src if dst is None else Path(dst) / src.name, header, box.sections)
        dst = _output_path(Path(dst))
        ext = _restored_ext(dst.name, box.sections) if restore else None
        _check_output(src, dst, force)
        atomic_write(dst, lambda tmp: _decode_to(box, cls, tmp, lines, allow_loss, repair, frames, ext), like=st)
    return dst, header


def _decode_to(box: container.LazyContainer, cls: type[Codec], tmp: Path, lines: tuple[int, int] | None,
               allow_loss: bool = False, repair: bool = False, frames: tuple[int, int] | None = None,
               ext: str | None = None) -> None:
    """Write the content of ``box`` (or only ``lines`` or ``frames`` of it) to ``tmp``, in the
    format of extension ``ext`` (default: ``tmp``'s own)."""
    from .datasets.files import render

    header = box.header
    ext = tmp.suffix.lower() if ext is None else ext
    if lines is not None and header.modality != "bytes":
        raise UnsupportedInputError("--lines applies to text and log streams only")
    streams_frames = hasattr(cls, "decode_frames") and ext == ".y4m" and not repair
    if frames is not None and not streams_frames:
        raise UnsupportedInputError("--frames applies to video streams that seek (stem), decoded to .y4m")
    side = any(map(_is_side, box.sections))  # (side data of bytes: a gzip member's recipe...)
    if cls.verbatim and lines is None and not side:  # stored bytes: copied through, never held in memory
        if len(box.sections) != 1:
            raise CorruptStreamError(f"{header.codec} holds one section, this file {len(box.sections)}")
        with tmp.open("wb") as out:
            for chunk in next(iter(box.sections.values())).chunks():
                out.write(chunk)
        return
    if not issubclass(cls, StreamingCodec) or (lines is None and side):  # (stored or not: the file around them)
        if lines is None and _copies(header, box.sections, ext, allow_loss):
            tmp.write_bytes(standard_file(_decoder(header), box.sections, header.meta, ext))
            return
        if lines is None and streams_frames:
            _decode_frames_to(box, tmp, frames)
            return
        item = _decode_box(box.load(repair))
        if lines is None:
            _refuse_lost_side_data(item, ext, allow_loss)
        tmp.write_bytes(select_lines(item.data, 0, *lines) if lines is not None else render(item, ext))
        return
    if lines is not None:
        with _invalid_meta(header):
            tmp.write_bytes(_decoder(header).decode_lines(_payload(box.sections), header.meta, *lines))
        return
    with tmp.open("wb") as out:
        for block in _streamed(box):
            out.write(block)


def text_blocks(src: str | os.PathLike, start: int = 0, stop: int | None = None,
                keep: Callable[[bytes], bool] | None = None,
                holds: Callable[[bytes], bool] | None = None) -> Iterator[tuple[int, Any, bytes]]:
    """The text of a bytes stream as (number of its first line, 0-based; None; whole lines),
    covering at least lines ``start`` to ``stop`` (half-open; None: to the end).  ``keep(dictionary)``
    lets a codec with a template dictionary (logzip) leave out blocks none of whose templates
    ``keep`` accepts, without decoding them: ``codec grep``'s filter.  With ``holds`` (the same
    filter on one template), a search of the whole text gets from such a codec only the lines
    whose template ``holds`` accepts, and its verbatim lines: then the middle item gives their
    numbers counted from the first (``Logzip.iter_where``)."""
    src = Path(src)
    with naming(src), container.open_sections(src) as box:
        header = box.header
        cls = _codec_class(header)  # also fills in an implied modality
        if header.modality != "bytes":
            raise UnsupportedInputError(f"{src.name}: holds {header.modality}, not text")
        if issubclass(cls, StreamingCodec) and not cls.verbatim:
            with _invalid_meta(header):
                dec, payload = _decoder(header), _payload(box.sections)
                if holds and keep is not None and start == 0 and stop is None and hasattr(dec, "iter_where"):
                    yield from dec.iter_where(payload, header.meta, keep, holds)
                else:
                    for first, text in dec.iter_blocks(payload, header.meta, start, stop, keep):
                        yield first, None, text
            return
        data = _decode_box(box.load()).data
    yield 0, None, data


def count_template_lines(src: str | os.PathLike, in_template: Callable[[bytes], bool],
                         in_line: Callable[[bytes], bool]) -> int | None:
    """For a codec that keeps a template dictionary (logzip), how many lines of the text hold
    a string only template text can hold, counted without rendering the lines
    (``Logzip.count_lines``, ``codec grep -c``'s fast path); None for other codecs, or where
    the codec cannot tell without decoding."""
    src = Path(src)
    with naming(src), container.open_sections(src) as box:
        header = box.header
        cls = _codec_class(header)
        if header.modality != "bytes" or not hasattr(cls, "count_lines"):
            return None
        with _invalid_meta(header):
            return _decoder(header).count_lines(_payload(box.sections), header.meta, in_template, in_line)


def _streamed(box: container.LazyContainer) -> Iterator[bytes]:
    """A streaming codec's decoded blocks, the stored digest checked after the last."""
    import hashlib

    header, digest = box.header, hashlib.sha256()
    with _invalid_meta(header):
        for block in _decoder(header).iter_decode(_payload(box.sections), header.meta):
            digest.update(block)
            yield block
    side_records(digest, {t: _section_bytes(box.sections, t) for t in box.sections if _is_side(t)})
    if header.digest is not None and digest.hexdigest() != header.digest:
        raise CorruptStreamError("decoded content does not match the stored digest")


def test_file(path: str | os.PathLike) -> Header:
    """Check an .omc file without writing anything (``codec test``, like ``xz -t``): the
    framing, every section's CRC, a full decode and, for lossless codecs, the stored digest
    of the content.  Returns the header; raises CorruptStreamError / TruncatedStreamError (or
    MissingDependencyError, UnknownCodecError) naming the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    from .datasets.files import render

    with naming(path), container.open_sections(path) as box:
        cls = _codec_class(box.header)
        if any(map(_is_side, box.sections)):  # side data: the file around the content, made as a
            item = _decode_box(box.load())  # decode without -o makes it (every section read whole: each CRC)
            render(item, _restored_ext(default_output(path, box.header, box.sections).name, box.sections))
        elif cls.verbatim or issubclass(cls, StreamingCodec):
            for section in box.sections.values():  # each CRC: these read slices, or nothing
                for _ in section.chunks():
                    pass
            if not cls.verbatim:
                for _ in _streamed(box):
                    pass
        else:
            _decode_box(box.load())  # every section read whole: each CRC
        return box.header


test_file.__test__ = False  # not a pytest test, whatever its name


# ----------------------------------------------------------------------- standard files
CARRIED = {".png": {"pngc"}}  # side data a standard file takes in verbatim (PNG's own chunks)


def standard_file(codec: Codec, sections: dict[str, Any], meta: dict[str, Any], ext: str) -> bytes:
    """The DATA section of a ``codec`` stream as the standard file of extension ``ext`` (one
    of ``codec.standard``; ``Codec.standard_file``: the section itself, or its packets in a
    rebuilt container); a PNG gets its ancillary chunks back (side data ``pngc``)."""
    from .datasets.files import splice_png

    data = _section_bytes(sections, "DATA")
    if ext == ".png" and "pngc" in sections:
        return splice_png(data, _section_bytes(sections, "pngc"))
    out = codec.standard_file(data, ext, meta)
    if out is None:  # DATA alone is not the item (flac's ranks): the item decoded, in that format
        from .datasets.files import render

        return render(codec.decode({t: _section_bytes(sections, t) for t in sections if t.isupper()}, meta), ext)
    return out


def _lost(sections: dict[str, Any], ext: str) -> list[str]:
    """The side data a standard ``ext`` file would leave out (a plain WAV's wrapper, which holds
    nothing the file does not, aside)."""
    from .datasets.files import informative

    return sorted(t for t in sections if _is_side(t) and t not in CARRIED.get(ext, ())
                  and informative(t, _section_bytes(sections, t)))


def _section_bytes(sections: dict[str, Any], tag: str) -> bytes:
    """A section's payload, whether read already or still in the file (its CRC checked)."""
    data = sections[tag]
    return data.read() if isinstance(data, container.LazySection) else bytes(data)


def _copies(header: Header, sections: dict[str, Any], ext: str, allow_loss: bool) -> bool:
    """Whether a decode to ``ext`` writes the stored stream itself (see :func:`decode_file`)."""
    from .datasets.files import RECIPES, RENDER_KEEPS

    cls = _codec_class(header)
    if ext not in cls.standard or header.modality == "bytes" or "DATA" not in sections:
        return False
    side, keeps = _lost(sections, ext), RENDER_KEEPS.get(ext, set())
    if (side and set(side) <= keeps) or RECIPES & keeps & sections.keys():
        return False  # rendered, with that side data (a PNG with its EXIF or its own IDAT, a WAV in its wrapper)
    if side and not allow_loss:
        raise _cannot_carry(side, ext, header.modality, f" to write the stored {ext} without it")
    return True


def _standard_codec(ext: str, modality: str, item: Item, codec: Codec | None, quality: float | None) -> Codec:
    """The codec that writes a standard ``ext`` file of ``item``: the one asked for (which must
    write that format), else the first candidate of the modality's default order that does, else
    the first registered codec that does: lossless unless a ``quality`` is given (then a lossy
    one, or a lossless one where no lossy codec writes that format: -q 50 -o x.png)."""
    if codec is not None:
        if ext not in codec.standard:
            raise UnsupportedInputError(f"{codec.codec_id} writes .omc files"
                                        + (f" or {' '.join(codec.standard)}" if codec.standard else "")
                                        + f", not {ext}")
        return codec
    usual = [c for c in candidates(item, quality) if ext in c.standard]
    found = [c for c in usual if c.lossless == (quality is None)] or [
        codec for cid in registry.codec_ids()  # a codec outside the default order (jxl)
        if ext in (cls := registry.get_codec_class(cid)).standard and modality in cls.modalities()
        and cls.lossless == (quality is None) and cls.available()
        and (codec := get_codec(cid, quality)).supports(item) is None] or usual
    if found:
        return found[0]
    lossy = [cls.codec_id for cid in registry.codec_ids() if ext in (cls := registry.get_codec_class(cid)).standard
             and modality in cls.modalities()]
    if quality is None and lossy:
        raise UnsupportedInputError(f"a {ext} file cannot hold it exactly: ask for a quality (-q) to write "
                                    f"{' or '.join(lossy)}, or write .omc")
    raise UnsupportedInputError(f"no codec writes {modality} as {ext}")


def standard_extensions() -> set[str]:
    """Every extension some codec writes as a standard file (``-o NAME.EXT``)."""
    return {ext for cid in registry.codec_ids() for ext in registry.get_codec_class(cid).standard}


def _refuse_lost_side_data(item: Item, ext: str, allow_loss: bool) -> None:
    """A file of ``ext`` that would leave out some of the item's side data (PNG chunks in a
    WebP, EXIF in a BMP, the WAV wrapper in a FLAC) is refused unless ``allow_loss``."""
    from .datasets.files import RENDER_KEEPS, WRITABLE, informative

    lost = sorted(t for t in set(item.extra) - RENDER_KEEPS.get(ext, set()) if informative(t, item.extra[t]))
    if lost and not allow_loss and ext in WRITABLE.get(item.modality, ()):  # (a format it cannot write: render says)
        raise _cannot_carry(lost, ext, item.modality)


def _cannot_carry(lost: list[str], ext: str, modality: str, what: str = "") -> UnsupportedInputError:
    """The one-line refusal of a decode to ``ext`` that would leave out side data ``lost``."""
    from .datasets.files import DEFAULT_EXT

    carrier = _carrier(lost) or DEFAULT_EXT.get(modality, "its original format")
    return UnsupportedInputError(f"the file holds side data ({', '.join(lost)}) that a {ext} file cannot carry: "
                                 f"decode to {carrier} (-o NAME{carrier}), or pass --allow-loss{what}")


def _carrier(tags) -> str | None:
    """The first extension whose file carries every one of side data ``tags`` (a TIFF's for
    ``tifz``), or None."""
    from .datasets.files import RENDER_KEEPS

    return next((ext for ext, keeps in RENDER_KEEPS.items() if set(tags) <= keeps), None)


def default_output(src: Path, header: Header, tags=()) -> Path:
    """Where a decode goes without -o: beside the .omc, under the original name when the
    format can be restored (a name for another format, such as a PNG saved as x.wav, too,
    where the stream's side data names its own format: ``_restored_ext``), else with the
    modality's default extension; a name without an extension (a stream written through the
    API, saved as NAME.omc) takes the one whose file carries the side data ``tags`` (the
    stream's section tags) where the default would not."""
    from .datasets.files import DEFAULT_EXT, MODE_EXT, RENDER_KEEPS, WRITABLE

    stem = src.name[: -len(OMC_EXT)] if src.name.endswith(OMC_EXT) else src.name
    name = Path(header.source.get("name", "")).name or stem  # never a path from the file
    if header.modality == "bytes":
        return src.with_name(name)
    ext, mode = Path(name).suffix.lower(), str(header.meta.get("mode"))
    side = set(filter(_is_side, tags))
    if (ext in WRITABLE[header.modality] and ext == MODE_EXT.get(mode, ext)) or (ext and _carrier(side)):
        return src.with_name(name)
    fallback = MODE_EXT.get(mode, DEFAULT_EXT[header.modality])
    rest = side - RENDER_KEEPS.get(fallback, set())
    if not ext and rest and _carrier(rest):  # (the fallback would leave side data out)
        fallback = _carrier(rest)
    return src.with_name((Path(name).stem if ext else name) + fallback)


def restored_name(path: str | os.PathLike) -> str:
    """The name a decode of ``path`` without -o writes (``default_output``)."""
    with naming(path), container.open_sections(Path(path)) as box:
        _codec_class(box.header)  # (fills in the implied modality)
        return default_output(Path(path), box.header, box.sections).name


def _restored_ext(name: str, tags) -> str:
    """The format a decode that restores a file under its own name writes it in: its
    extension's, unless that format cannot carry the stream's side data ``tags`` (its
    section tags) and another one can: a WAV saved as song.flac comes back as that WAV,
    byte for byte, not as a FLAC file (until 2026-12-07 #23 it did, and a PNG saved as
    x.webp was refused)."""
    from .datasets.files import RENDER_KEEPS

    ext = Path(name).suffix.lower()
    side = set(filter(_is_side, tags))
    return (_carrier(side) or ext) if side and not side <= RENDER_KEEPS.get(ext, set()) else ext


def _utf8(name: str) -> bool:
    """Whether a file name is UTF-8 (a header holds only such names; another is not stored, and
    the decode is named after the .omc)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _output_path(dst: Path) -> Path:
    """An output that is a symbolic link is written through, to its target (as zstd does)."""
    return Path(os.path.realpath(dst)) if dst.is_symlink() else dst


def _check_output(src: Path, dst: Path, force: bool) -> None:
    if dst.exists():
        if src.resolve() == dst.resolve():
            raise UnsupportedInputError(f"{dst}: output would overwrite the input")
        if not force:
            raise FileExistsError(f"{dst}: output exists (use --force to overwrite)")
    if not dst.parent.exists():
        raise FileNotFoundError(f"{dst.parent}: output directory does not exist")


TMP_MARK = ".omc-tmp-"  # temporary outputs are named ".NAME.omc-tmp-XXXX"; batch jobs skip them


def atomic_write(dst: Path, write: Callable[[Path], None], like: os.stat_result | None = None) -> None:
    """Let ``write`` fill a temporary file beside ``dst`` (same extension, so format-by-extension
    writers work), then rename it into place: the output is never partial.  The result gets
    ``like``'s permission bits and times, else the usual 0666 less the umask."""
    _remove_stale_temporaries(dst)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dst.name}{TMP_MARK}{_OWNER}-", suffix=dst.suffix, dir=dst.parent)
    except OSError as exc:  # a read-only or missing directory: say so of the output asked for
        raise type(exc)(exc.errno, exc.strerror, str(dst)) from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.chmod(tmp, stat.S_IMODE(like.st_mode) if like is not None else 0o666 & ~_umask())
        os.replace(tmp, dst)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.filename == tmp_name:
            raise type(exc)(exc.errno, exc.strerror, str(dst)) from None
        raise
    if like is not None:
        os.utime(dst, ns=(like.st_atime_ns, like.st_mtime_ns))


_HOST = socket.gethostname().replace("-", "_")  # no "-": it separates host, pid and mkstemp's part
_OWNER = f"{_HOST}-{os.getpid()}"


def _remove_stale_temporaries(dst: Path) -> None:
    """Delete ``dst``'s temporary files left by a killed writer: those whose name says this
    host and a process id that no longer runs (another host's, or a live writer's, stay)."""
    mine = f".{dst.name}{TMP_MARK}{_HOST}-"
    for tmp in dst.parent.glob(f"{glob.escape(mine)}*"):
        pid = tmp.name[len(mine):].split("-")[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _running(int(pid)):
            tmp.unlink(missing_ok=True)


def _running(pid: int) -> bool:
    """Whether process ``pid`` still runs here: a killed one that its parent has not yet
    reaped (a zombie, e.g. a dask worker killed mid-write) writes nothing more."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    try:
        with builtins.open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True  # no /proc (not Linux): the signal test alone


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
