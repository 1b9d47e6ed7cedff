"""Packed weights files: byte-exact restoration, real savings, refusal of damaged files."""

import hashlib
import io
import json
import lzma
import struct

import numpy as np
import pytest
import torch

from omnicodec.errors import CorruptStreamError
from omnicodec.models import packing


def _artefact() -> bytes:
    """A torch.save zip like an export: fp16 transforms, fp32 gains, int tables, a config."""
    g = torch.Generator().manual_seed(0)
    art = {"format": 1, "config": {"latent": 12, "lambdas": [0.1, 0.2]},
           "encoder": {"weight": (torch.randn(64, 192, generator=g) * 0.05).half(),
                       "bias": torch.randn(64, generator=g).half()},
           "gain": torch.rand(5, 12, generator=g) + 0.5,
           "tables": torch.randint(1, 3000, (5, 12, 255), generator=g, dtype=torch.int32)}
    buf = io.BytesIO()
    torch.save(art, buf)
    return buf.getvalue()


def test_pack_restores_every_byte_and_beats_xz():
    data = _artefact()
    blob = packing.pack(data)
    assert packing.unpack(blob) == data
    assert len(blob) < len(lzma.compress(data, preset=9 | lzma.PRESET_EXTREME))
    header, _ = packing._header(blob)
    assert 2 in header["strides"]  # the fp16 storage was split into byte planes


def test_non_zip_input_is_one_plain_stream():
    data = bytes(range(256)) * 40
    blob = packing.pack(data)
    assert packing._header(blob)[0]["regions"] == [] and packing.unpack(blob) == data


def test_read_prefers_the_unpacked_file_and_falls_back_to_the_packed_one(tmp_path):
    data = _artefact()
    path = tmp_path / "m.pt"
    assert not packing.exists(path)
    packing.packed_path(path).write_bytes(packing.pack(data))
    assert packing.exists(path) and packing.read(path) == data
    path.write_bytes(b"unpacked")
    assert packing.read(path) == b"unpacked"
    with pytest.raises(FileNotFoundError):
        packing.read(tmp_path / "other.pt")


def _with_header(blob: bytes, **change) -> bytes:
    header, pos = packing._header(blob)
    raw = json.loads(blob[8:pos])
    raw.update(change)
    text = json.dumps(raw).encode()
    return packing.MAGIC + struct.pack("<I", len(text)) + text + blob[pos:]


def test_damaged_files_are_refused():
    data = _artefact()
    blob = packing.pack(data)
    header, pos = packing._header(blob)
    damaged = {
        "magic": b"XXXX" + blob[4:],
        "truncated": blob[:-10],
        "header": blob[:8] + b"[" + blob[9:],
        "oversized": _with_header(blob, size=packing.MAX_SIZE + 1),
        "overlap": _with_header(blob, regions=[[0, 8, 2], [4, 8, 2]]),
        "stride": _with_header(blob, regions=[[r[0], r[1], 3] for r in header["regions"]]),
        "lengths": _with_header(blob, streams=header["streams"][:-1] + [header["streams"][-1] + 1]),
        "digest": _with_header(blob, sha256="0" * 64),
        "payload": blob[:pos + 40] + bytes([blob[pos + 40] ^ 0xFF]) + blob[pos + 41:],
        "size": _with_header(blob, size=header["size"] + 2),
    }
    for name, bad in damaged.items():
        with pytest.raises(CorruptStreamError):
            packing.unpack(bad)
            pytest.fail(f"{name}: accepted")


def _continued(data: bytes, seed: int = 1) -> bytes:
    """``data``'s artefact after a little more training: every weight moved by a small step."""
    art = torch.load(io.BytesIO(data), weights_only=True)
    g = torch.Generator().manual_seed(seed)
    w = art["encoder"]["weight"]
    art["encoder"]["weight"] = (w.float() + torch.randn(w.shape, generator=g) * 2e-4).half()
    art["gain"] = art["gain"] * 1.0001
    buf = io.BytesIO()
    torch.save(art, buf)
    return buf.getvalue()


def test_a_delta_against_its_successor_restores_every_byte_and_is_smaller(tmp_path):
    old = _artefact()
    new = _continued(old)
    blob = packing.pack(old, new, "new.pt")
    assert packing.base_of(blob) == ("new.pt", hashlib.sha256(new).hexdigest())
    assert packing.unpack(blob, new) == old
    assert len(blob) < 0.8 * len(packing.pack(old))
    # read() restores the base from the same folder first, through a chain
    newest = _continued(new, seed=2)
    packing.packed_path(tmp_path / "newest.pt").write_bytes(packing.pack(newest))
    packing.packed_path(tmp_path / "new.pt").write_bytes(packing.pack(new, newest, "newest.pt"))
    packing.packed_path(tmp_path / "old.pt").write_bytes(blob)
    assert packing.read(tmp_path / "old.pt") == old


def test_a_delta_refuses_a_missing_or_wrong_base(tmp_path):
    old = _artefact()
    new = _continued(old)
    blob = packing.pack(old, new, "new.pt")
    with pytest.raises(CorruptStreamError, match="needs its base"):
        packing.unpack(blob)
    with pytest.raises(CorruptStreamError, match="not the file"):
        packing.unpack(blob, _continued(old, seed=3))
    with pytest.raises(CorruptStreamError, match="packed alone"):
        packing.unpack(packing.pack(old), new)
    packing.packed_path(tmp_path / "old.pt").write_bytes(blob)
    with pytest.raises(CorruptStreamError, match="is missing"):
        packing.read(tmp_path / "old.pt")
    for bad in ({"base": ["../x.pt", "0" * 64]}, {"pairs": [0]}, {"base": 3}):
        with pytest.raises(CorruptStreamError):
            packing.unpack(_with_header(blob, **bad), new)
    # a file that names itself as its base is a cycle: refused after MAX_CHAIN bases
    packing.packed_path(tmp_path / "loop.pt").write_bytes(packing.pack(old, old, "loop.pt"))
    with pytest.raises(CorruptStreamError, match="chain"):
        packing.read(tmp_path / "loop.pt")


def test_a_decode_only_file_zeroes_the_dropped_tensors_and_keeps_every_other_byte(tmp_path):
    data = _artefact()
    blob = packing.pack(data, drop=("encoder",))
    assert len(blob) < 0.6 * len(packing.pack(data))  # the fp16 encoder was most of the packed file
    restored = packing.unpack(blob)
    art, full = (torch.load(io.BytesIO(b), weights_only=True) for b in (restored, data))
    assert all(not t.any() for t in art["encoder"].values())
    assert torch.equal(art["tables"], full["tables"]) and torch.equal(art["gain"], full["gain"])
    spans = packing._header(blob)[0]["dropped"]["spans"]
    assert len(spans) == 2  # the encoder's weight and bias
    keep = packing._outside(len(data), [], spans)
    assert restored != data and bytes(np.frombuffer(restored, np.uint8)[keep]) == bytes(np.frombuffer(data, np.uint8)[keep])
    # the file answers to the original's digest and says what it lacks; it cannot start a run
    packing.packed_path(tmp_path / "old.pt").write_bytes(blob)
    w = packing.open_weights(tmp_path / "old.pt")
    assert (w.data, w.sha256, w.dropped) == (restored, hashlib.sha256(data).hexdigest(), ("encoder",))
    with pytest.raises(CorruptStreamError, match="decoding old streams only"):
        packing.load(tmp_path / "old.pt")
    # as a delta against its successor, and as the base of an older decode-only file
    new = _continued(data)
    packing.packed_path(tmp_path / "new.pt").write_bytes(packing.pack(new))
    packing.packed_path(tmp_path / "old.pt").write_bytes(packing.pack(data, new, "new.pt", ("encoder",)))
    assert packing.read(tmp_path / "old.pt") == restored
    older = _continued(data, seed=5)
    packing.packed_path(tmp_path / "older.pt").write_bytes(packing.pack(older, restored, "old.pt", ("encoder",)))
    w = packing.open_weights(tmp_path / "older.pt")
    assert w.sha256 == hashlib.sha256(older).hexdigest()
    assert not torch.load(io.BytesIO(w.data), weights_only=True)["encoder"]["weight"].any()


def test_a_decode_only_file_with_a_damaged_header_is_refused():
    blob = packing.pack(_artefact(), drop=("encoder",))
    header, _ = packing._header(blob)
    spans, region = header["dropped"]["spans"], header["regions"][0]
    dropped = {"keys": ["encoder"], "spans": spans, "sha256": header["dropped"]["sha256"]}
    for bad in ({**dropped, "spans": [[region[0], 8]] + spans},  # overlaps a stored region
                {**dropped, "spans": spans + [[header["size"], 8]]},  # beyond the file
                {**dropped, "spans": []}, {**dropped, "keys": []},
                {k: v for k, v in dropped.items() if k != "sha256"}, {**dropped, "spans": [[0]]}, 7):
        with pytest.raises(CorruptStreamError):
            packing.unpack(_with_header(blob, dropped=bad))
            pytest.fail(f"accepted {bad}")
