"""The test kit every learned codec runs (on top of the shared checklist).

A learned codec's test module calls:

* :func:`run_learned_checklist` — the shared checklist (round trip, config through JSON and
  fixed before encode, corruption sweep) plus the learned specifics: the stream names the
  default weights' digest, a config without weights is refused;
* :func:`check_float32_synthesis` — a float32-synthesis stream, the same on any thread count
  and within a tolerance of its float64 decode;
* :func:`fixture_versions` — one frozen stream per shipped weights file (parametrize
  ``check_fixture`` over it; tests/test_weights.py fails when a weights file has none);
* :func:`check_weights_errors` — missing manifest, missing file, corrupt file, another codec's
  entry, a stream naming weights this installation lacks: each a one-line error;
* :func:`check_grid_as_alone` — a grid of tiles (``with_tiles``): each tile decodes, and has
  the latent, it has alone, and the grid costs fewer bytes than its tiles in files of their own;
* :func:`decode_hashes` — decodes in one child process, with 1 and with 2 torch threads, the
  streams the parent encoded: the decoder shares no cache with the encoder, and the two thread
  counts must give the same item.  One child serves every learned codec (torch starts once).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

import omnicodec
from omnicodec import container, registry
from omnicodec.errors import CorruptStreamError, MissingDependencyError
from omnicodec.models import packing

from ..common import FIXTURES, ROOT
from .checklist import run_checklist


def run_learned_checklist(codec_id: str, item, min_psnr: float) -> None:
    from omnicodec.codecs import learned

    run_checklist(codec_id, item, min_psnr)
    cls = registry.get_codec_class(codec_id)
    codec = cls.from_quality(50).for_item(item)
    assert codec.weights == learned.manifest()[codec.default_weights()]["sha256"]
    config = {k: v for k, v in codec.get_config().items() if k != "weights"}
    with pytest.raises(CorruptStreamError, match="weights"):
        cls.from_config(config)


def fixture_versions(codec_id: str) -> list[str]:
    """The codec's fixture folders (none yet for a new codec: tests/test_weights.py then fails
    on its weights file)."""
    folder = FIXTURES / codec_id
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def _use_weights(tmp_path, monkeypatch) -> None:
    """Point the codecs at a copy of the shipped weights folder in ``tmp_path``."""
    from omnicodec.codecs import learned

    for f in learned.weights_dir().iterdir():
        shutil.copy(f, tmp_path / f.name)
    monkeypatch.setenv("OMNICODEC_WEIGHTS", str(tmp_path))
    learned._inference.cache_clear()


def check_weights_errors(codec_id: str, item, tmp_path, monkeypatch) -> None:
    from omnicodec.codecs import learned

    blob = omnicodec.encode(item, codec_id, 50)
    default = omnicodec.get_codec(codec_id, 50).for_item(item).default_weights()
    _use_weights(tmp_path, monkeypatch)
    manifest = json.loads((tmp_path / "MANIFEST.json").read_text())
    box = container.unpack(blob)
    box.header.config["weights"] = "0" * 64
    with pytest.raises(MissingDependencyError, match="000000000000"):
        omnicodec.decode(container.pack(box.header, box.sections))

    raw = packing.read(tmp_path / default)
    (tmp_path / default).write_bytes(b"\0" + raw[1:])  # an unpacked file is read first
    learned._inference.cache_clear()
    with pytest.raises(CorruptStreamError, match="sha256"):
        omnicodec.decode(blob)
    (tmp_path / default).unlink()
    packing.packed_path(tmp_path / default).unlink()
    with pytest.raises(MissingDependencyError, match="not found"):
        omnicodec.encode(item, codec_id, 50)

    manifest[default]["codec"] = codec_id + "-other"
    (tmp_path / "MANIFEST.json").write_text(json.dumps(manifest))
    with pytest.raises(MissingDependencyError, match=f"no {codec_id} entry"):
        omnicodec.encode(item, codec_id, 50)
    with pytest.raises(MissingDependencyError, match="does not have"):
        omnicodec.decode(blob)

    (tmp_path / "MANIFEST.json").unlink()
    with pytest.raises(MissingDependencyError, match="manifest"):
        omnicodec.encode(item, codec_id, 50)


_CHILD = """
import json, sys, torch, omnicodec
out = {}
for name, hexblob in json.load(sys.stdin).items():
    for threads in (1, 2):
        torch.set_num_threads(threads)
        item = omnicodec.decode(bytes.fromhex(hexblob))
        out.setdefault(name, []).append(item.digest())
json.dump(out, sys.stdout)
"""


def decode_hashes(blobs: dict[str, bytes]) -> dict[str, list[str]]:
    """name -> [digest decoded with 1 thread, with 2 threads], in one fresh process."""
    run = subprocess.run([sys.executable, "-c", _CHILD], cwd=ROOT, capture_output=True, text=True,
                         input=json.dumps({k: v.hex() for k, v in blobs.items()}))
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(run.stdout)


def check_float32_synthesis(blob: bytes, field: str, tolerance: int):
    """A float32-synthesis stream decodes to the same ``field`` (pixels, frames) with torch on
    1 and 2 threads, and without its ``synthesis`` key (a stream written before it) in float64,
    within ``tolerance``.  Returns (float32 decode, float64 decode)."""
    import numpy as np
    import torch

    box = container.unpack(blob)
    assert box.header.config["synthesis"] == "float32"
    threads = torch.get_num_threads()
    try:
        decoded = []
        for n in (1, 2):
            torch.set_num_threads(n)
            decoded.append(getattr(omnicodec.decode(blob), field))
    finally:
        torch.set_num_threads(threads)
    assert np.array_equal(*decoded)
    del box.header.config["synthesis"]
    old = getattr(omnicodec.decode(container.pack(box.header, box.sections)), field)
    assert np.abs(old.astype(int) - decoded[0]).max() <= tolerance
    return decoded[0], old


def check_grid_as_alone(codec, grid, rows: int, cols: int):
    """Encode the image ``grid`` (rows × cols tiles) with ``codec`` (a ``with_tiles`` config) and
    check every tile against its own stream; returns (header, decoded item, tile latents)."""
    import dataclasses

    import numpy as np

    th, tw = codec.tile_height, codec.tile_width
    alone = dataclasses.replace(codec, tile_height=0, tile_width=0)
    blob = omnicodec.encode(grid, codec)
    header, latent = omnicodec.decode_latent(blob)
    decoded = omnicodec.decode(blob)
    tiles = codec.latent_tiles(latent, header.meta)
    assert codec.tiles(header.meta) == len(tiles) == rows * cols
    assert np.array_equal(omnicodec.decode_latent(blob, tiles=True)[1], tiles)
    singles = 0
    for k in range(rows * cols):
        rs, cs = slice(k // cols * th, (k // cols + 1) * th), slice(k % cols * tw, (k % cols + 1) * tw)
        tile = omnicodec.Image(np.ascontiguousarray(grid.pixels[rs, cs]))
        own = omnicodec.encode(tile, alone)
        singles += len(own)
        assert np.array_equal(omnicodec.decode(own).pixels, decoded.pixels[rs, cs])
        assert np.array_equal(tiles[k], alone.encode_latent(tile))
    assert len(blob) < singles
    return header, decoded, tiles
