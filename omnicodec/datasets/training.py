"""Training data for learned models: image crops, audio chunks, video clips and MNIST digits,
with a fixed held-out slice for validation, seeded batches that resume exactly, and a packer
that fits an image training set into a small folder for the GPU machine.

    folder ─► source(kind, folder, size) ─► .batch(rng, n)   uint8 (n, 3, size, size) images
                                                                      (n, 1, 28, 28) MNIST
                                                               float32 (n, 1, size) audio in [-1, 1]
                                                                      (n, frames, 3, size, size) video in [0, 1]
                                          └► .validation()    the same shapes and types, fixed, never trained on

uint8 batches cross to the trainer's device as bytes (a quarter of float32's) and become floats
in [0, 1] there (``models.train.to_device``).

Held out: a folder with ``train/`` and ``val/`` subfolders (as ``pack_images`` writes) is split
by them; otherwise every ``HOLDOUT``-th file in sorted path order is held out (MNIST: its test
split).  Batches draw only from ``rng`` (a numpy Generator the trainer checkpoints), so a
resumed run sees the batches an uninterrupted one would.  Numpy only: no torch here.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from ..errors import UnsupportedInputError

HOLDOUT = 20  # one file in HOLDOUT is held out for validation
MAX_VALIDATION = 16  # validation items (crops, chunks, clips); MNIST: 256 digits
IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".ppm", ".tif", ".tiff"}
AUDIO_EXTS = {".wav", ".flac", ".ogg", ".aiff", ".aif"}
VIDEO_EXTS = {".y4m"}
MAX_FRAME_STEP = 3  # video clips skip up to this many frames at a time (frame-rate subsampling)
MAX_PAN = 8  # pixels a frame that a synthetic pan over a still image moves, each way


def split(folder: Path, exts: set[str]) -> tuple[list[Path], list[Path]]:
    """(training files, held-out files) of a folder (see the module docstring)."""
    def files(d: Path) -> list[Path]:
        return sorted(p for p in d.rglob("*") if p.suffix.lower() in exts and p.is_file())

    if (folder / "train").is_dir() and (folder / "val").is_dir():
        train, val = files(folder / "train"), files(folder / "val")
    else:
        every = files(folder)
        val = every[HOLDOUT // 2::HOLDOUT] if len(every) > 1 else every
        held = set(val)
        train = [p for p in every if p not in held] or every
    if not train:
        raise UnsupportedInputError(f"no training files ({', '.join(sorted(exts))}) in {folder}")
    return train, val


def _rgb(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def _centre(a: np.ndarray, size: int) -> np.ndarray:
    y, x = (a.shape[0] - size) // 2, (a.shape[1] - size) // 2
    return a[y:y + size, x:x + size]


class _Source:
    """Training items and held-out items (at most MAX_VALIDATION) loaded from a folder's split."""

    def _load(self, folder: Path, exts: set[str], load, what: str) -> None:
        train, val = split(folder, exts)
        self.items, self.held_out = load(train), load(val)[:MAX_VALIDATION]
        if not self.items:
            raise UnsupportedInputError(f"no training {what} in {folder}")
        self.held_out = self.held_out or self.items[:1]


class ImageSource(_Source):
    """Random square crops (with horizontal flips) of RGB images at least ``size`` on a side."""

    def __init__(self, folder: Path, size: int):
        def load(paths):
            return [a for a in map(_rgb, paths) if min(a.shape[:2]) >= size]

        self.size = size
        self._load(folder, IMAGE_EXTS, load, f"image of at least {size}px")

    def batch(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """uint8 (n, 3, size, size): the trainer makes them floats in [0, 1] on its device."""
        s = self.size
        out = np.empty((n, 3, s, s), dtype=np.uint8)
        for i in range(n):
            a = self.items[rng.integers(len(self.items))]
            y, x = rng.integers(0, a.shape[0] - s + 1), rng.integers(0, a.shape[1] - s + 1)
            c = a[y:y + s, x:x + s]
            out[i] = (c[:, ::-1] if rng.random() < 0.5 else c).transpose(2, 0, 1)
        return out

    def validation(self) -> np.ndarray:
        return np.ascontiguousarray(np.stack([_centre(a, self.size) for a in self.held_out]).transpose(0, 3, 1, 2))


class AudioSource(_Source):
    """Random chunks of ``size`` samples of mono mixdowns (each file at its own rate)."""

    def __init__(self, folder: Path, size: int):
        import soundfile

        def load(paths):
            out = []
            for p in paths:
                a, _ = soundfile.read(p, dtype="float32", always_2d=True)
                if len(a) >= size:
                    out.append(a.mean(axis=1))
            return out

        self.size = size
        self._load(folder, AUDIO_EXTS, load, f"audio of at least {size} samples")

    def batch(self, rng: np.random.Generator, n: int) -> np.ndarray:
        out = np.empty((n, 1, self.size), dtype=np.float32)
        for i in range(n):
            a = self.items[rng.integers(len(self.items))]
            t = rng.integers(0, len(a) - self.size + 1)
            out[i, 0] = a[t:t + self.size]
        return out

    def validation(self) -> np.ndarray:
        return np.stack([a[(len(a) - self.size) // 2:][:self.size] for a in self.held_out])[:, None]


class VideoSource(_Source):
    """Random clips of ``frames`` frames, cropped to ``size`` square, as RGB (``items.yuv_to_rgb``).

    Still images in the folder (any of IMAGE_EXTS, e.g. a link to the image training set) add
    synthetic camera pans: a window moving a whole number of pixels a frame (up to MAX_PAN each
    way) over a training image, for half of the clips, so that a video model sees more scenes
    and motions than a handful of clips hold.  Validation uses the video files only."""

    def __init__(self, folder: Path, size: int, frames: int = 4):
        from ..items import yuv_to_rgb
        from . import y4m

        def load(paths):
            out = []
            for p in paths:
                video = y4m.parse(p.read_bytes())
                f, h, w = video.planes[0].shape
                if f >= frames and min(h, w) >= size:
                    bits = int(video.pix_fmt.split("p")[-1][:-2]) if video.pix_fmt.endswith("le") else 8
                    peak = 2**bits - 1
                    out.append(np.stack([yuv_to_rgb(*(pl[i] for pl in video.planes), peak) for i in range(f)]))
            return out

        self.size, self.frames = size, frames
        self._load(folder, VIDEO_EXTS, load, f"video of {frames}+ frames of {size}px")
        reach = size + (frames - 1) * MAX_PAN
        try:
            stills = split(folder, IMAGE_EXTS)[0]
        except UnsupportedInputError:  # no still images: clips only
            stills = []
        self.stills = [a for a in map(_rgb, stills) if min(a.shape[:2]) >= reach]

    def batch(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Random crops of ``frames`` frames taken every 1st, 2nd or 3rd frame (frame-rate
        subsampling, as far as the clip is long enough), played backwards half the time; or,
        for half of them where there are still images, a pan over one."""
        s, k = self.size, self.frames
        out = np.empty((n, k, 3, s, s), dtype=np.float32)
        for i in range(n):
            if self.stills and rng.random() < 0.5:
                a = self.stills[rng.integers(len(self.stills))]
                vy, vx = rng.integers(-MAX_PAN, MAX_PAN + 1, 2)
                y0 = rng.integers(max(0, -vy * (k - 1)), a.shape[0] - s - max(0, vy * (k - 1)) + 1)
                x0 = rng.integers(max(0, -vx * (k - 1)), a.shape[1] - s - max(0, vx * (k - 1)) + 1)
                for t in range(k):
                    y, x = y0 + t * vy, x0 + t * vx
                    out[i, t] = a[y:y + s, x:x + s].transpose(2, 0, 1) / 255.0
                continue
            v = self.items[rng.integers(len(self.items))]
            step = int(rng.integers(1, min(MAX_FRAME_STEP, (v.shape[0] - 1) // max(k - 1, 1)) + 1))
            t = rng.integers(0, v.shape[0] - (k - 1) * step)
            y, x = rng.integers(0, v.shape[2] - s + 1), rng.integers(0, v.shape[3] - s + 1)
            clip = v[t:t + (k - 1) * step + 1:step, :, y:y + s, x:x + s]
            out[i] = clip[::-1] if rng.integers(2) else clip
        return out

    def validation(self) -> np.ndarray:
        s, k = self.size, self.frames

        def centre(v: np.ndarray) -> np.ndarray:
            y, x = (v.shape[2] - s) // 2, (v.shape[3] - s) // 2
            return v[:k, :, y:y + s, x:x + s]

        return np.stack([centre(v) for v in self.held_out])


class MnistSource:
    """MNIST digits from an .npz with x_train/x_test (28x28 uint8); validation is x_test[:256]."""

    def __init__(self, folder: Path, size: int = 28):
        from .mnist import load

        self.train, self.test = load(folder, "train")[0], load(folder, "test")[0][:256]

    def batch(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """uint8 (n, 1, 28, 28), as ``ImageSource.batch``."""
        return self.train[rng.integers(0, len(self.train), n)][:, None]

    def validation(self) -> np.ndarray:
        return self.test[:, None]


def source(kind: str, folder: Path, size: int, frames: int = 4):
    """The training source a model declares (``images``, ``audio``, ``video`` or ``mnist``)."""
    folder = Path(folder)
    if not folder.exists():
        raise UnsupportedInputError(f"training data {folder} does not exist")
    if kind == "images":
        return ImageSource(folder, size)
    if kind == "audio":
        return AudioSource(folder, size)
    if kind == "video":
        return VideoSource(folder, size, frames)
    if kind == "mnist":
        return MnistSource(folder, size)
    raise ValueError(f"unknown training source {kind!r}")


# ----------------------------------------------------------------------------------- packing
PACK_MIB = 24  # what a GPU call can carry beside the code (64 MiB in all, tracked files <= 40 MiB)


def pack_images(src: Path, dst: Path, budget: int = PACK_MIB << 20, tile: int = 320, quality: int = 95,
                seed: int = 0) -> dict:
    """Write ``src``'s images as ``tile``-px square crops, JPEG 4:4:4 at ``quality``, into
    ``dst/train`` (a seeded random sample of all non-overlapping tiles, as many as fit the byte
    budget) and ``dst/val`` (one centre crop per held-out image), with ``dst/PACK.json``.
    Training crops up to ``tile`` px come from these with random offsets."""
    from PIL import Image

    if dst.exists() and any(dst.iterdir()):
        raise FileExistsError(f"{dst} exists and is not empty")
    train, val = split(src, IMAGE_EXTS)
    (dst / "train").mkdir(parents=True, exist_ok=True)
    (dst / "val").mkdir(exist_ok=True)

    def jpeg(a: np.ndarray) -> bytes:
        out = io.BytesIO()
        Image.fromarray(a).save(out, "JPEG", quality=quality, subsampling=0)
        return out.getvalue()

    used = held = 0
    for i, p in enumerate(val):
        a = _rgb(p)
        if min(a.shape[:2]) >= tile:
            data = jpeg(_centre(a, tile))
            (dst / "val" / f"{i:05d}.jpg").write_bytes(data)
            used, held = used + len(data), held + 1

    def size(p: Path) -> tuple[int, int]:
        with Image.open(p) as im:
            return im.height, im.width

    tiles = [(i, y, x) for i, p in enumerate(train) for (h, w) in [size(p)]
             for y in range(0, h - tile + 1, tile) for x in range(0, w - tile + 1, tile)]
    order = np.random.default_rng(seed).permutation(len(tiles))
    written, cache = 0, {}
    for k in order:
        i, y, x = tiles[k]
        if i not in cache:
            cache = {i: _rgb(train[i])}  # tiles of one image are spread out; keep one decoded
        data = jpeg(cache[i][y:y + tile, x:x + tile])
        if used + len(data) > budget:
            break
        (dst / "train" / f"{written:05d}.jpg").write_bytes(data)
        used, written = used + len(data), written + 1
    info = {"source": str(src), "tile": tile, "quality": quality, "seed": seed, "train_tiles": written,
            "of_tiles": len(tiles), "val_crops": held, "bytes": used}
    (dst / "PACK.json").write_text(json.dumps(info, indent=1) + "\n")
    return info
