"""The learned-codec kit (learned_kit.py), run for every registered learned codec: a new one is
covered by registering it.  Codec-specific tests live in its own module."""

import pytest

import omnicodec
from omnicodec import container, registry
from omnicodec.metrics import item_psnr

from ..common import ITEMS, make_digits, make_image
from .checklist import check_fixture
from .learned_kit import (
    check_float32_synthesis,
    check_weights_errors,
    decode_hashes,
    fixture_versions,
    run_learned_checklist,
)

pytest.importorskip("torch")  # the neural extra; `make test` installs it


def _learned() -> list[str]:
    from omnicodec.codecs.learned import LearnedCodec

    return [c for c in registry.codec_ids() if issubclass(registry.get_codec_class(c), LearnedCodec)]


LEARNED = _learned()
# (codec, modality) for every modality of every learned codec
CASES = [(c, m) for c in LEARNED for m in registry.get_codec_class(c).modalities()]
# small items for the checklist, and one big enough for several synthesis tiles or chunks
SIZES = {"small": {"image": dict(h=40, w=56), "audio": dict(frames=8000), "video": dict(frames=3, h=48, w=64)},
         "large": {"image": dict(h=300, w=560, seed=4), "audio": dict(frames=150000, channels=2, seed=4),
                   "video": dict(frames=4, h=144, w=176, seed=4)}}
# codecs for one domain take its items instead: pc codes grids of 28x28 grey digits
DOMAIN = {"pc": {"small": dict(rows=2, cols=3), "large": dict(rows=12, cols=20, seed=4)}}
ANY_IMAGE = [c for c in LEARNED if c not in DOMAIN]  # the codecs for any size and mode
# the PSNR floor of the checklist (quality 90) and of the size sweep (quality 80): vq codes
# 0.01-0.05 bpp, where these smooth gradients come back at 22-28 dB
MIN_PSNR = {"vq": (20, 18)}


def _item(modality: str, size: str, codec_id: str = ""):
    if codec_id in DOMAIN:
        return make_digits(**DOMAIN[codec_id][size])
    return ITEMS[modality](**SIZES[size][modality])


def _fixture_modality(codec_id: str, version: str) -> str:
    from omnicodec import container

    from ..common import FIXTURES

    header = container.unpack((FIXTURES / codec_id / version / "sample.omc").read_bytes()).header
    return header.modality or registry.get_codec_class(codec_id).modality


def test_there_are_learned_codecs():
    assert "hyperprior" in LEARNED


@pytest.mark.parametrize("codec_id", [c for c, m in CASES if m == "image" and c in ANY_IMAGE])
@pytest.mark.parametrize("h,w,mode", [(37, 53, "RGB"), (1, 1, "RGB"), (64, 64, "L"), (30, 70, "RGBA"),
                                      (65, 17, "LA"), (9, 17, "LA")])
def test_image_sizes_and_modes(codec_id, h, w, mode):
    """Odd sizes down to one pixel, grey and alpha: the mode and size come back, alpha exactly."""
    item = make_image(h, w, mode)
    decoded = omnicodec.decode(omnicodec.encode(item, codec_id, 80))
    assert decoded.mode == mode and decoded.pixels.shape == item.pixels.shape
    if mode in ("RGBA", "LA"):  # alpha is lossless
        assert (decoded.pixels[:, :, -1] == item.pixels[:, :, -1]).all()
    if h * w > 1000:
        assert item_psnr(item, decoded) > MIN_PSNR.get(codec_id, (30, 20))[1]


@pytest.mark.parametrize("codec_id", [c for c, m in CASES if m == "image"])
def test_sixteen_bit_is_refused_with_advice(codec_id):
    from omnicodec.errors import UnsupportedInputError

    with pytest.raises(UnsupportedInputError, match="8-bit"):
        omnicodec.encode(make_image(mode="I;16"), codec_id, 50)


@pytest.mark.parametrize("codec_id, modality", CASES)
def test_checklist(codec_id, modality):
    run_learned_checklist(codec_id, _item(modality, "small", codec_id), min_psnr=MIN_PSNR.get(codec_id, (30, 20))[0])


@pytest.mark.parametrize("codec_id, version", [(c, v) for c in LEARNED for v in fixture_versions(c)])
def test_fixture(codec_id, version):
    """One frozen stream per shipped weights file decodes to its recorded digest."""
    check_fixture(codec_id, _item(_fixture_modality(codec_id, version), "small", codec_id), version)


@pytest.mark.parametrize("codec_id", [c for c in LEARNED if "synthesis" in registry.get_codec_class(c).__dataclass_fields__
                                      and registry.get_codec_class(c).modality == "image"])
def test_float32_synthesis_is_the_same_on_any_thread_count(codec_id):
    """A stream records the float32 synthesis (new streams' default, but vq's: its header
    bytes count at its rates), whose pixels are the same whatever torch's thread count; a
    config without the key (a stream written before it) decodes in float64, within 1 of them."""
    default = omnicodec.encode(_item("image", "small", codec_id), codec_id, 60)
    assert container.unpack(default).header.config.get("synthesis", "float64") == (
        "float64" if codec_id == "vq" else "float32")
    blob = omnicodec.encode(_item("image", "small", codec_id), omnicodec.get_codec(codec_id, 60, synthesis="float32"))
    check_float32_synthesis(blob, "pixels", 1)


@pytest.mark.parametrize("codec_id, modality", CASES)
def test_weights_errors(codec_id, modality, tmp_path, monkeypatch):
    check_weights_errors(codec_id, _item(modality, "small", codec_id), tmp_path, monkeypatch)


@pytest.fixture(scope="module")
def streams():
    """Every learned codec's stream of a large item, and its digests decoded in one child."""
    blobs = {f"{c} {m}": omnicodec.encode(_item(m, "large", c), c, 37.5) for c, m in CASES}
    return blobs, decode_hashes(blobs)


@pytest.mark.parametrize("codec_id, modality", CASES)
def test_decode_is_identical_across_processes_and_threads(codec_id, modality, streams):
    """Decoded here (the encoder's process, its caches warm) and in a fresh process with 1 and
    2 threads: the same item."""
    blobs, hashes = streams
    key = f"{codec_id} {modality}"
    assert hashes[key] == [omnicodec.decode(blobs[key]).digest()] * 2
