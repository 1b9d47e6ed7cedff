"""Compressed-domain learning: every learned codec's latent hook (the latent an encode stores
equals the one decoded from its stream; shapes; batch synthesis matches the decoder), the
LatentDataset over arrays, image folders and .omc folders (cache layout, reuse, refusals,
DataLoader workers, cost), the MNIST loader, and the README example."""

from pathlib import Path

import numpy as np
import pytest

import omnicodec
from omnicodec import container
from omnicodec.errors import CorruptStreamError, UnsupportedInputError

from ..common import make_audio, make_image

torch = pytest.importorskip("torch")  # the neural extra; `make test` installs it


def _digits(n: int = 12, seed: int = 0) -> np.ndarray:
    """Blobs on black, MNIST-like: uint8 (n, 28, 28)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:28, :28]
    out = np.zeros((n, 28, 28))
    for k in range(n):
        for _ in range(3):
            cy, cx, r = rng.uniform(8, 20), rng.uniform(8, 20), rng.uniform(2, 5)
            out[k] += 255 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
    return np.clip(out, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("codec_id, quality, channels, stride", [
    ("walloc", 10, 12, 8), ("walloc", 80, 64, 8), ("hyperprior", 30, None, 16), ("vq", 60, 32, 16),
    ("mcquic", 0, 128, 16), ("mcquic", 70, 128, 16)])
def test_latent_of_an_encode_is_the_latent_its_stream_holds(codec_id, quality, channels, stride):
    item = make_image(37, 53, seed=2)
    codec = omnicodec.get_codec(codec_id, quality)
    latent = codec.encode_latent(item)
    header, decoded = omnicodec.decode_latent(omnicodec.encode(item, codec))
    assert header.codec == codec_id and decoded.dtype == np.float32
    assert decoded.shape[1:] == (-(-37 // stride), -(-53 // stride))
    assert channels is None or decoded.shape[0] == channels
    assert np.array_equal(latent, decoded)
    assert np.abs(decoded).max() > 0.1  # a real latent, not zeros


def test_the_latent_scale_does_not_move_with_quality():
    """Dequantized latents of one image at two qualities of one model agree far better than
    their integer symbols would (the gains differ by about 2x between those levels)."""
    item = make_image(64, 64, seed=4)
    a, b = (omnicodec.get_codec("walloc", q).encode_latent(item) for q in (2, 22))  # both the 16x model
    assert np.abs(a - b).mean() < 0.5 * np.abs(b).mean()


@pytest.mark.parametrize("codec_id, stride", [("walloc", 8), ("vq", 16)])
def test_batch_synthesis_matches_the_decoder(codec_id, stride):
    item = make_image(40, 48, seed=5)
    codec = omnicodec.get_codec(codec_id, 70)
    blob = omnicodec.encode(item, codec)
    latent = omnicodec.decode_latent(blob)[1]
    pixels = codec.synthesize(np.stack([latent, latent]))
    assert pixels.shape == (2, 3, -(-40 // stride) * stride, 48) and pixels.dtype == torch.float32
    decoded = omnicodec.decode(blob).pixels.astype(np.float64)
    ours = pixels[1].permute(1, 2, 0).numpy()[:40] * 255
    assert np.abs(ours - decoded).max() <= 1.0  # float32 here, float64 tiles in the decoder


def test_audio_latent_per_channel():
    item = make_audio(frames=5000, rate=16000, channels=2)
    codec = omnicodec.get_codec("walloc", 50).for_item(item)
    latent = codec.encode_latent(item)
    header, decoded = omnicodec.decode_latent(omnicodec.encode(item, codec))
    assert header.modality == "audio" and decoded.shape == (2, 128, -(-5000 // 128))
    assert np.array_equal(latent, decoded)
    samples = codec.synthesize(decoded)
    assert samples.shape == (2, 1, 128 * decoded.shape[2]) and samples.abs().max() <= 1


def test_streams_without_a_latent_and_damaged_streams_are_refused():
    item = make_image(16, 16)
    with pytest.raises(UnsupportedInputError, match="not a learned codec"):
        omnicodec.decode_latent(omnicodec.encode(item, "png"))
    box = container.unpack(omnicodec.encode(item, "walloc", 20))
    box.sections["DATA"] = box.sections["DATA"][:4]
    with pytest.raises(CorruptStreamError):
        omnicodec.decode_latent(container.pack(box.header, box.sections))


def test_dataset_from_arrays_one_file_per_item(tmp_path):
    from omnicodec.datasets.latents import LatentDataset

    digits, labels = _digits(12), np.arange(12) % 3
    ds = LatentDataset.from_arrays(digits, labels, "walloc", 20, cache=tmp_path / "c", shard=0)
    assert len(ds) == 12 and ds.classes == ["0", "1", "2"]
    latent, target = ds[4]
    assert latent.shape == (12, 4, 4) and latent.dtype == torch.float32 and target.item() == 1
    path = tmp_path / "c" / "1" / "000004.omc"
    assert path.is_file() and omnicodec.decode(path.read_bytes()).pixels.shape == (28, 28, 1)
    assert np.array_equal(ds.codec.encode_latent(omnicodec.Image(digits[4])), latent.numpy())
    assert ds.prepare() == 11 and ds.prepare() == 0
    # the cache alone is a dataset of .omc files: same latents, classes from its folders
    again = LatentDataset(tmp_path / "c")
    assert again.classes == ["0", "1", "2"] and list(again.targets) == sorted(labels)
    by_name = {p.name: i for i, p in enumerate(again.files)}
    assert torch.equal(again[by_name["000004.omc"]][0], latent)
    cost = ds.cost(sample=12)
    sizes = [p.stat().st_size for p in ds.files]
    assert cost.file_bytes == pytest.approx(np.mean(sizes)) and cost.stored_bytes == sum(sizes)
    assert 0 < cost.payload_bytes < cost.file_bytes and cost.shape == (12, 4, 4) and cost.decode_seconds > 0


def test_shards_hold_tiles_whose_latents_are_the_items_own(tmp_path):
    from torch.utils.data import DataLoader

    from omnicodec.datasets.latents import LatentDataset

    digits, labels = _digits(30), np.arange(30) % 10
    ds = LatentDataset.from_arrays(digits, labels, "walloc", 20, cache=tmp_path / "s", shard=8)
    assert [p.name for p in ds.files] == [f"shard-00000{k}.omc" for k in range(4)] and len(ds) == 30
    latent, target = ds[29]
    assert target.item() == 9 and np.array_equal(ds.codec.encode_latent(omnicodec.Image(digits[29])), latent.numpy())
    assert np.array_equal(ds.codec.encode_latent(omnicodec.Image(digits[3])), ds[3][0].numpy())
    mosaic = omnicodec.decode((tmp_path / "s" / "shard-000000.omc").read_bytes())
    assert mosaic.pixels.shape == (84, 84, 1) and "labl" in mosaic.extra  # 8 digits on a 3x3 grid
    alone = omnicodec.decode(omnicodec.encode(omnicodec.Image(digits[4]), ds.codec)).pixels
    assert np.array_equal(mosaic.pixels[28:56, 28:56], alone)  # tile (1, 1): each tile decodes as alone
    # the folder of shards alone: the same items, labels from the shards
    assert ds.prepare(workers=2) == 2
    again = LatentDataset(tmp_path / "s")
    assert len(again) == 30 and list(again.targets) == list(labels) and again.classes == ds.classes
    latents, targets = again.tensors(workers=2)
    assert torch.equal(latents, ds.tensors()[0]) and torch.equal(targets, torch.from_numpy(labels))
    # workers and the shard-by-shard shuffle give the same items
    sampler = ds.sampler(seed=3)
    order = list(sampler)
    assert sorted(order) == list(range(30)) and order != list(sampler)  # a new order each epoch
    first = min(8, 30 - order[0] // 8 * 8)  # the first shard's items, all together
    assert [i // 8 for i in order[:first]] == [order[0] // 8] * first
    loaded = DataLoader(ds, batch_size=5, sampler=ds.sampler(seed=3), num_workers=2)
    assert torch.equal(torch.cat([b[0] for b in loaded]), latents[order])
    cost = ds.cost()
    assert cost.file_bytes * 30 == pytest.approx(cost.stored_bytes)
    assert cost.payload_bytes < cost.file_bytes < 200  # one header per shard
    assert ds.synthesize(latents[:3]).shape == (3, 3, 32, 32)


def test_damaged_shard_labels_are_refused(tmp_path):
    from omnicodec.datasets.latents import LatentDataset

    LatentDataset.from_arrays(_digits(4), np.arange(4), "walloc", 20, cache=tmp_path, shard=4).prepare()
    path = tmp_path / "shard-000000.omc"
    box = container.unpack(path.read_bytes())
    for bad in (b"junk", __import__("zlib").compress(np.arange(20, dtype="<i4").tobytes())):
        box.sections["labl"] = bad
        path.write_bytes(container.pack(box.header, box.sections))
        with pytest.raises(CorruptStreamError):
            LatentDataset(tmp_path)


def test_a_cache_of_another_quality_or_codec_is_refused(tmp_path):
    from omnicodec.datasets.latents import LatentDataset

    digits, labels = _digits(2), np.array([0, 1])
    LatentDataset.from_arrays(digits, labels, "walloc", 20, cache=tmp_path).prepare()
    with pytest.raises(UnsupportedInputError, match="another cache"):
        LatentDataset.from_arrays(digits, labels, "walloc", 30, cache=tmp_path)[0]
    hyper = LatentDataset.from_arrays(digits, labels, "hyperprior", 0, cache=tmp_path / "h")  # shards too
    assert hyper.files[0].name == "shard-000000.omc" and hyper[1][0].shape == (128, 2, 2)
    assert np.array_equal(hyper[1][0].numpy(), hyper.codec.encode_latent(omnicodec.Image(digits[1])))
    with pytest.raises(UnsupportedInputError, match="not a learned codec"):
        LatentDataset.from_arrays(digits, labels, "png", cache=tmp_path / "png")
    with pytest.raises(UnsupportedInputError):
        LatentDataset.from_arrays(digits.astype(np.float32), labels, "walloc", 20, cache=tmp_path)
    with pytest.raises(UnsupportedInputError):
        LatentDataset.from_arrays(digits, np.array([0, -1]), "walloc", 20, cache=tmp_path)
    with pytest.raises(UnsupportedInputError, match="shard"):
        LatentDataset.from_arrays(digits, labels, "walloc", 20, cache=tmp_path, shard=-2)


def test_dataset_over_an_image_folder(tmp_path):
    from PIL import Image as PILImage

    from omnicodec.datasets.latents import LatentDataset

    for name, seed in (("cats/a.png", 1), ("cats/b.png", 2), ("dogs/c.png", 3), ("dogs/.hidden.png", 4)):
        (tmp_path / "src" / name).parent.mkdir(parents=True, exist_ok=True)
        PILImage.fromarray(make_image(24, 40, seed=seed).pixels).save(tmp_path / "src" / name)
    with pytest.raises(UnsupportedInputError, match="codec and a cache"):
        LatentDataset(tmp_path / "src")
    ds = LatentDataset(tmp_path / "src", "hyperprior", 10, cache=tmp_path / "cache")
    assert len(ds) == 3 and ds.classes == ["cats", "dogs"] and list(ds.targets) == [0, 0, 1]
    latent, target = ds[2]
    assert latent.shape[1:] == (2, 3) and target.item() == 1
    assert (tmp_path / "cache" / "dogs" / "c.png.omc").is_file()
    flat = tmp_path / "cache" / "dogs"
    assert list(LatentDataset(flat).targets) == [-1]
    with pytest.raises(UnsupportedInputError):
        LatentDataset(tmp_path / "nowhere")


def test_mnist_loader(tmp_path):
    from omnicodec.datasets import mnist

    x = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    np.savez(tmp_path / "mnist.npz", x_train=x, y_train=np.array([3, 7], np.uint8), x_test=x[:1], y_test=[1])
    images, labels = mnist.load(tmp_path, "train")
    assert np.array_equal(images, x) and labels.dtype == np.int64 and list(labels) == [3, 7]
    assert list(mnist.load(tmp_path / "mnist.npz", "test")[1]) == [1]
    with pytest.raises(ValueError):
        mnist.load(tmp_path, "val")
    np.savez(tmp_path / "bad.npz", x_train=x)
    with pytest.raises(UnsupportedInputError):
        mnist.load(tmp_path / "bad.npz")


def test_readme_latent_example_runs(tmp_path, monkeypatch):
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = readme.split("### Compressed-domain learning", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)
    exec(compile(block, "README.md", "exec"), {})
