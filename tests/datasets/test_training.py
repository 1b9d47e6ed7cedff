"""Training sources (datasets/training.py): the held-out slice, crops, chunks and clips decided
by the rng alone, and the packer's budget and split."""

import numpy as np
import pytest

import omnicodec

from ..common import write_images


def test_sources_hold_out_a_fixed_slice(tmp_path):
    import soundfile

    from omnicodec.datasets import training

    imgs = write_images(tmp_path / "imgs", n=31, size=(70, 90))
    train, val = training.split(imgs, training.IMAGE_EXTS)
    assert len(val) == 2 and not set(val) & set(train) and len(train) == 29
    src = training.source("images", imgs, 64)
    a = src.batch(np.random.default_rng(1), 5)
    assert a.shape == (5, 3, 64, 64) and a.dtype == np.uint8 and a.max() > 200  # bytes: floats on the device
    assert np.array_equal(a, src.batch(np.random.default_rng(1), 5))  # the rng alone decides
    assert src.validation().shape == (2, 3, 64, 64)

    (tmp_path / "snd").mkdir()
    for i in range(3):
        soundfile.write(tmp_path / "snd" / f"{i}.wav", np.random.default_rng(i).normal(0, 0.1, (3000, 2)), 8000)
    sound = training.source("audio", tmp_path / "snd", 1024)
    assert sound.batch(np.random.default_rng(0), 4).shape == (4, 1, 1024)
    assert sound.validation().shape == (1, 1, 1024)

    from omnicodec.datasets import y4m

    frames = np.random.default_rng(0).integers(0, 256, (5, 48, 64), dtype=np.uint8)
    chroma = np.full((5, 24, 32), 128, np.uint8)
    (tmp_path / "vid").mkdir()
    (tmp_path / "vid" / "a.y4m").write_bytes(y4m.serialize(omnicodec.Video((frames, chroma, chroma), (25, 1))))
    clips = training.source("video", tmp_path / "vid", 32, frames=3)
    c = clips.batch(np.random.default_rng(0), 2)
    assert c.shape == (2, 3, 3, 32, 32)
    grey = frames / 255.0  # neutral chroma: R = G = B = luma (full range)
    assert np.allclose(c[0, :, 0], c[0, :, 1], atol=1e-6) and c.max() <= 1
    assert np.isclose(clips.validation()[0, 0, 0, 0, 0], np.clip(grey[0, 8, 16], 0, 1), atol=1e-6)

    np.savez(tmp_path / "mnist.npz", x_train=np.zeros((10, 28, 28), np.uint8), x_test=np.ones((300, 28, 28), np.uint8),
             y_train=np.zeros(10, np.uint8), y_test=np.zeros(300, np.uint8))
    digits = training.source("mnist", tmp_path / "mnist.npz", 28)
    assert digits.batch(np.random.default_rng(0), 3).shape == (3, 1, 28, 28) and digits.validation().shape[0] == 256


def test_pack_images_keeps_the_budget_and_the_split(tmp_path):
    from omnicodec.datasets import training

    src = write_images(tmp_path / "src", n=31, size=(200, 260))
    info = training.pack_images(src, tmp_path / "pack", budget=300_000, tile=96)
    files = list((tmp_path / "pack" / "train").iterdir())
    total = sum(f.stat().st_size for f in (tmp_path / "pack").rglob("*.jpg"))
    assert total == info["bytes"] <= 300_000 and 0 < len(files) == info["train_tiles"] < info["of_tiles"]
    assert info["val_crops"] == 2  # one per held-out image, from images never packed for training
    train, val = training.split(tmp_path / "pack", training.IMAGE_EXTS)
    assert len(val) == 2 and len(train) == len(files)
    with pytest.raises(FileExistsError):
        training.pack_images(src, tmp_path / "pack")


def test_video_clips_subsample_reverse_and_pan_over_stills(tmp_path):
    """Clips of a y4m take every 1st-3rd frame, forwards or backwards; stills in the folder
    give pans: each frame the previous one moved by the same whole-pixel step."""
    from omnicodec.datasets import training, y4m

    from ..common import make_video

    video = make_video(frames=9, h=48, w=64)
    write_images(tmp_path / "vid", n=2, size=(120, 140))
    (tmp_path / "vid" / "a.y4m").write_bytes(y4m.serialize(video))
    src = training.source("video", tmp_path / "vid", 32, frames=3)
    assert len(src.stills) == 2 and src.validation().shape[1:] == (3, 3, 32, 32)
    clips = src.batch(np.random.default_rng(0), 40)
    assert np.array_equal(clips, src.batch(np.random.default_rng(0), 40))
    from omnicodec.items import yuv_to_rgb

    frames = np.stack([yuv_to_rgb(*(p[i] for p in video.planes)) for i in range(9)])
    kinds = {"pan": 0, "clip": 0}
    for c in clips:
        found = [(y, x, t0, step) for t0 in range(9) for step in (-3, -2, -1, 1, 2, 3)
                 if 0 <= t0 + 2 * step < 9 for y in range(17) for x in range(33)
                 if np.array_equal(c, frames[[t0, t0 + step, t0 + 2 * step], :, y:y + 32, x:x + 32])]
        if found:
            kinds["clip"] += 1
            continue
        shifts = [(dy, dx) for dy in range(-8, 9) for dx in range(-8, 9)
                  if np.array_equal(c[1, :, max(0, -dy):32 - max(0, dy), max(0, -dx):32 - max(0, dx)],
                                    c[0, :, max(0, dy):32 + min(0, dy), max(0, dx):32 + min(0, dx)])
                  and np.array_equal(c[2, :, max(0, -dy):32 - max(0, dy), max(0, -dx):32 - max(0, dx)],
                                     c[1, :, max(0, dy):32 + min(0, dy), max(0, dx):32 + min(0, dx)])]
        assert shifts, "a clip is neither frames of the video nor a pan"
        kinds["pan"] += 1
    assert min(kinds.values()) >= 10, kinds
