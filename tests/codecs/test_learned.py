"""The learned-codec kit (learned_kit.py), run for every registered learned codec: a new one is
covered by registering it.  Codec-specific tests live in its own module."""

import pytest

import omnicodec
from omnicodec import registry

from ..common import ITEMS
from .checklist import check_fixture
from .learned_kit import check_weights_errors, decode_hashes, fixture_versions, run_learned_checklist

pytest.importorskip("torch")  # the neural extra; `make test` installs it


def _learned() -> list[str]:
    from omnicodec.codecs.learned import LearnedCodec

    return [c for c in registry.codec_ids() if issubclass(registry.get_codec_class(c), LearnedCodec)]


LEARNED = _learned()
# small items for the checklist, and one big enough for several synthesis tiles
SMALL = {"image": dict(h=40, w=56), "audio": dict(frames=8000)}
LARGE = {"image": dict(h=300, w=560, seed=4), "audio": dict(frames=96000, seed=4)}


def _item(codec_id: str, sizes: dict):
    modality = registry.get_codec_class(codec_id).modality
    return ITEMS[modality](**sizes[modality])


def test_there_are_learned_codecs():
    assert "hyperprior" in LEARNED


@pytest.mark.parametrize("codec_id", LEARNED)
def test_checklist(codec_id):
    run_learned_checklist(codec_id, _item(codec_id, SMALL), min_psnr=30)


@pytest.mark.parametrize("codec_id, version", [(c, v) for c in LEARNED for v in fixture_versions(c)])
def test_fixture(codec_id, version):
    """One frozen stream per shipped weights file decodes to its recorded digest."""
    check_fixture(codec_id, _item(codec_id, SMALL), version)


@pytest.mark.parametrize("codec_id", LEARNED)
def test_weights_errors(codec_id, tmp_path, monkeypatch):
    check_weights_errors(codec_id, _item(codec_id, SMALL), tmp_path, monkeypatch)


@pytest.fixture(scope="module")
def streams():
    """Every learned codec's stream of a large item, and its digests decoded in one child."""
    blobs = {c: omnicodec.encode(_item(c, LARGE), c, 37.5) for c in LEARNED}
    return blobs, decode_hashes(blobs)


@pytest.mark.parametrize("codec_id", LEARNED)
def test_decode_is_identical_across_processes_and_threads(codec_id, streams):
    """Decoded here (the encoder's process, its caches warm) and in a fresh process with 1 and
    2 threads: the same item."""
    blobs, hashes = streams
    assert hashes[codec_id] == [omnicodec.decode(blobs[codec_id]).digest()] * 2
