"""The shipped weights and the repository's size budget: every MANIFEST entry names a
registered learned codec and a packed file that restores to its digest, has a frozen fixture, and tracked files stay
under 40 MiB so that a GPU call (64 MiB) always has room for a data pack."""

import hashlib
import io
import json
import subprocess
from pathlib import Path

from omnicodec.codecs.learned import weights_dir
from omnicodec.models import packing
from omnicodec.registry import get_codec_class

from .common import FIXTURES

ROOT = Path(__file__).resolve().parents[1]
BUDGET = 40 * 2**20


def test_tracked_files_fit_the_budget():
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    sizes = {name: (ROOT / name).stat().st_size for name in listed.decode().split("\0")
             if name and (ROOT / name).is_file()}
    total = sum(sizes.values())
    largest = sorted(sizes, key=sizes.get)[-3:]
    assert total <= BUDGET, f"tracked files are {total / 2**20:.1f} MiB (> 40 MiB); largest: {largest}"


def test_every_shipped_weights_file_is_in_the_manifest_with_its_digest_and_a_fixture():
    manifest = json.loads((weights_dir() / "MANIFEST.json").read_text())
    files = {p.name.removesuffix(packing.SUFFIX) for p in weights_dir().glob("*.pt*")}
    assert files == set(manifest)
    for name, entry in manifest.items():
        codec = get_codec_class(entry["codec"])
        assert not (weights_dir() / name).exists(), f"{name} ships unpacked"
        w = packing.open_weights(weights_dir() / name)
        assert w.sha256 == entry["sha256"] and list(w.dropped) == entry.get("dropped", [])
        if not w.dropped:
            assert hashlib.sha256(w.data).hexdigest() == entry["sha256"]
        assert any(f.name.endswith(name.removesuffix(".pt")) or (name == "hyperprior.pt" and f.name == "v1")
                   for f in (FIXTURES / codec.codec_id).iterdir()), f"no fixture for {name}"
    for codec_id in {e["codec"] for e in manifest.values()}:
        assert get_codec_class(codec_id).weights_file in manifest  # the default for new streams ships


def test_decode_only_files_are_no_default_and_no_base():
    """A decode-only file (``models.packing``) serves old streams only: no codec encodes with it by
    default, and no shipped model builds on it (stem's base image model must encode)."""
    import torch

    manifest = json.loads((weights_dir() / "MANIFEST.json").read_text())
    decode_only = {name for name, e in manifest.items() if e.get("dropped")}
    assert decode_only, "the hyperprior's old defaults ship decode-only"
    for name, entry in manifest.items():
        codec = get_codec_class(entry["codec"])
        assert codec.weights_file not in decode_only
        if name not in decode_only and entry["codec"] == "stem":
            art = torch.load(io.BytesIO(packing.read(weights_dir() / name)), weights_only=True)
            assert art["base_sha256"] not in {manifest[d]["sha256"] for d in decode_only}
