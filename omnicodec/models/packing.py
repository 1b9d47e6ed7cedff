"""Shipped weights files, stored smaller and restored byte for byte.

A weights file is a ``torch.save`` zip: small pickles and headers around raw tensor storages
(fp16 transforms, fp32 gains, int tables).  General-purpose compressors gain about 10% on it,
because each number's bytes differ in kind: an fp16's high byte (sign, exponent, two mantissa
bits) repeats a lot, its low byte is noise.  ``pack`` splits every storage into byte planes
(plane k holds byte k of every element, the element size chosen per storage by the planes'
order-0 cost, so no dtype needs reading), groups the planes of all storages of one element
size, and compresses each plane and the rest of the file with zstd (level 22): 15-20% smaller
than the file, where xz -9e gets 10%, and restored in about 30 ms for 7 MB.

    b"OMW1" · u32 header length · header (JSON: size, sha256, regions [[offset, length, stride]],
    streams: the compressed lengths; optional base, pairs) · streams: the rest of the file, then
    per stride (ascending) its planes 0..stride-1

**Delta against a base.**  Weights that continue another shipped file's training (the old
defaults, kept so that their streams decode) differ from it by small steps: ``pack(data, base,
base_name)`` stores each storage that has a same-sized storage in ``base`` (paired in file
order) as the zigzagged difference of the two as integers of its element size, where that costs
less (``_cost``).  The header names the base (``base``: file name and sha256) and each region's
paired offset in it (``pairs``, -1 for none); ``read`` restores the base first (a chain at most
MAX_CHAIN deep) and checks its digest.  The four earlier hyperprior defaults packed against
their successors (a chain ending at the default) are 3.5-29.6% smaller than alone, the first
walloc 4x model against its continuation 11.3%: 4.4 MB in all (``scripts/repack-weights.py``,
2026-12-06).  The file a delta needs is shipped too, so nothing is lost if it stops being the
default; a shipped file that others are deltas against is never deleted.

**Decode-only files.**  An old default is shipped so that its streams decode, which needs only
the decoding half of the model: ``pack(data, ..., drop=("g_a", "h_a"))`` leaves out the
storages of the tensors under those artefact keys (found in the file's pickle, ``_storage_names``),
and ``unpack`` restores them as zeros: every other byte of the file is the original, so the
same model loads and decodes exactly as before.  The header keeps the original file's digest
(``dropped``: keys, spans, sha256; ``sha256`` is then the restored file's); ``open_weights``
gives both, and the loader (``codecs.learned.load_artefact``) accepts the file under the
original's digest, the one its streams name, and marks the artefact ``dropped`` so that the
codec refuses to encode with it.  The hyperprior's four old defaults lost 8.0 MB so
(2026-12-06 #14, ``scripts/repack-weights.py --drop g_a,h_a``).

``unpack`` checks the header against its limits before decompressing anything, never
decompresses past the lengths the header implies, and returns the original bytes only when their
sha256 matches, so a stream's recorded weights digest (the digest of the ``.pt`` file) still
names the weights.  Shipped files are ``NAME.pt.omw`` and the manifest keeps the ``NAME.pt``
key; ``read`` takes either form, so unpacked files (a run's export, ``OMNICODEC_WEIGHTS``)
load too.
"""

from __future__ import annotations

import collections
import hashlib
import io
import json
import pickle
import re
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import zstandard

from ..errors import CorruptStreamError

MAGIC = b"OMW1"
SUFFIX = ".omw"
MAX_SIZE = 1 << 28  # larger weights than any codec ships: refused before decompressing
STRIDES = (1, 2, 4, 8)
MAX_CHAIN = 8  # base files restored to restore one file
_STORAGE = re.compile(r"(^|/)data/\d+$")
LEVEL = 22  # zstd's best: 1.5% larger than LZMA's planes, decoded 30 times faster


def _storages(data: bytes) -> list[tuple[int, int]]:
    """(offset, length) of the raw tensor storages of a torch.save zip, in file order; none
    when ``data`` is not such a zip (then the whole file is one plain stream)."""
    return sorted(_named_storages(data).values())


def _named_storages(data: bytes) -> dict[str, tuple[int, int]]:
    """Each raw storage of a torch.save zip by its name in the pickle ("3" for ``.../data/3``)."""
    try:
        infos = zipfile.ZipFile(io.BytesIO(data)).infolist()
    except (zipfile.BadZipFile, ValueError):
        return {}
    out = {}
    for info in infos:
        if info.compress_type != zipfile.ZIP_STORED or not _STORAGE.search(info.filename) or not info.file_size:
            continue
        name_len, extra_len = struct.unpack_from("<HH", data, info.header_offset + 26)
        out[info.filename.rsplit("/", 1)[1]] = (info.header_offset + 30 + name_len + extra_len, info.file_size)
    return out


class _Storage(str):
    """A storage's name where the pickle refers to it."""


class _Names(pickle.Unpickler):
    """Reads a torch.save pickle without torch: every tensor becomes the name of its storage
    (the rebuild functions and storage types resolve to one that passes the name through)."""

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        return lambda *args, **kwargs: next((a for a in args if isinstance(a, _Storage)), None)

    def persistent_load(self, pid):
        return _Storage(pid[2])


def _storage_names(data: bytes, keys) -> set[str]:
    """The storages of every tensor under the artefact's top-level ``keys``."""
    archive = zipfile.ZipFile(io.BytesIO(data))
    pkl = next(n for n in archive.namelist() if n.endswith("data.pkl"))
    art = _Names(io.BytesIO(archive.read(pkl))).load()
    out, todo = set(), [art[k] for k in keys]
    while todo:
        x = todo.pop()
        if isinstance(x, _Storage):
            out.add(str(x))
        elif isinstance(x, dict):
            todo += x.values()
        elif isinstance(x, (list, tuple)):
            todo += x
    return out


def _cost(b: np.ndarray) -> float:
    """Order-0 bits of a plane plus 8 per distinct byte (the table a coder would learn), so that
    splitting short storages finer than their elements does not look cheaper than it is."""
    counts = np.bincount(b, minlength=256)
    p = counts[counts > 0] / b.size
    return float(-(p * np.log2(p)).sum() * b.size) + 8 * p.size


def _stride(chunk: np.ndarray) -> int:
    """The element size whose byte planes cost the least in total (``_cost``)."""
    costs = {s: sum(_cost(chunk[k::s]) for k in range(s)) for s in STRIDES if chunk.size % s == 0}
    return min(costs, key=costs.get)


def pack(data: bytes, base: bytes | None = None, base_name: str = "", drop: tuple[str, ...] = ()) -> bytes:
    """The packed form of weights file ``data``; with ``base`` (the bytes of shipped file
    ``base_name`` as ``read`` restores them), storages stored as differences from base's where
    that is smaller; with ``drop`` (top-level artefact keys), a decode-only file whose storages
    under those keys are left out and restored as zeros."""
    named = _named_storages(data)
    dropped = sorted(named[name] for name in _storage_names(data, drop)) if drop else []
    original = hashlib.sha256(data).hexdigest()
    extra = {"dropped": {"keys": list(drop), "spans": dropped, "sha256": original}} if drop else {}
    buf = np.frombuffer(data, np.uint8).copy()
    for off, n in dropped:
        buf[off:off + n] = 0
    digest = hashlib.sha256(buf).hexdigest()  # of the file unpack restores (before any delta)
    regions = [(off, n, _stride(buf[off:off + n])) for off, n in sorted(named.values()) if (off, n) not in dropped]
    regions = [r for r in regions if r[2] > 1]
    if base is not None:
        pairs, ref = _pairs(regions, _storages(base)), np.frombuffer(base, np.uint8)
        for i, ((off, n, s), at) in enumerate(zip(regions, pairs)):
            if at >= 0:
                delta = _delta(buf[off:off + n], ref[at:at + n], s)
                if sum(map(_cost, _planes(delta, s))) < sum(map(_cost, _planes(buf[off:off + n], s))):
                    buf[off:off + n] = delta
                    continue
            pairs[i] = -1
        extra.update(base=[base_name, hashlib.sha256(base).hexdigest()], pairs=pairs)
    rest, planes = _split(buf, regions, dropped)
    zc = zstandard.ZstdCompressor(level=LEVEL, write_content_size=True)
    streams = [zc.compress(p.tobytes()) for p in [rest, *planes]]
    header = json.dumps({"size": len(data), "sha256": digest,
                         "regions": regions, "streams": [len(s) for s in streams], **extra}).encode()
    return MAGIC + struct.pack("<I", len(header)) + header + b"".join(streams)


def _planes(chunk: np.ndarray, s: int) -> list[np.ndarray]:
    return [chunk[k::s] for k in range(s)]


def _pairs(regions, base_storages) -> list[int]:
    """For each region, the offset of base's next unpaired storage of the same length (in
    file order, never going back), or -1."""
    out, j = [], 0
    for _, n, _ in regions:
        k = next((k for k in range(j, len(base_storages)) if base_storages[k][1] == n), None)
        out.append(-1 if k is None else base_storages[k][0])
        j = j if k is None else k + 1
    return out


_UINT = {2: "<u2", 4: "<u4", 8: "<u8"}


def _delta(x: np.ndarray, y: np.ndarray, s: int) -> np.ndarray:
    """Bytes of the zigzagged differences x - y as little-endian integers of ``s`` bytes."""
    d = x.view(_UINT[s]) - y.view(_UINT[s])  # modular
    bits = np.array(8 * s - 1, d.dtype)
    z = (d << np.array(1, d.dtype)) ^ (d.view(d.dtype.str.replace("u", "i")) >> bits).view(d.dtype)
    return z.view(np.uint8)


def _undelta(z: np.ndarray, y: np.ndarray, s: int) -> np.ndarray:
    z = z.view(_UINT[s])
    one = np.array(1, z.dtype)
    d = (z >> one) ^ (np.zeros_like(z) - (z & one))
    return (y.view(_UINT[s]) + d).view(np.uint8)


def _split(buf: np.ndarray, regions, dropped) -> tuple[np.ndarray, list[np.ndarray]]:
    """The bytes outside every region and dropped span, and per stride (ascending) its groups'
    byte planes."""
    planes = []
    for s in sorted({r[2] for r in regions}):
        group = np.concatenate([buf[off:off + n] for off, n, stride in regions if stride == s])
        planes += [group[k::s] for k in range(s)]
    return buf[_outside(buf.size, regions, dropped)], planes


def _outside(size: int, regions, dropped) -> np.ndarray:
    """Which of a file's ``size`` bytes lie outside every region and dropped span (pack's and
    unpack's rest)."""
    keep = np.ones(size, bool)
    for off, n, *_ in [*regions, *dropped]:
        keep[off:off + n] = False
    return keep


def _header(blob: bytes) -> tuple[dict, int]:
    if blob[:4] != MAGIC or len(blob) < 8:
        raise CorruptStreamError("not a packed weights file")
    (n,) = struct.unpack_from("<I", blob, 4)
    try:
        h = json.loads(blob[8:8 + n])
        size, sha = int(h["size"]), str(h["sha256"])
        regions, streams = [tuple(map(int, r)) for r in h["regions"]], list(map(int, h["streams"]))
    except (ValueError, KeyError, TypeError):
        raise CorruptStreamError("packed weights: unreadable header") from None
    end = 0
    for off, length, stride in regions:
        if off < end or length <= 0 or stride not in STRIDES[1:] or length % stride:
            raise CorruptStreamError("packed weights: bad regions")
        end = off + length
    dropped = h.get("dropped")
    if dropped is not None:
        try:
            keys, spans = list(map(str, dropped["keys"])), [tuple(map(int, r)) for r in dropped["spans"]]
            original = str(dropped["sha256"])
        except (ValueError, KeyError, TypeError):
            raise CorruptStreamError("packed weights: unreadable dropped storages") from None
        taken = sorted([*((o, n) for o, n, _ in regions), *spans])
        if not keys or not spans or any(len(r) != 2 or r[1] <= 0 for r in spans) \
                or any(a[0] + a[1] > b[0] for a, b in zip(taken, taken[1:])) or taken[0][0] < 0:
            raise CorruptStreamError("packed weights: bad dropped storages")
        end = max(end, taken[-1][0] + taken[-1][1])
        dropped = {"keys": tuple(keys), "spans": spans, "sha256": original}
    strides = sorted({r[2] for r in regions})
    base, pairs = h.get("base"), h.get("pairs")
    if base is not None:
        try:
            base = (str(base[0]), str(base[1]))
            pairs = list(map(int, pairs))
        except (ValueError, TypeError, IndexError):
            raise CorruptStreamError("packed weights: unreadable base") from None
        if "/" in base[0] or "\\" in base[0] or len(pairs) != len(regions) or min(pairs, default=0) < -1:
            raise CorruptStreamError("packed weights: bad base")
    elif pairs is not None:
        raise CorruptStreamError("packed weights: pairs without a base")
    if not 0 <= size <= MAX_SIZE or end > size or len(streams) != 1 + sum(strides) or min(streams) < 0 \
            or 8 + n + sum(streams) != len(blob):
        raise CorruptStreamError("packed weights: header does not fit the file")
    return {"size": size, "sha256": sha, "regions": regions, "streams": streams, "strides": strides,
            "base": base, "pairs": pairs, "dropped": dropped}, 8 + n


def base_of(blob: bytes) -> tuple[str, str] | None:
    """(file name, sha256) of the file a packed file is a delta against, or None."""
    return _header(blob)[0]["base"]


def unpack(blob: bytes, base: bytes | None = None) -> bytes:
    """The original bytes of a packed file; a delta needs its ``base``'s bytes."""
    h, pos = _header(blob)
    if (h["base"] is None) != (base is None):
        raise CorruptStreamError("packed weights: a delta needs its base file" if base is None
                                 else "packed weights: a base given for a file packed alone")
    if base is not None and hashlib.sha256(base).hexdigest() != h["base"][1]:
        raise CorruptStreamError(f"packed weights: the base {h['base'][0]} is not the file they were packed against")
    regions, dropped = h["regions"], (h["dropped"] or {}).get("spans", [])
    lengths = [h["size"] - sum(r[1] for r in [*regions, *dropped])]
    for s in h["strides"]:
        lengths += [sum(n for _, n, stride in regions if stride == s) // s] * s
    parts = []
    for length, clen in zip(lengths, h["streams"]):
        parts.append(_inflate(blob[pos:pos + clen], length))
        pos += clen
    out = np.zeros(h["size"], np.uint8)  # dropped storages stay zero
    first = 1
    for s in h["strides"]:
        group = np.empty(lengths[first] * s, np.uint8)
        for k in range(s):
            group[k::s] = parts[first + k]
        first += s
        at = 0
        for off, n, stride in regions:
            if stride == s:
                out[off:off + n] = group[at:at + n]
                at += n
    out[_outside(h["size"], regions, dropped)] = parts[0]
    if base is not None:
        ref = np.frombuffer(base, np.uint8)
        for (off, n, s), at in zip(regions, h["pairs"]):
            if at >= 0:
                if at + n > ref.size:
                    raise CorruptStreamError("packed weights: a pair beyond the base file")
                out[off:off + n] = _undelta(out[off:off + n], ref[at:at + n], s)
    data = out.tobytes()
    if hashlib.sha256(data).hexdigest() != h["sha256"]:
        raise CorruptStreamError("packed weights: the restored file's sha256 does not match")
    return data


def _inflate(stream: bytes, length: int) -> np.ndarray:
    try:
        if zstandard.frame_content_size(stream) != length:
            raise CorruptStreamError("packed weights: a stream of the wrong length")
        out = zstandard.ZstdDecompressor().decompress(stream, max_output_size=length)
    except zstandard.ZstdError:
        raise CorruptStreamError("packed weights: a damaged stream") from None
    if len(out) != length:
        raise CorruptStreamError("packed weights: a stream of the wrong length")
    return np.frombuffer(out, np.uint8)


def packed_path(path: Path) -> Path:
    return path.with_name(path.name + SUFFIX)


@dataclass(frozen=True)
class Weights:
    data: bytes  # the file's bytes (a decode-only file's dropped storages are zeros)
    sha256: str  # the digest that names it: the original file's, which its streams record
    dropped: tuple[str, ...] = ()  # the artefact keys a decode-only file lacks


def open_weights(path: Path, _depth: int = 0) -> Weights:
    """Weights file ``path`` (``NAME.pt``), from the file itself or, where it is absent, from
    its packed form ``NAME.pt.omw`` (restoring the file it is a delta against from the same
    folder first); FileNotFoundError when neither exists."""
    if path.is_file():
        data = path.read_bytes()
        return Weights(data, hashlib.sha256(data).hexdigest())
    blob = packed_path(path).read_bytes()
    h = _header(blob)[0]
    ref = None
    if h["base"] is not None:
        if _depth >= MAX_CHAIN:
            raise CorruptStreamError(f"packed weights: a chain of bases deeper than {MAX_CHAIN}")
        try:
            ref = open_weights(path.with_name(h["base"][0]), _depth + 1).data
        except FileNotFoundError:
            raise CorruptStreamError(f"packed weights {path.name}: the file they are a delta against, "
                                     f"{h['base'][0]}, is missing") from None
    data, dropped = unpack(blob, ref), h["dropped"]
    return Weights(data, dropped["sha256"], dropped["keys"]) if dropped else Weights(data, h["sha256"])


def read(path: Path) -> bytes:
    """The bytes of weights file ``path`` (``open_weights``)."""
    return open_weights(path).data


def load(path: Path):
    """``torch.load`` (weights only, on the CPU) of weights file ``path``, packed or not, to train
    from: a decode-only file is refused (its dropped tensors are zeros)."""
    import torch

    w = open_weights(path)
    if w.dropped:
        raise CorruptStreamError(f"weights {path.name} are kept for decoding old streams only (without "
                                 f"{', '.join(w.dropped)}): they cannot start or feed a training run")
    return torch.load(io.BytesIO(w.data), map_location="cpu", weights_only=True)


def exists(path: Path) -> bool:
    return path.is_file() or packed_path(path).is_file()
