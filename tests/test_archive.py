"""codec archive / verify / restore on real dask.distributed clusters: a scheduler and two
workers as separate processes (one killed mid-run), a client killed and the run resumed,
lossy codecs, corruption and per-file failures."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import omnicodec
from omnicodec import api, archive
from omnicodec.cli.main import main
from omnicodec.datasets.files import read_item
from omnicodec.errors import UnsupportedInputError

from .common import make_audio, make_bytes, make_image


def make_tree(root: Path, n: int) -> Path:
    """``n`` small files of mixed kinds (PNG, WAV, logs, random bytes, BMP) in nested folders,
    plus an empty folder."""
    import soundfile as sf
    from PIL import Image as PILImage

    rng = np.random.default_rng(0)
    for i in range(n):
        folder = root / f"d{i % 3}" / f"e{i % 7}"
        folder.mkdir(parents=True, exist_ok=True)
        kind = i % 5
        if kind == 0:
            PILImage.fromarray(make_image(20 + i % 9, 28, seed=i).pixels).save(folder / f"{i}.png")
        elif kind == 1:
            audio = make_audio(frames=800 + 16 * i, seed=i)
            sf.write(folder / f"{i}.wav", audio.samples, audio.sample_rate, subtype="PCM_16")
        elif kind == 2:
            (folder / f"{i}.log").write_bytes(make_bytes(lines=30 + i % 20, seed=i).data)
        elif kind == 3:
            (folder / f"{i}.bin").write_bytes(rng.integers(0, 256, 500 + i, dtype=np.uint8).tobytes())
        else:
            PILImage.fromarray(make_image(12, 17, seed=i).pixels).save(folder / f"{i}.bmp")
    (root / "empty" / "inner").mkdir(parents=True)
    return root


def source_files(root: Path) -> list[Path]:
    return sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())


def assert_restored(src: Path, out: Path) -> None:
    """Every file back: byte for byte, PNGs with the same pixels; the empty folders too."""
    assert source_files(out) == source_files(src)
    for rel in source_files(src):
        a, b = src / rel, out / rel
        if rel.suffix == ".png":
            assert read_item(a).digest() == read_item(b).digest(), rel
        else:
            assert a.read_bytes() == b.read_bytes(), rel
        assert a.stat().st_mtime_ns == b.stat().st_mtime_ns, rel
    assert (out / "empty" / "inner").is_dir()


def leftovers(dest: Path) -> list[Path]:
    return [p for p in dest.rglob("*") if api.TMP_MARK in p.name]


# ------------------------------------------------------------------ a real cluster, killed worker
@pytest.fixture
def dask_cluster(tmp_path):
    """A scheduler and two single-thread workers, each its own process on the loopback."""
    file = tmp_path / "scheduler.json"
    logs = (tmp_path / "dask.log").open("wb")
    procs = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                               "--port", "0", "--no-dashboard", "--scheduler-file", str(file)],
                              stdout=logs, stderr=logs)]
    deadline = time.monotonic() + 60
    while not file.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    workers = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file", str(file),
                                 "--nthreads", "1", "--no-nanny", "--no-dashboard", "--host", "127.0.0.1",
                                 "--name", f"w{i}"], stdout=logs, stderr=logs) for i in range(2)]
    procs += workers
    try:
        address = json.loads(file.read_text())["address"]
        from distributed import Client

        with Client(address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=60)
        yield address, workers
    finally:
        for p in procs:
            p.kill()
            p.wait()
        logs.close()


def test_worker_killed_mid_run_loses_nothing(tmp_path, dask_cluster):
    from distributed import Client

    address, workers = dask_cluster
    src = make_tree(tmp_path / "src", 300)
    dest, out = tmp_path / "archive", tmp_path / "restored"
    killed = []

    with Client(address) as observer:
        w0 = next(a for a, w in observer.scheduler_info()["workers"].items() if w["name"] == "w0")

        def kill_one(status: archive.Status) -> None:
            if not killed:  # at the first finished batch, w0 is coding files
                busy = len(observer.processing(workers=[w0])[w0])
                workers[0].send_signal(signal.SIGKILL)
                killed.append((status.files_done, busy))

        report = archive.archive(src, dest, scheduler=address, progress=kill_one)
    assert workers[0].wait(timeout=10) == -signal.SIGKILL
    files_done, busy = killed[0]
    assert files_done < 300 and busy > 0  # killed with batches in hand and most of the tree to do
    assert (report.files, report.done, report.failed, report.problems) == (300, 300, 0, [])
    rows = archive.Manifest(dest).rows()
    assert not leftovers(dest)

    checked = archive.verify(dest, scheduler=address)
    assert (checked.done, checked.problems) == (300, [])
    restored = archive.restore(dest, out, scheduler=address)
    assert (restored.done, restored.problems) == (300, [])
    assert_restored(src, out)
    # byte for byte (PNG may be recompressed: the same pixels), as the manifest's digests say
    exact = {r.path for r in rows.values() if r.sha256 == r.restored_sha256}
    assert exact >= {r.path for r in rows.values() if not r.path.endswith(".png")}


# --------------------------------------------------------------------- a client killed, resumed
def test_client_killed_then_rerun_finishes_and_skips_done_files(tmp_path):
    src = make_tree(tmp_path / "src", 160)
    dest = tmp_path / "archive"
    proc = subprocess.Popen([sys.executable, "-m", "omnicodec", "archive", str(src), str(dest), "--workers", "1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    done_before, deadline = 0, time.monotonic() + 120
    while done_before == 0 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
        done_before = _done_rows(dest)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 0 < done_before < 160, "the client should have been killed mid-run"

    report = archive.archive(src, dest, workers=1)
    assert report.skipped >= done_before and report.skipped + report.done == 160 and not report.problems
    assert not leftovers(dest)
    assert not archive.verify(dest, workers=1).problems

    # a changed source is archived again, the rest skipped
    changed = next(p for p in sorted(src.rglob("*.log")))
    changed.write_bytes(changed.read_bytes() + b"one more line\n")
    again = archive.archive(src, dest, workers=1)
    assert (again.done, again.skipped) == (1, 159)
    archive.restore(dest, tmp_path / "out", workers=1)
    assert_restored(src, tmp_path / "out")


def _done_rows(dest: Path) -> int:
    try:
        db = sqlite3.connect(f"file:{dest / archive.MANIFEST}?mode=ro", uri=True, timeout=1)
        try:
            return db.execute("SELECT COUNT(*) FROM files WHERE status = 'done'").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error:
        return 0  # not created yet, or busy


# ----------------------------------------------------------------------------- one local cluster
@pytest.fixture(scope="module")
def small_tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("tree")
    return make_tree(root / "src", 12)


def test_lossy_codec_takes_its_modality_and_restores_what_was_checked(tmp_path, small_tree):
    dest, out = tmp_path / "archive", tmp_path / "out"
    report = archive.archive(small_tree, dest, codec="webp", quality=40, workers=1)
    assert (report.done, report.problems) == (12, [])
    rows = archive.Manifest(dest).rows()
    images = [r for r in rows.values() if r.path.endswith((".png", ".bmp"))]
    assert images and {r.codec for r in images} == {"webp"}
    assert all(r.codec != "webp" for r in rows.values() if r not in images)  # the rest: lossless default
    assert not archive.restore(dest, out, workers=1).problems
    for r in images:  # exactly what encode + decode give for the same image
        expected = omnicodec.decode(omnicodec.encode(read_item(small_tree / r.path), "webp", 40))
        assert read_item(out / r.restored_path).digest() == expected.digest()
    for r in rows.values():
        if r not in images:
            assert (out / r.path).read_bytes() == (small_tree / r.path).read_bytes()


def test_verify_reports_every_damaged_file(tmp_path, small_tree):
    dest = tmp_path / "archive"
    assert not archive.archive(small_tree, dest, workers=1).problems
    omcs = sorted(dest.rglob("*.omc"))
    flipped, truncated, missing = omcs[0], omcs[1], omcs[2]
    data = bytearray(flipped.read_bytes())
    data[len(data) // 2] ^= 0x10
    flipped.write_bytes(bytes(data))
    truncated.write_bytes(truncated.read_bytes()[:-7])
    missing.unlink()
    (dest / "stray.omc").write_bytes(omnicodec.encode(b"stray", "zstd"))
    report = archive.verify(dest, workers=1)
    named = {path for path, _ in report.problems}
    rel = [p.relative_to(dest).as_posix()[:-4] for p in (flipped, truncated, missing)]
    assert named == set(rel) | {"stray.omc"}
    assert report.done == 9
    assert main(["verify", str(dest), "--workers", "1"]) == 1


def test_restore_never_overwrites_without_force(tmp_path, small_tree):
    dest, out = tmp_path / "archive", tmp_path / "out"
    archive.archive(small_tree, dest, workers=1)
    victim = out / source_files(small_tree)[0]
    victim.parent.mkdir(parents=True)
    victim.write_bytes(b"mine")
    report = archive.restore(dest, out, workers=1)
    assert [p for p, _ in report.problems] == [source_files(small_tree)[0].as_posix()]
    assert victim.read_bytes() == b"mine"
    assert not archive.restore(dest, out, force=True, workers=1).problems
    assert_restored(small_tree, out)


def test_a_failing_file_is_recorded_and_the_run_goes_on(tmp_path, capsys):
    src = tmp_path / "src"
    src.mkdir()
    (src / "fine.log").write_bytes(make_bytes(lines=20).data)
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)  # a PNG that does not read
    os.mkfifo(src / "pipe")
    dest = tmp_path / "archive"
    assert main(["archive", str(src), str(dest), "-c", "webp", "-q", "50", "--workers", "1"]) == 1
    err = capsys.readouterr().err
    assert "broken.png" in err and "pipe: not a regular file" in err and "Traceback" not in err
    rows = archive.Manifest(dest).rows()
    assert rows["fine.log"].status == "done" and rows["broken.png"].status == "failed" and rows["broken.png"].error
    assert {p for p, _ in archive.verify(dest, workers=1).problems} == {"broken.png", "pipe"}
    (src / "broken.png").unlink()  # gone from the source: its failed row goes too, done rows stay
    (src / "fine.log").unlink()
    again = archive.archive(src, dest, workers=1)
    assert (again.files, again.failed) == (1, 1)
    assert set(archive.Manifest(dest).rows()) == {"fine.log", "pipe"}


def test_links_are_archived_and_restored_as_links(tmp_path, capsys):
    """A link to a file, to a folder, out of the tree and a dangling one come back as the same
    links; nothing is followed, so the linked folder's files are not archived twice."""
    src = tmp_path / "src"
    (src / "data").mkdir(parents=True)
    (src / "data" / "a.log").write_bytes(make_bytes(lines=20).data)
    outside = tmp_path / "outside.log"
    outside.write_bytes(b"not in the tree\n")
    links = {"to-file.log": "data/a.log", "to-dir": "data", "data/up": "..", "out.log": str(outside),
             "dangling": "no/such/file"}
    for path, target in links.items():
        (src / path).symlink_to(target)
    dest, out = tmp_path / "archive", tmp_path / "out"
    assert main(["archive", str(src), str(dest), "--workers", "1"]) == 0
    assert "1 archived" in capsys.readouterr().err
    owner = (os.getuid(), os.getgid())
    assert {p: v[:4] for p, v in archive.Manifest(dest).links().items()} == {p: (t, False, *owner)
                                                                           for p, t in links.items()}
    assert set(archive.Manifest(dest).rows()) == {"data/a.log"}
    assert not (dest / "to-file.log.omc").exists() and not (dest / "to-dir").exists()
    assert archive.verify(dest, workers=1).links == 5
    report = archive.restore(dest, out, workers=1)
    assert (report.done, report.links, report.problems) == (1, 5, [])
    for path, target in links.items():
        assert (out / path).is_symlink() and os.readlink(out / path) == target, path
        assert (out / path).lstat().st_mtime_ns == (src / path).lstat().st_mtime_ns, path  # the link's own
    assert (out / "to-file.log").read_bytes() == (src / "data" / "a.log").read_bytes()
    # again: the same links there already are no problem; a file in a link's place is, without --force
    (out / "dangling").unlink()
    (out / "dangling").write_bytes(b"mine")
    again = archive.restore(dest, out, workers=1)
    assert {p for p, _ in again.problems} == {"data/a.log", "dangling"} and (out / "dangling").read_bytes() == b"mine"
    assert not archive.restore(dest, out, force=True, workers=1).problems
    assert os.readlink(out / "dangling") == "no/such/file"
    # a link that became a file is a file in the manifest, and a file that became a link a link
    (src / "to-file.log").unlink()
    (src / "to-file.log").write_bytes(b"a file now\n")
    (src / "data" / "a.log").unlink()
    (src / "data" / "a.log").symlink_to("../out.log")
    archive.archive(src, dest, workers=1)
    manifest = archive.Manifest(dest)
    assert set(manifest.rows()) == {"to-file.log"} and manifest.links()["data/a.log"][:4] == ("../out.log", False, *owner)
    assert not (dest / "data" / "a.log.omc").exists() and not archive.verify(dest, workers=1).problems


@pytest.mark.parametrize("argv, message", [
    (["archive", "{tmp}/nope", "{tmp}/a"], "not a directory"),
    (["archive", "{tmp}", "{tmp}/inside"], "must not contain each other"),
    (["archive", "{tmp}/src", "{tmp}/a", "-c", "nosuchcodec"], "nosuchcodec"),
    (["verify", "{tmp}/src"], "not an archive"),
    (["restore", "{tmp}/src", "{tmp}/src/back"], "outside the archive"),
])
def test_cli_errors_are_one_line(tmp_path, capsys, argv, message):
    (tmp_path / "src").mkdir()
    assert main([a.format(tmp=tmp_path) for a in argv]) == 1
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "a").exists()


def test_configured_codec_is_recorded_and_other_settings_recode(tmp_path, small_tree):
    dest = tmp_path / "archive"
    fast = omnicodec.get_codec("zstd", level=1, long=False)
    assert not archive.archive(small_tree, dest, codec=fast, workers=1).problems
    rows = archive.Manifest(dest).rows()
    logs = [r for r in rows.values() if r.path.endswith((".log", ".bin"))]
    assert logs and {r.codec for r in logs} == {"zstd"}
    assert {json.dumps(api.open(dest / (r.path + ".omc")).config) for r in logs} == {'{"level": 1, "long": false}'}
    same = archive.archive(small_tree, dest, codec=omnicodec.get_codec("zstd", level=1, long=False), workers=1)
    assert (same.skipped, same.done) == (12, 0)
    other = archive.archive(small_tree, dest, codec="zstd", workers=1)  # level 19: every file again
    assert (other.skipped, other.done) == (0, 12)
    assert {json.dumps(api.open(dest / (r.path + ".omc")).config) for r in logs} == {'{"level": 19, "long": true}'}


def test_learned_codec_loads_its_model_once_per_worker(tmp_path):
    from distributed import Client, LocalCluster
    from PIL import Image as PILImage

    src, dest, out = tmp_path / "src", tmp_path / "archive", tmp_path / "out"
    src.mkdir()
    for i in range(5):
        PILImage.fromarray(make_image(40, 56, seed=i).pixels).save(src / f"{i}.png")
    with LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=None) as local, Client(local) as client:
        report = archive.archive(src, dest, codec="walloc", quality=30, scheduler=local.scheduler_address)
        assert (report.done, report.problems) == (5, [])

        def loaded() -> int:
            from omnicodec.codecs import learned

            return learned._inference.cache_info().misses

        assert list(client.run(loaded).values()) == [1]  # 5 encodes and 5 decodes, one model load
        assert not archive.restore(dest, out, scheduler=local.scheduler_address).problems
    for i in range(5):
        expected = omnicodec.decode(omnicodec.encode(read_item(src / f"{i}.png"), "walloc", 30))
        assert read_item(out / f"{i}.png").digest() == expected.digest()


def test_workers_of_another_version_are_refused(tmp_path, small_tree, monkeypatch):
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, processes=False, dashboard_address=None) as local:
        monkeypatch.setattr(archive, "__version__", "0.0.0")  # this client, as if older than its workers
        with pytest.raises(UnsupportedInputError, match=f"runs omnicodec {re.escape(omnicodec.__version__)}, this "
                           "client 0.0.0"):
            archive.archive(small_tree, tmp_path / "a", scheduler=local.scheduler_address)


def test_hard_links_are_archived_once_and_restored_as_hard_links(tmp_path):
    """One file under three names (backup snapshots, package stores): its content is archived
    once, and the restore gives one file with three names again, as tar and rsync -aH do."""
    src = tmp_path / "src"
    (src / "b").mkdir(parents=True)
    (src / "a.log").write_bytes(make_bytes(lines=40).data)
    os.link(src / "a.log", src / "b" / "again.log")
    os.link(src / "a.log", src / "c.log")
    (src / "other.log").write_bytes(b"alone\n")
    dest, out = tmp_path / "archive", tmp_path / "out"
    report = archive.archive(src, dest, workers=1)
    assert (report.done, report.links) == (2, 2)
    manifest = archive.Manifest(dest)
    assert set(manifest.rows()) == {"a.log", "other.log"}
    assert manifest.links() == {"b/again.log": ("a.log", True, None, None, None),
                                "c.log": ("a.log", True, None, None, None)}
    assert not (dest / "c.log.omc").exists() and not archive.verify(dest, workers=1).problems
    restored = archive.restore(dest, out, workers=1)
    assert (restored.done, restored.links, restored.problems) == (2, 2, [])
    first = (out / "a.log").stat()
    assert first.st_nlink == 3 and (out / "a.log").read_bytes() == (src / "a.log").read_bytes()
    assert (out / "b" / "again.log").stat().st_ino == (out / "c.log").stat().st_ino == first.st_ino
    assert not archive.restore(dest, out, force=True, workers=1).problems  # again: the same names
    assert (out / "c.log").stat().st_ino == (out / "a.log").stat().st_ino


def test_folders_keep_their_permissions_and_times(tmp_path):
    """A private folder stays private in the archive and after a restore, and every folder
    (empty ones, a read-only one, the root of a new restore) gets its permission bits and mtime
    back, as tar and rsync -a give them; an archive made before folders had them still restores."""
    src = tmp_path / "src"
    (src / "private" / "deeper").mkdir(parents=True)
    (src / "private" / "key.log").write_bytes(b"secret line\n")
    (src / "shared" / "empty").mkdir(parents=True)
    (src / "ro").mkdir()
    (src / "ro" / "f.log").write_bytes(b"read only\n")
    modes = {".": 0o750, "private": 0o700, "private/deeper": 0o711, "shared": 0o775, "shared/empty": 0o755, "ro": 0o555}
    for i, (rel, mode) in enumerate(sorted(modes.items(), key=lambda kv: -kv[0].count("/"))):
        os.chmod(src / rel, mode)
        os.utime(src / rel, ns=(10**18 + i * 10**9 + 123, 10**18 + i * 10**9 + 123))
    before = {rel: (src / rel).stat().st_mtime_ns for rel in modes}
    dest, out = tmp_path / "archive", tmp_path / "out"
    assert not archive.archive(src, dest, workers=1).problems
    assert stat.S_IMODE((dest / "private").stat().st_mode) == 0o700  # the owner's rwx, no one else's
    assert stat.S_IMODE((dest / "ro").stat().st_mode) == 0o755 and stat.S_IMODE(dest.stat().st_mode) == 0o750

    def same(root: Path) -> None:
        for rel, mode in modes.items():
            st = (root / rel).stat()
            assert (stat.S_IMODE(st.st_mode), st.st_mtime_ns) == (mode, before[rel]), rel

    assert not archive.restore(dest, out, workers=1).problems
    same(out)
    assert (out / "ro" / "f.log").read_bytes() == b"read only\n"
    assert not archive.restore(dest, out, force=True, workers=1).problems  # into its read-only folder again
    same(out)
    # an archive of an earlier version: no permission bits or times; folders as before, the files restored
    with sqlite3.connect(dest / archive.MANIFEST) as db:
        db.execute("UPDATE dirs SET mode = NULL, mtime_ns = NULL")
    old = tmp_path / "old"
    assert archive.restore(dest, old, workers=1).done == 2 and (old / "shared" / "empty").is_dir()
    assert (old / "ro" / "f.log").read_bytes() == b"read only\n"
    assert stat.S_IMODE((old / "private").stat().st_mode) == 0o777 & ~umask()


def umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_names_that_are_not_utf8_are_archived_and_restored(tmp_path):
    """Linux names are bytes: a Latin-1 file name, a folder and a link target of odd bytes made
    the whole run fail (the manifest could not store them); they are archived, skipped when
    unchanged, verified and restored under the same bytes."""
    src = os.fsencode(tmp_path / "src")
    os.makedirs(os.path.join(src, b"d\xff"))
    names = {b"caf\xe9.log": make_bytes(lines=30).data, b"d\xff/x.txt": b"in an odd folder\n", b"ok.log": b"fine\n"}
    for name, data in names.items():
        with open(os.path.join(src, name), "wb") as f:
            f.write(data)
    os.symlink(b"caf\xe9.log", os.path.join(src, b"link\xfe"))
    dest, out = tmp_path / "archive", tmp_path / "out"
    report = archive.archive(os.fsdecode(src), dest, workers=1)
    assert (report.done, report.links, report.problems) == (3, 1, [])
    assert archive.archive(os.fsdecode(src), dest, workers=1).skipped == 3
    assert not archive.verify(dest, workers=1).problems
    assert not archive.restore(dest, out, workers=1).problems
    back = os.fsencode(out)
    for name, data in names.items():
        with open(os.path.join(back, name), "rb") as f:
            assert f.read() == data, name
    assert os.readlink(os.path.join(back, b"link\xfe")) == b"caf\xe9.log"


def test_owners_are_recorded_and_restored_by_root(tmp_path):
    """A backup run as root restored every file, folder and link as root's: the owners are now
    recorded (uid, gid) and given back where the restore runs as root, as tar and rsync -a do,
    set-user-ID bits kept; anyone else gets the files as their own, as before."""
    src = tmp_path / "src"
    (src / "home").mkdir(parents=True)
    (src / "home" / "notes.log").write_bytes(b"mine\n")
    (src / "tool").write_bytes(b"#!/bin/sh\n")
    (src / "home" / "link").symlink_to("notes.log")
    me = (os.getuid(), os.getgid())
    owners = {"home": (4242, 4343), "home/notes.log": (4242, 4343), "tool": (0, 4343), "home/link": (4545, 4646)}
    root = os.geteuid() == 0
    if root:
        for rel, (uid, gid) in owners.items():
            os.chown(src / rel, uid, gid, follow_symlinks=False)
        os.chmod(src / "tool", 0o4755)
    else:
        owners = dict.fromkeys(owners, me)
    dest, out = tmp_path / "archive", tmp_path / "out"
    assert not archive.archive(src, dest, workers=1).problems
    manifest = archive.Manifest(dest)
    rows, links, dirs = manifest.rows(), manifest.links(), manifest.dirs()
    assert (rows["home/notes.log"].uid, rows["home/notes.log"].gid) == owners["home/notes.log"]
    assert links["home/link"][2:4] == owners["home/link"] and dirs["home"][2:] == owners["home"]
    assert not archive.restore(dest, out, workers=1).problems
    for rel, owner in owners.items():
        st = (out / rel).lstat()
        assert (st.st_uid, st.st_gid) == owner, rel
    assert stat.S_IMODE((out / "tool").stat().st_mode) == (0o4755 if root else stat.S_IMODE((src / "tool").stat().st_mode))
    # a chmod or chown alone changes neither content nor mtime: the re-run skips the file and
    # still records its new bits and owner
    os.chmod(src / "home" / "notes.log", 0o600)
    if root:
        os.chown(src / "home" / "notes.log", 5151, 5252)
    assert archive.archive(src, dest, workers=1).skipped == 2
    again = tmp_path / "again"
    assert not archive.restore(dest, again, workers=1).problems
    st = (again / "home" / "notes.log").stat()
    assert stat.S_IMODE(st.st_mode) == 0o600 and (st.st_uid, st.st_gid) == ((5151, 5252) if root else me)


def test_files_named_for_another_format_are_restored_byte_for_byte(tmp_path):
    """A WAV saved as song.flac and a PNG as art.wav: the restore decoded to the name's
    format (a FLAC file; the PNG under another name), and recorded that as what restores
    (until 2026-12-07 #23).  They restore as they were, under their own names."""
    import io

    import numpy as np
    import soundfile as sf
    from PIL import Image as PILImage

    src = tmp_path / "src"
    src.mkdir()
    sound = io.BytesIO()
    sf.write(sound, np.sin(np.arange(3000) / 7) * 0.4, 8000, subtype="PCM_16", format="WAV")
    picture = io.BytesIO()
    PILImage.fromarray(np.arange(24 * 32 * 3, dtype=np.uint8).reshape(24, 32, 3)).save(picture, "PNG")
    files = {"song.flac": sound.getvalue(), "art.wav": picture.getvalue()}
    for name, data in files.items():
        (src / name).write_bytes(data)
    dest, out = tmp_path / "archive", tmp_path / "out"
    assert archive.archive(str(src), dest, workers=1).problems == []
    assert not archive.verify(dest, workers=1).problems
    assert not archive.restore(dest, out, workers=1).problems
    assert {p.name: p.read_bytes() for p in out.iterdir()} == files
