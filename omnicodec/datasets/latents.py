"""Compressed-domain learning: the latents of a learned codec as a PyTorch dataset, read from
``.omc`` files without decoding pixels (after Jacobellis & Yadwadkar, "Learned Compression for
Compressed Learning", DCC 2025: a classifier learns from WaLLoC latents as well as from pixels).

    folder of .omc files (items or shards) ──────────────────────────────────────────┐
    folder of images/audio ─(first read: encode, atomic write)─► cache/REL.omc ───────┤
    arrays + labels (MNIST) ─(first read: encode a shard)─► cache/shard-NNNNNN.omc ───┤
        __getitem__(i): read the file ─► parse the container ─► entropy-decode the latent
                        (codec.decode_latent: no synthesis) ─► (latent, target)

The cache is itself the compressed archive: every file is an ordinary stream (``codec decode``
restores the image) and a ``LatentDataset`` over the cache folder alone reads it back.

Shards: small images of one size (MNIST, CIFAR, thumbnails) are stored ``shard`` to a file, as
one image that is a grid of independent tiles (``LearnedCodec.with_tiles``: each tile's latent
is the one it has alone, all of them coded as one plane; walloc, and hyperprior models without
a spatial context), with the labels in a side section ``labl`` (zlib of int32 little-endian,
one per item; tiles past them are blank).  One header per shard instead of one per item (and
for walloc a context model fitted to a thousand items): on MNIST with walloc at quality 0, 43
bytes a digit instead of 281 (benchmarks/compressed_learning.py), and the latents of a whole
shard decode in one pass.  Decoded shards are kept per process up to
``memory`` bytes; ``sampler()`` shuffles shard by shard so that a loader touches each shard
once per epoch when they do not all fit.

Items: ``latent`` is a float32 tensor, the codec's *dequantized* latent (the synthesis' input,
the same scale at every quality): walloc images (12 channels at quality < 50, 48 at >= 50,
ceil(H/8), ceil(W/8)), walloc audio (channels, 128, ceil(frames/128)) with stereo as
mid/side, hyperprior images (128, ceil(H/16), ceil(W/16)).  ``target`` is an int64 tensor: the
item's label (``labl``, or the class index of the first folder level under the root:
``classes[target]``), or -1 when there is none.  ``synthesize(latents)`` turns a batch of
latents back into pixels.  Items of different sizes (audio clips, images of several sizes)
have latents of different shapes: batch them with ``batch_size=1`` or a collate that pads.

Deterministic: an item's tensors depend only on the bytes of its file (the entropy decoder and
the dequantization are exact), so every worker count and epoch gives the same tensors; a cache
written by one run is reused as it is (a file of another codec or quality is refused).  Safe
with ``DataLoader(num_workers > 0)``: files are written atomically.
"""

from __future__ import annotations

import os
import time
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CorruptStreamError, UnsupportedInputError
from ..items import Image

try:  # a torch Dataset when torch is there (every learned codec needs it)
    from torch.utils.data import Dataset, Sampler
except ImportError:  # pragma: no cover
    Dataset = Sampler = object

SHARD = 1024  # items per shard file by default, for a codec that codes grids of tiles
LABELS = "labl"  # side section of a shard: its items' labels


@dataclass(frozen=True)
class LatentCost:
    """What an item costs, measured on a sample of files (``LatentDataset.cost``)."""

    items: int  # items in the dataset
    file_bytes: float  # .omc bytes per item: what an epoch reads from disk
    payload_bytes: float  # of which the entropy-coded latent (the rest: header, framing, labels)
    decode_seconds: float  # time to read, parse and entropy-decode, per item (one thread)
    shape: tuple[int, ...]  # one latent's shape
    stored_bytes: int  # all .omc files written so far


class LatentDataset(Dataset):
    """``(latent, target)`` pairs from the ``.omc`` files of a learned codec; see the module
    docstring.  ``LatentDataset(folder)`` reads a folder of ``.omc`` files;
    ``LatentDataset(folder, "walloc", 25, cache=dir)`` a folder of images or audio, encoded
    into ``cache`` on first read; ``LatentDataset.from_arrays(...)`` arrays with labels."""

    def __init__(self, root: str | os.PathLike, codec: Any = None, quality: float | None = None, *,
                 cache: str | os.PathLike | None = None, memory: int = 256 << 20):
        root = Path(root)
        if not root.is_dir():
            raise UnsupportedInputError(f"{root} is not a folder")
        files = sorted(p for p in root.rglob("*") if p.is_file() and not _hidden(p.relative_to(root)))
        if not files:
            raise UnsupportedInputError(f"{root} holds no files")
        raw = [p for p in files if p.suffix != ".omc"]
        if raw and (codec is None or cache is None):
            raise UnsupportedInputError(f"{root} holds files that are not .omc ({raw[0].name}, ...): "
                                        "give a codec and a cache folder to encode them into")
        rel = [p.relative_to(root) for p in files]
        folders = [r.parts[0] if len(r.parts) > 1 else None for r in rel]
        self.classes = sorted(set(folders)) if None not in folders else []
        folder_class = [self.classes.index(c) if self.classes else -1 for c in folders]
        self.files = [p if p.suffix == ".omc" else Path(cache) / r.parent / (r.name + ".omc")
                      for p, r in zip(files, rel)]
        self._sources: list[Any] = [None if p.suffix == ".omc" else p for p in files]
        entries, targets = [], []
        for j, (path, cls) in enumerate(zip(self.files, folder_class)):
            labels, tiles = _index(path) if path.suffix == ".omc" and self._sources[j] is None else (None, 1)
            entries += [(j, t) for t in range(tiles if labels is None else len(labels))]
            targets += [cls] * tiles if labels is None else list(labels)
        if not self.classes and max(targets) >= 0:  # labels from shards: classes by number
            self.classes = [str(i) for i in range(max(targets) + 1)]
        self._setup(codec, quality, entries, targets, memory)

    @classmethod
    def from_arrays(cls, arrays: np.ndarray, labels, codec: Any, quality: float | None = None, *,
                    cache: str | os.PathLike, shard: int | None = None, memory: int = 256 << 20) -> LatentDataset:
        """Images given as uint8 arrays (N, H, W) grey or (N, H, W, 3) RGB with integer labels
        (MNIST: ``mnist.load``), cached ``shard`` to a file as ``cache/shard-NNNNNN.omc``
        (default SHARD where the codec codes grids of tiles), or one file per item as
        ``cache/LABEL/NNNNNN.omc`` (``shard=0``)."""
        arrays, labels = np.asarray(arrays), np.asarray(labels, np.int64)
        if arrays.dtype != np.uint8 or arrays.ndim not in (3, 4) or len(arrays) != len(labels) or not len(arrays):
            raise UnsupportedInputError("from_arrays takes uint8 images (N, H, W) or (N, H, W, 3) and N labels")
        if labels.min() < 0 or labels.max() > np.iinfo(np.int32).max:
            raise UnsupportedInputError("labels must be non-negative int32 values")
        if shard is not None and (type(shard) is not int or shard < 0):
            raise UnsupportedInputError(f"shard must be a count of items (0: one file per item), got {shard!r}")
        self = cls.__new__(cls)
        self.classes = [str(i) for i in range(int(labels.max()) + 1)]
        codec = _learned(codec, quality)
        if shard is None:
            shard = SHARD if codec.tileable else 0
        if shard:
            codec.with_tiles(*arrays.shape[1:3])  # refuses a codec that cannot
            groups = [np.arange(a, min(a + shard, len(arrays))) for a in range(0, len(arrays), shard)]
            self.files = [Path(cache) / f"shard-{k:06d}.omc" for k in range(len(groups))]
            entries = [(k, t) for k, g in enumerate(groups) for t in range(len(g))]
        else:
            width = max(6, len(str(len(arrays) - 1)))
            groups = [np.array([i]) for i in range(len(arrays))]
            self.files = [Path(cache) / str(t) / f"{i:0{width}d}.omc" for i, t in enumerate(labels)]
            entries = [(i, 0) for i in range(len(arrays))]
        self._sources = [_Shard(arrays, labels, g, bool(shard)) for g in groups]
        self._setup(codec, None, entries, labels, memory)
        return self

    def _setup(self, codec, quality, entries, targets, memory: int) -> None:
        self.codec = _learned(codec, quality) if codec is not None else None
        self._entries = np.array(entries, np.int64).reshape(-1, 2)
        self.targets = np.asarray(targets, np.int64)
        self.memory = memory
        self._decoded: OrderedDict[int, np.ndarray] = OrderedDict()  # file -> its latents (tiles, ...)

    def __len__(self) -> int:
        return len(self._entries)

    def __getitem__(self, i: int):
        import torch

        return torch.from_numpy(self.latent(i)), torch.tensor(self.targets[i])

    def latent(self, i: int) -> np.ndarray:
        """Item i's latent as a float32 array (encoding its file into the cache if needed)."""
        j, t = self._entries[i]
        return self._latents_of(int(j))[t]

    def _latents_of(self, j: int) -> np.ndarray:
        """The latents (tiles, ...) of file j, decoded once per process while they fit ``memory``."""
        if j in self._decoded:
            self._decoded.move_to_end(j)
            return self._decoded[j]
        latents = self._read(j)
        self._decoded[j] = latents
        while len(self._decoded) > 1 and sum(v.nbytes for v in self._decoded.values()) > self.memory:
            self._decoded.popitem(last=False)
        return latents

    def _read(self, j: int) -> np.ndarray:
        from .. import api

        path = self.files[j]
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            if self._sources[j] is None:
                raise
            data = self._encode(j)
        header, latents = api.decode_latent(data, tiles=True)
        quality = header.config.get("quality")
        if self.codec is not None and (header.codec, quality) != (self.codec.codec_id, self.codec.quality):
            raise UnsupportedInputError(
                f"{path} holds a {header.codec} stream of quality {quality}, not {self.codec.codec_id} at "
                f"{self.codec.quality}: use another cache folder")
        return latents

    def _encode(self, j: int) -> bytes:
        from .. import api
        from .files import read_item

        source = self._sources[j]
        item, codec = (read_item(source), self.codec) if isinstance(source, Path) else source.item(self.codec)
        data = api.encode(item, codec.for_item(item))
        path = self.files[j]
        path.parent.mkdir(parents=True, exist_ok=True)
        api.atomic_write(path, lambda tmp: tmp.write_bytes(data))
        return data

    def prepare(self, workers: int = 1) -> int:
        """Encode every file not cached yet, in ``workers`` processes (e.g. before timing
        epochs); returns how many files were written."""
        missing = [j for j, p in enumerate(self.files) if self._sources[j] is not None and not p.exists()]
        if workers <= 1 or len(missing) < 2:
            for j in missing:
                self._encode(j)
        else:
            with _pool(self, workers) as pool:
                list(pool.map(_encode_adopted, missing, chunksize=max(1, len(missing) // (8 * workers))))
        return len(missing)

    def tensors(self, workers: int = 1):
        """Every item at once, for data that fits in memory: (latents (N, ...) float32, targets
        (N,) int64) as torch tensors, decoded (and encoded where missing) in ``workers``
        processes; the same tensors as item by item."""
        import torch

        files = np.array_split(np.arange(len(self.files)), max(1, min(len(self.files), 8 * workers)))
        if workers <= 1:
            parts = [_latents(self, c) for c in files]
        else:
            with _pool(self, workers) as pool:
                parts = list(pool.map(_latents_adopted, files))
        by_file = dict(zip((j for c in files for j in c), (v for p in parts for v in p)))
        latents = np.stack([by_file[j][t] for j, t in self._entries])
        return torch.from_numpy(latents), torch.from_numpy(self.targets.copy())

    def sampler(self, seed: int = 0) -> ShardShuffle:
        """A sampler that shuffles the files, then the items within each file, anew each epoch
        (``DataLoader(data, sampler=data.sampler())``): each shard decodes once per epoch."""
        return ShardShuffle(self._entries[:, 0], seed)

    def cost(self, sample: int = 16) -> LatentCost:
        """Bytes and decode time per item, measured on ``sample`` files spread over the dataset
        (encoded first where missing), and the bytes of all .omc files so far."""
        from .. import container

        picks = sorted({int(j) for j in np.linspace(0, len(self.files) - 1, min(sample, len(self.files)))})
        per_file = np.bincount(self._entries[:, 0], minlength=len(self.files))
        files = payload = seconds = items = 0
        for j in picks:
            self._read(j)  # cached, and the model loaded, before timing
            start = time.perf_counter()
            latents = self._read(j)
            seconds += time.perf_counter() - start
            data = self.files[j].read_bytes()
            files += len(data)
            payload += len(container.unpack(data).sections.get("DATA", b""))
            items += per_file[j]
        stored = sum(p.stat().st_size for p in self.files if p.exists())
        return LatentCost(len(self), files / items, payload / items, seconds / items, tuple(latents.shape[1:]), stored)

    def synthesize(self, latents):
        """Pixels (or samples) of a batch of this dataset's latents (``LearnedCodec.synthesize``)."""
        from .. import api

        return (self.codec or api.latent_codec(api.open(self.files[0]))).synthesize(latents)

    def __getstate__(self):  # workers start with an empty decoded cache
        return {**self.__dict__, "_decoded": OrderedDict()}


class ShardShuffle(Sampler):
    """Item indices, files in a random order and the items of each file in a random order;
    a new order each epoch (seeded)."""

    def __init__(self, file_of_item: np.ndarray, seed: int = 0):
        self._by_file = [np.flatnonzero(file_of_item == j) for j in np.unique(file_of_item)]
        self.seed, self.epoch = seed, 0

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_file)

    def __iter__(self):
        rng = np.random.default_rng((self.seed, self.epoch))
        self.epoch += 1
        for j in rng.permutation(len(self._by_file)):
            yield from (int(i) for i in rng.permutation(self._by_file[j]))


class _Shard:
    """The items of one cache file made from arrays: a grid of tiles (with their labels) or one image."""

    def __init__(self, arrays: np.ndarray, labels: np.ndarray, members: np.ndarray, tiled: bool):
        self.arrays, self.labels, self.members, self.tiled = arrays, labels, members, tiled

    def item(self, codec):
        images = self.arrays[self.members]
        if not self.tiled:
            return Image(np.ascontiguousarray(images[0])), codec
        n, h, w = images.shape[:3]
        cols = int(np.ceil(np.sqrt(n)))
        rows = -(-n // cols)
        grid = np.zeros((rows * cols, *images.shape[1:]), np.uint8)  # blank tiles after the last item
        grid[:n] = images
        grid = grid.reshape(rows, cols, h, w, -1).transpose(0, 2, 1, 3, 4).reshape(rows * h, cols * w, -1)
        labels = zlib.compress(self.labels[self.members].astype("<i4").tobytes(), 9)
        return Image(grid, extra={LABELS: labels}), codec.with_tiles(h, w)


def _learned(codec: Any, quality: float | None):
    from .. import api
    from ..codecs.learned import LearnedCodec

    codec = api.get_codec(codec, quality) if isinstance(codec, str) else codec
    if not isinstance(codec, LearnedCodec):
        raise UnsupportedInputError(f"{codec.codec_id} is not a learned codec: its streams hold no latent")
    return codec


def _index(path: Path) -> tuple[np.ndarray | None, int]:
    """(labels or None, tiles) of an .omc file, from its header and its ``labl`` section."""
    from .. import api, container

    with container.open_sections(path) as box:
        header = box.header
        tiles = api.latent_codec(header).tiles(header.meta)
        if LABELS not in box.sections:
            return None, tiles
        raw = box.sections[LABELS].read()
    try:
        labels = np.frombuffer(zlib.decompress(raw, bufsize=4 * tiles), "<i4").astype(np.int64)
    except zlib.error as exc:
        raise CorruptStreamError(f"{path}: labels do not inflate: {exc}") from None
    if len(labels) > tiles or labels.min(initial=0) < 0:
        raise CorruptStreamError(f"{path}: {len(labels)} labels for {tiles} tiles")
    return labels, tiles


def _hidden(rel: Path) -> bool:
    """Dot files and folders (the cache's own temporaries among them) are not items."""
    return any(part.startswith(".") for part in rel.parts)


def _latents(dataset: LatentDataset, files: np.ndarray) -> list[np.ndarray]:
    return [dataset._read(int(j)) for j in files]


_ADOPTED: LatentDataset | None = None  # a worker process's dataset, sent once per process


def _pool(dataset: LatentDataset, workers: int):
    """Worker processes holding the dataset, started by a fork server: a child forked from a
    parent that ran OpenMP or numba's thread pool may abort when it uses them in turn."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(workers, multiprocessing.get_context("forkserver"), _adopt, (dataset,))


def _adopt(dataset: LatentDataset) -> None:
    global _ADOPTED
    import torch

    torch.set_num_threads(1)  # a worker per core
    _ADOPTED = dataset


def _encode_adopted(j: int) -> None:
    _ADOPTED._encode(j)


def _latents_adopted(files: np.ndarray) -> list[np.ndarray]:
    return _latents(_ADOPTED, files)
