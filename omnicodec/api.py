"""The public API behind ``omnicodec.encode`` / ``decode`` / ``open`` and the CLI.

    file -> datasets.files.read_item -> Codec.encode -> container.pack -> .omc bytes
    .omc bytes -> container.unpack -> Codec.decode -> digest check -> item -> write_item
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from . import container, registry
from .codecs.base import Bytes, Codec, Item
from .container import Header
from .errors import CorruptStreamError, UnsupportedInputError

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


def list_codecs() -> list[CodecInfo]:
    """Every registered codec with its modality, losslessness and availability here."""
    out = []
    for cid in registry.codec_ids():
        cls = registry.get_codec_class(cid)
        missing = tuple(cls.missing())
        out.append(CodecInfo(cid, cls.modality, cls.lossless, not missing, missing, cls.extra,
                             cls.description))
    return out


def get_codec(codec_id: str, quality: float | None = None, **config: Any) -> Codec:
    """A configured codec: from ``quality`` (0..100) and/or explicit config fields."""
    cls = registry.get_codec_class(codec_id)
    cls.check_available()
    codec = cls.from_quality(quality)
    return cls.from_config({**codec.get_config(), **config}) if config else codec


def choose_codec(item: Item, quality: float | None = None) -> Codec:
    """The default codec for ``item``: the best lossless one without ``quality``, else the
    best lossy one (falling back to lossless where the modality has no lossy codec)."""
    prefs = registry.LOSSLESS_PREFERENCE[item.modality]
    if quality is not None:
        prefs = registry.LOSSY_PREFERENCE[item.modality] + prefs
    reasons = []
    for cid in prefs:
        cls = registry.get_codec_class(cid)
        if not cls.available():
            reasons.append(f"{cid}: needs {', '.join(cls.missing())}")
            continue
        codec = cls.from_quality(quality if not cls.lossless else None)
        reason = codec.supports(item)
        if reason is None:
            return codec
        reasons.append(reason)
    raise UnsupportedInputError(f"no codec can encode this {item.modality}: " + "; ".join(reasons))


# ----------------------------------------------------------------------------- bytes level
def encode(item: Item | bytes, codec: str | Codec | None = None, quality: float | None = None,
           source: dict[str, str] | None = None) -> bytes:
    """Compress an item (or raw bytes) into .omc bytes."""
    if isinstance(item, (bytes, bytearray, memoryview)):
        item = Bytes(bytes(item))
    if codec is None:
        codec = choose_codec(item, quality)
    elif isinstance(codec, str):
        codec = get_codec(codec, quality)
    codec.check_supports(item)
    sections = codec.encode(item)
    header = Header(codec=codec.codec_id, modality=item.modality, config=codec.get_config(),
                    meta=item.meta(), source=dict(source or {}),
                    digest=item.digest() if codec.lossless else None)
    return container.pack(header, sections)


def decode(data: bytes) -> Item:
    """Decompress .omc bytes to an item; lossless streams are verified against their digest."""
    return decode_with_header(data)[1]


def decode_with_header(data: bytes) -> tuple[Header, Item]:
    box = container.unpack(data)
    header = box.header
    cls = registry.get_codec_class(header.codec)
    if cls.modality != header.modality:
        raise CorruptStreamError(f"codec {header.codec} does not produce {header.modality}")
    cls.check_available()
    codec = cls.from_config(header.config)
    try:
        item = codec.decode(box.sections, header.meta)
    except (KeyError, TypeError) as exc:
        raise CorruptStreamError(f"{header.codec}: header metadata is invalid ({exc})") from None
    if cls.lossless and header.digest is not None and item.digest() != header.digest:
        raise CorruptStreamError("decoded content does not match the stored digest")
    return header, item


def open(path: str | os.PathLike) -> Header:  # noqa: A001 - mirrors PIL.Image.open
    """Read only the header of an .omc file."""
    return container.peek(os.fspath(path))


# ------------------------------------------------------------------------------ file level
def encode_file(src: str | os.PathLike, dst: str | os.PathLike | None = None,
                codec: str | None = None, quality: float | None = None,
                force: bool = False) -> tuple[Path, Item, bytes]:
    """Compress a file to ``dst`` (default: ``src`` + .omc); returns (path, item, omc bytes)."""
    from .datasets.files import read_item

    src = Path(src)
    if not src.is_file():
        raise FileNotFoundError(f"{src}: no such file")
    dst = Path(dst) if dst is not None else src.with_name(src.name + OMC_EXT)
    _check_output(src, dst, force)
    forced = registry.get_codec_class(codec).modality if codec else None
    item = read_item(src, forced)
    data = encode(item, codec, quality, source={"name": src.name, "ext": src.suffix.lower()})
    atomic_write(dst, lambda tmp: tmp.write_bytes(data))
    return dst, item, data


def decode_file(src: str | os.PathLike, dst: str | os.PathLike | None = None,
                force: bool = False) -> tuple[Path, Item]:
    """Decompress an .omc file; the output format follows ``dst``'s extension, else the
    original file's extension when it can be written losslessly, else the modality default."""
    from .datasets.files import DEFAULT_EXT, WRITABLE, write_item

    src = Path(src)
    if not src.is_file():
        raise FileNotFoundError(f"{src}: no such file")
    header, item = decode_with_header(src.read_bytes())
    if dst is None:
        dst = default_output(src, header, DEFAULT_EXT, WRITABLE)
    dst = Path(dst)
    _check_output(src, dst, force)
    atomic_write(dst, lambda tmp: write_item(item, tmp))
    return dst, item


def default_output(src: Path, header: Header, default_ext: dict, writable: dict) -> Path:
    name = Path(header.source.get("name", "")).name  # never a path from the file
    stem = src.name[: -len(OMC_EXT)] if src.name.endswith(OMC_EXT) else src.name
    ext = Path(name).suffix.lower() if name else ""
    if header.modality != "bytes" and ext not in writable[header.modality]:
        ext = default_ext[header.modality]
        if name:
            stem = Path(stem).stem if Path(stem).suffix.lower() == Path(name).suffix.lower() else stem
    elif name and Path(stem).suffix.lower() == ext:
        ext = ""
    return src.with_name(stem + ext)


def _check_output(src: Path, dst: Path, force: bool) -> None:
    if dst.exists():
        if src.resolve() == dst.resolve():
            raise UnsupportedInputError(f"{dst}: output would overwrite the input")
        if not force:
            raise FileExistsError(f"{dst}: output exists (use --force to overwrite)")
    if not dst.parent.exists():
        raise FileNotFoundError(f"{dst.parent}: output directory does not exist")


def atomic_write(dst: Path, write: Callable[[Path], None]) -> None:
    """Let ``write`` fill a temporary file beside ``dst`` (same extension, so format-by-extension
    writers work), then rename it into place: the output is never partial."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=dst.suffix, dir=dst.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.replace(tmp, dst)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
