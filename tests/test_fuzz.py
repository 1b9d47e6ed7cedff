"""Hostile input: mutated fixtures through every decoder raise only omnicodec's errors.

The property tests run in CI on every codec's fixture; the coverage-guided campaign is
fuzz/run.py (atheris), of which CI runs a short smoke over all decoders at once."""

import os
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .common import ROOT

sys.path.insert(0, str(ROOT / "fuzz"))
import targets  # noqa: E402


@st.composite
def mutated(draw, codec_id):
    seeds = targets.seeds(f"codec:{codec_id}")
    data = bytearray(draw(st.sampled_from(seeds)))
    if draw(st.booleans()):  # overwrite one meta field
        data[1] = 0x80 | draw(st.integers(0, 127))
        value = draw(st.sampled_from([0, -1, 1, 2**31, 2**40, -(2**63)]) | st.integers(-(2**63), 2**63 - 1))
        data[2:10] = value.to_bytes(8, "little", signed=True)
    for _ in range(draw(st.integers(0, 4))):  # flip bytes of the payload
        pos = draw(st.integers(10, max(10, len(data) - 1)))
        if pos < len(data):
            data[pos] ^= draw(st.integers(1, 255))
    cut = draw(st.integers(10, len(data)))
    return bytes(data[:cut] if draw(st.booleans()) else data)


@pytest.mark.parametrize("codec_id", targets.codec_ids())
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_streams_raise_only_our_errors(codec_id, data):
    targets.target(f"codec:{codec_id}")(data.draw(mutated(codec_id)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_recipes_raise_only_our_errors(data):
    """Side data that remakes a file (pngz, tifz, gzpz), mutated, then rendered as the file."""
    seed = bytearray(data.draw(st.sampled_from(targets.seeds("recipes"))))
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(1, len(seed) - 1))
        seed[pos] ^= data.draw(st.integers(1, 255))
    cut = data.draw(st.integers(1, len(seed)))
    targets.target("recipes")(bytes(seed[:cut] if data.draw(st.booleans()) else seed))


def test_container_target_accepts_its_seeds():
    for seed in targets.seeds("container"):
        targets.target("container")(seed)


def test_atheris_smoke_over_every_decoder(tmp_path):
    """40 s of coverage-guided fuzzing of all decoders in one process: no crash, no hang over
    60 s (a learned codec given a header of a few MP takes seconds, instrumented), no input
    that grows the process past 3 GB."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, str(ROOT / "fuzz" / "run.py"), "all", str(tmp_path / "corpus"),
         "-max_total_time=40", "-timeout=60", "-rss_limit_mb=3072", "-max_len=200000",
         f"-artifact_prefix={tmp_path}/", "-seed=1"],
        capture_output=True, text=True, env=env, timeout=240)
    tail = "\n".join(line for line in proc.stderr.splitlines()[-25:] if not line.startswith("Note:"))
    assert proc.returncode == 0, tail
    assert "Done" in proc.stderr


@pytest.mark.parametrize("path", sorted((ROOT / "fuzz" / "findings").glob("*.bin")), ids=lambda p: p.stem)
def test_past_findings_stay_fixed(path):
    """Every input a campaign found is kept, named TARGET__what.bin, and replayed here."""
    name = path.stem.split("__")[0]
    targets.target(name if name in ("all", "container") else f"codec:{name}")(path.read_bytes())
