"""The shipped weights and the repository's size budget: every MANIFEST entry names a
registered learned codec and a packed file that restores to its digest, has a frozen fixture, and tracked files stay
under 40 MiB so that a GPU call (64 MiB) always has room for a data pack."""

import hashlib
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
        assert hashlib.sha256(packing.read(weights_dir() / name)).hexdigest() == entry["sha256"]
        assert any(f.name.endswith(name.removesuffix(".pt")) or (name == "hyperprior.pt" and f.name == "v1")
                   for f in (FIXTURES / codec.codec_id).iterdir()), f"no fixture for {name}"
    for codec_id in {e["codec"] for e in manifest.values()}:
        assert get_codec_class(codec_id).weights_file in manifest  # the default for new streams ships
