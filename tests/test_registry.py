import importlib
import pkgutil

import omnicodec.codecs
from omnicodec import registry
from omnicodec.codecs.base import Codec
from omnicodec.items import MODALITIES


def _all_subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _all_subclasses(sub)


def test_every_entry_resolves_with_its_own_id():
    for cid in registry.codec_ids():
        cls = registry.get_codec_class(cid)
        assert cls.codec_id == cid and cls.modality in MODALITIES


def test_every_concrete_codec_is_registered():
    for mod in pkgutil.iter_modules(omnicodec.codecs.__path__):
        importlib.import_module(f"omnicodec.codecs.{mod.name}")
    concrete = {c for c in _all_subclasses(Codec)  # the package's (tests define toy codecs)
                if c.__dict__.get("codec_id") and c.__module__.startswith("omnicodec.")}
    registered = {registry.get_codec_class(cid) for cid in registry.codec_ids()}
    assert concrete == registered


def test_preferences_name_registered_codecs_of_the_right_modality():
    for table, lossless in ((registry.LOSSLESS_PREFERENCE, True), (registry.LOSSY_PREFERENCE, False)):
        for modality, ids in table.items():
            for cid in ids:
                cls = registry.get_codec_class(cid)
                assert cls.modality == modality and cls.lossless == lossless


def test_unknown_codec_names_the_known_ones():
    import pytest

    from omnicodec.errors import UnknownCodecError

    with pytest.raises(UnknownCodecError, match="known codecs: png"):
        registry.get_codec_class("nope")


def test_every_codec_runs_the_shared_checklist():
    """Each codec id is named in a codec test module that runs the checklist; learned codecs
    run it through tests/codecs/test_learned.py, which takes every registered one."""
    from pathlib import Path

    from omnicodec.codecs.learned import LearnedCodec

    modules = [p.read_text() for p in (Path(__file__).parent / "codecs").glob("test_*.py")]
    checked = [m for m in modules if "run_checklist(" in m]
    missing = [cid for cid in registry.codec_ids()
               if not issubclass(registry.get_codec_class(cid), LearnedCodec)
               and not any(f'"{cid}"' in m for m in checked)]
    assert not missing, f"codecs that never run the shared checklist: {missing}"
