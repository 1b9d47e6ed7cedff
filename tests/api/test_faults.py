"""Fault injection: a killed encode leaves no worker and no output; a temporary file left by a
writer killed while renaming it into place is removed by the next write of that output; a full
disk or a read-only target loses nothing and names the output."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from omnicodec import api
from omnicodec.cli.main import main

from ..common import ROOT, make_bytes


def _log(path, mb: float) -> None:
    block = make_bytes(lines=20_000).data
    with path.open("wb") as f:
        for _ in range(int(mb * 2**20 / len(block)) + 1):
            f.write(block)


def _group(pgid: int) -> list[int]:
    """The processes of a process group (from /proc)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            out.append(int(stat.parent.name))
    return out


def test_kill_9_mid_encode_leaves_no_worker_and_no_output(tmp_path):
    src = tmp_path / "big.log"
    _log(src, 40)
    proc = subprocess.Popen([sys.executable, "-m", "omnicodec", "encode", str(src), "-c", "logzip",
                             "--workers", "2"], cwd=ROOT, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while len(_group(proc.pid)) < 3:  # the encoder and its two workers
        assert proc.poll() is None and time.time() < deadline, "no workers started"
        time.sleep(0.05)
    time.sleep(0.5)  # both workers are busy with a 4 MB block (about a second of work each)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    for _ in range(20):  # at once: the kernel kills the workers (PR_SET_PDEATHSIG); without
        if not _group(proc.pid):  # it, each went on to the end of its block
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"worker processes outlived the killed encode: {_group(proc.pid)}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.log"]  # the spool is unnamed


def test_a_live_writers_temporary_file_is_left_alone(tmp_path):
    dst = tmp_path / "a.omc"
    live = tmp_path / f".a.omc{api.TMP_MARK}{api._OWNER.rsplit('-', 1)[0]}-{os.getppid()}-x.omc"
    dead = tmp_path / f".a.omc{api.TMP_MARK}{api._OWNER.rsplit('-', 1)[0]}-999999999-x.omc"
    other = tmp_path / f".a.omc{api.TMP_MARK}otherhost-999999999-x.omc"
    for p in (live, dead, other):
        p.write_bytes(b"partial")
    api.atomic_write(dst, lambda tmp: tmp.write_bytes(b"done"))
    assert dst.read_bytes() == b"done"
    assert live.exists() and other.exists() and not dead.exists()


def test_a_killed_writer_not_yet_reaped_is_dead(tmp_path):
    """A writer killed mid-write stays a zombie until its parent waits for it (a dask worker
    killed under the test's own process): its temporary file is stale all the same."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        child.send_signal(signal.SIGKILL)
        for _ in range(100):  # until the kernel has made it a zombie
            with open(f"/proc/{child.pid}/stat", "rb") as f:
                if f.read().rsplit(b")", 1)[1].split()[0] == b"Z":
                    break
            time.sleep(0.02)
        stale = tmp_path / f".a.omc{api.TMP_MARK}{api._OWNER.rsplit('-', 1)[0]}-{child.pid}-x.omc"
        stale.write_bytes(b"partial")
        api.atomic_write(tmp_path / "a.omc", lambda tmp: tmp.write_bytes(b"done"))
        assert not stale.exists() and (tmp_path / "a.omc").read_bytes() == b"done"
    finally:
        child.wait()


class _FullDisk:
    """A file that takes ``room`` bytes, then fails as a full disk does."""

    def __init__(self, f, room: int):
        self.f, self.room = f, room

    def write(self, data) -> int:
        if len(data) > self.room:
            self.f.write(bytes(data[: self.room]))
            self.room = 0
            raise OSError(28, "No space left on device")
        self.room -= len(data)
        return self.f.write(data)

    def __getattr__(self, name):
        return getattr(self.f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()


@pytest.mark.parametrize("codec", ["xz", "png"])  # a streamed bytes encode, an in-memory one
def test_disk_full_loses_nothing(tmp_path, monkeypatch, capsys, codec):
    """ENOSPC in the middle of writing the output: an error line, the source intact, no output."""
    from omnicodec.datasets.files import write_item

    from ..common import make_image

    if codec == "png":
        src = tmp_path / "a.png"
        write_item(make_image(200, 300), src)
    else:
        src = tmp_path / "a.log"
        _log(src, 0.2)
    before = src.read_bytes()
    real_open = Path.open

    def open_on_a_full_disk(self, mode="r", *args, **kwargs):
        f = real_open(self, mode, *args, **kwargs)
        return _FullDisk(f, 1000) if api.TMP_MARK in self.name and "w" in mode else f

    monkeypatch.setattr(Path, "open", open_on_a_full_disk)
    assert main(["encode", str(src), "-c", codec]) == 1
    assert "No space left on device" in capsys.readouterr().err
    assert src.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [src.name]


def test_read_only_target_names_the_output(tmp_path, monkeypatch, capsys):
    """The error names the output the user asked for, not our temporary file."""
    import tempfile

    src = tmp_path / "a.log"
    _log(src, 0.1)

    def denied(prefix="", suffix="", dir=None):  # what mkstemp does in a read-only directory
        raise PermissionError(13, "Permission denied", os.path.join(dir, prefix + "abc" + suffix))

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    assert main(["encode", str(src), "-o", str(tmp_path / "out.omc")]) == 1
    err = capsys.readouterr().err
    assert "out.omc" in err and api.TMP_MARK not in err, err
