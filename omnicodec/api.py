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
from .codecs.base import Bytes, Codec, Item, select_lines
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
        reason = codec.supports(item) or (None if codec.suits(item) else f"{cid}: not suited")
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
    return box.header, _decode_box(box)


def _decode_box(box: container.Container) -> Item:
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
    return item


def open(path: str | os.PathLike) -> Header:  # noqa: A001 - mirrors PIL.Image.open
    """Read only the header of an .omc file."""
    return container.peek(os.fspath(path))


# ------------------------------------------------------------------------------ file level
def encode_file(src: str | os.PathLike, dst: str | os.PathLike | None = None,
                codec: str | None = None, quality: float | None = None,
                force: bool = False, progress: Callable[[int], None] | None = None) -> tuple[Path, Header]:
    """Compress a file to ``dst`` (default: ``src`` + .omc); returns (path, header).

    Codecs that stream (logzip) read the input in blocks and spool their output, so memory
    does not grow with the file; ``progress(n)`` is called with the bytes done so far."""
    from .datasets.files import read_item, sniff

    src = Path(src)
    if not src.is_file():
        raise FileNotFoundError(f"{src}: no such file")
    dst = Path(dst) if dst is not None else src.with_name(src.name + OMC_EXT)
    _check_output(src, dst, force)
    source = {"name": src.name, "ext": src.suffix.lower()}
    with src.open("rb") as f:
        head = f.read(1 << 16)
    modality = registry.get_codec_class(codec).modality if codec else sniff(head[:64], source["ext"])
    if modality == "bytes":
        chosen = get_codec(codec, quality) if codec else choose_codec(Bytes(head), quality)
        if getattr(chosen, "streaming", False):
            header = _encode_stream(src, dst, chosen, source, progress)
            return dst, header
    item = read_item(src, modality)
    data = encode(item, codec, quality, source=source)
    atomic_write(dst, lambda tmp: tmp.write_bytes(data))
    return dst, container.unpack(data).header


def _encode_stream(src: Path, dst: Path, codec: Codec, source: dict, progress) -> Header:
    import hashlib

    digest, done = hashlib.sha256(), [0]

    def read(n: int) -> bytes:
        chunk = f.read(n)
        digest.update(chunk)
        return chunk

    def tick(n: int) -> None:
        done[0] += n
        if progress:
            progress(done[0])

    with src.open("rb") as f, tempfile.TemporaryFile(dir=dst.parent) as spool:
        index = codec.encode_to(read, spool.write, progress=tick)
        length = spool.tell()
        spool.seek(0)
        header = Header(codec=codec.codec_id, modality="bytes", config=codec.get_config(),
                        meta={"size": done[0]}, source=source, digest=digest.hexdigest())

        def write(tmp: Path) -> None:
            with tmp.open("wb") as out:
                container.write(out, header, {"INDX": index, "BLKS": (spool, length)})

        atomic_write(dst, write)
    return header


def decode_file(src: str | os.PathLike, dst: str | os.PathLike | None = None,
                force: bool = False, lines: tuple[int, int] | None = None) -> tuple[Path, Header]:
    """Decompress an .omc file; the output format follows ``dst``'s extension, else the
    original file's extension when it can be written losslessly, else the modality default.
    ``lines`` = (start, stop), 0-based and half-open, restores only those lines of a bytes
    stream (logzip decodes only the blocks that hold them)."""
    import hashlib

    from .datasets.files import DEFAULT_EXT, WRITABLE, write_item

    src = Path(src)
    if not src.is_file():
        raise FileNotFoundError(f"{src}: no such file")
    box = container.unpack(src.read_bytes())
    header = box.header
    dst = Path(dst) if dst is not None else default_output(src, header, DEFAULT_EXT, WRITABLE)
    _check_output(src, dst, force)
    cls = registry.get_codec_class(header.codec)
    if lines is not None and header.modality != "bytes":
        raise UnsupportedInputError("--lines applies to text and log streams only")
    if header.modality == "bytes" and (lines is not None or getattr(cls, "streaming", False)):
        cls.check_available()
        codec = cls.from_config(header.config)
        if lines is not None:
            if hasattr(codec, "decode_lines"):
                data = codec.decode_lines(box.sections, header.meta, *lines)
            else:
                data = select_lines(_decode_box(box).data, 0, *lines)
            atomic_write(dst, lambda tmp: tmp.write_bytes(data))
            return dst, header

        def write(tmp: Path) -> None:
            digest = hashlib.sha256()
            with tmp.open("wb") as out:
                for block in codec.iter_decode(box.sections, header.meta):
                    digest.update(block)
                    out.write(block)
            if header.digest is not None and digest.hexdigest() != header.digest:
                raise CorruptStreamError("decoded content does not match the stored digest")

        atomic_write(dst, write)
        return dst, header
    item = _decode_box(box)
    atomic_write(dst, lambda tmp: write_item(item, tmp))
    return dst, header


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
