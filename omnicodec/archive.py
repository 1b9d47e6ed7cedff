"""Archive, verify and restore whole trees of files on a Dask cluster, or on one machine.

``codec archive SRC DEST`` compresses every file under SRC into ``DEST/<path>.omc`` (the tree
mirrored) through :func:`omnicodec.encode_file`, spread over the workers of a
``dask.distributed`` cluster: a ``LocalCluster`` of one process per core by default, or the
scheduler at ``--scheduler ADDRESS`` (whose workers must see SRC and DEST at the same paths and
run the same omnicodec).  ``codec verify DEST`` and ``codec restore DEST OUT`` run the same way.

::

    client (this process)                         workers (one process, one thread each)
    walk SRC, read the manifest ──batches of jobs──▶ encode_file ─▶ fsync ─▶ restore check
    manifest rows ◀────────────── rows ────────────── (sha256 of source, .omc, restored file)

The manifest (``DEST/omnicodec-manifest.sqlite``, written by the client alone, one transaction
per finished batch) has a row per file: path, status (done / failed), codec, original and
compressed bytes, the sha256 of the source, of the .omc and of what a restore writes, seconds,
worker, error.  A row says done only after its .omc was written whole (temporary file, rename),
synced to disk and decoded again, so a killed client or worker never leaves a half-written .omc
that the manifest calls done; a re-run skips files whose row is done, whose source has the same
size and mtime and whose .omc still has the recorded sha256 (the workers check; a new owner or
new permission bits alone are recorded on the way), and redoes everything else.  A worker that
dies mid-batch has its batch rerun on another worker (Dask reschedules it); a file that fails
is recorded with its error and the run goes on.

What a restore gives is what ``codec decode`` gives, checked: the original bytes for files
coded losslessly (the default: every format byte for byte; a lossless codec asked for by name
restores a PNG with the same pixels and chunks in a recompressed file), and for a lossy codec the
decoded item in the original format.  The manifest keeps the sha256 of the source and of that
restored file (decoding is deterministic), so ``verify`` proves that a restore still gives
exactly what was checked at archive time, and the two digests say which files restore byte
for byte.  ``--codec`` applies to the files of its modality; the others are coded losslessly
by the default choice.  Symbolic links (to files or directories, inside the tree or out of it,
dangling or not) are recorded as links, with their target as written, and restored as the
same links (their own mtimes too), as tar and ``rsync -a`` keep them: never followed, so a
link's target is neither archived twice nor taken from outside the tree.  A
file's further names (hard links: one inode under several paths of the tree) are recorded as
links to its first path and restored as hard links to it, as ``tar`` and ``rsync -aH`` do: its
content is archived once.  Directories (empty ones too) are recorded with their permission
bits and mtimes: the archive's mirror takes each source directory's bits (the owner's rwx
added, for the workers), so a private folder's .omc files are no more readable than its files,
and a restore gives every directory its bits and mtime after everything inside it, as tar does
(the root's only where the restore made it).  Files keep theirs through ``encode_file`` and
``decode_file``.  Owners (uid, gid) of files, directories and symbolic links are recorded and
given back where the restore runs as root, as tar and ``rsync -a`` do (set-user-ID bits kept);
anyone else's restore makes the files their own.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import sqlite3
import stat
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from . import __version__, api, registry
from .codecs.base import Codec
from .errors import MissingDependencyError, UnsupportedInputError

MANIFEST = "omnicodec-manifest.sqlite"
BATCH_FILES = 32          # at most, files per task: amortizes the scheduler's ~2 ms per task
BATCH_BYTES = 32 << 20    # ... and bounds the work lost when a worker dies
SHARE = 8                 # at least this many tasks per worker thread, so the tail is short
WINDOW = 4                # tasks in flight per worker thread (the rest wait in the client)

_COLUMNS = ("path", "status", "asked", "codec", "bytes", "mtime_ns", "omc_bytes", "sha256", "omc_sha256",
            "restored_path", "restored_sha256", "seconds", "worker", "error", "uid", "gid")
# columns added since a table was first made: NULL in older archives' rows (restored as before)
_ADDED = {"files": ("uid", "gid"), "dirs": ("mode", "mtime_ns", "uid", "gid"), "links": ("uid", "gid", "mtime_ns")}


@dataclass
class Row:
    """One file of the manifest (``path`` relative to SRC, with ``/``)."""

    path: str
    status: str                  # "done", "failed" (or "skipped" on the way back from a worker)
    asked: str = ""              # the run's codec and quality, e.g. "zstd q=None"
    codec: str = ""
    bytes: int = 0
    mtime_ns: int = 0
    omc_bytes: int = 0
    sha256: str = ""
    omc_sha256: str = ""
    restored_path: str = ""      # where ``restore`` writes it, relative to OUT
    restored_sha256: str = ""
    seconds: float = 0.0
    worker: str = ""
    error: str = ""
    uid: int | None = None       # the owner, restored where the restore runs as root (as tar does)
    gid: int | None = None


@dataclass(frozen=True)
class Job:
    """A source file for a worker; ``expect`` is the .omc sha256 of a done row to re-check."""

    path: str
    bytes: int
    expect: str | None = None


@dataclass
class Report:
    """What a run did, for the CLI and the benchmark."""

    files: int = 0
    done: int = 0
    skipped: int = 0
    failed: int = 0
    links: int = 0               # links (symbolic and hard) recorded (archive) or restored (restore)
    bytes_in: int = 0
    bytes_out: int = 0
    seconds: float = 0.0         # wall time, the cluster's start included
    startup: float = 0.0         # of which starting (or connecting to) the cluster,
    working: float = 0.0         # from then to the last file's result (the rest: shutting down)
    task_seconds: float = 0.0    # time the workers spent on files
    workers: int = 0
    problems: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Status:
    """Progress of a run, passed to the ``progress`` callback after every batch."""

    files_done: int
    files_total: int
    bytes_done: int
    bytes_total: int
    failed: int
    seconds: float


# ------------------------------------------------------------------------------ the manifest
class Manifest:
    """The SQLite manifest of an archive; only the client process writes it."""

    def __init__(self, dest: Path, create: bool = False):
        path = dest / MANIFEST
        if not create and not path.is_file():
            raise FileNotFoundError(f"{dest}: not an archive (no {MANIFEST})")
        self.db = sqlite3.connect(path)
        self.db.execute("PRAGMA synchronous=FULL")
        with self.db:
            self.db.execute(f"CREATE TABLE IF NOT EXISTS files ({_COLUMNS[0]} TEXT PRIMARY KEY, "
                            + ", ".join(_COLUMNS[1:]) + ")")
            # mode: the permission bits, with mtime_ns restored after the files
            self.db.execute("CREATE TABLE IF NOT EXISTS dirs (path TEXT PRIMARY KEY)")
            # target: a symbolic link's as written, or (hard = 1) the path of a file of the tree
            self.db.execute("CREATE TABLE IF NOT EXISTS links (path TEXT PRIMARY KEY, target TEXT, hard INTEGER)")
            for table, columns in _ADDED.items():
                have = {r[1] for r in self.db.execute(f"PRAGMA table_info({table})")}
                for column in columns:
                    if column not in have:
                        self.db.execute(f"ALTER TABLE {table} ADD COLUMN {column} INTEGER")
            self.db.execute("CREATE TABLE IF NOT EXISTS runs (started REAL, seconds REAL, command TEXT, "
                            "src TEXT, settings TEXT, version TEXT, workers INTEGER, files INTEGER, "
                            "done INTEGER, skipped INTEGER, failed INTEGER)")

    def _read(self, sql: str) -> list[tuple]:
        return [tuple(map(_loaded, r)) for r in self.db.execute(sql)]

    def _write(self, sql: str, rows: Iterable[tuple]) -> None:
        self.db.executemany(sql, [tuple(map(_stored, r)) for r in rows])

    def rows(self) -> dict[str, Row]:
        return {r[0]: Row(*r) for r in self._read(f"SELECT {', '.join(_COLUMNS)} FROM files ORDER BY path")}

    def done(self) -> dict[str, tuple[int, int, str, str]]:
        """path -> (bytes, mtime_ns, asked, omc_sha256) of the done rows (small: a resumed run
        of millions of files holds this, not whole rows)."""
        return {r[0]: r[1:] for r in self._read("SELECT path, bytes, mtime_ns, asked, omc_sha256 FROM files "
                                                "WHERE status = 'done'")}

    def forget_failed(self, keep: set[str]) -> None:
        """Drop the failed rows of files that are gone from the source tree."""
        gone = [(p,) for (p,) in self._read("SELECT path FROM files WHERE status = 'failed'") if p not in keep]
        with self.db:
            self._write("DELETE FROM files WHERE path = ?", gone)

    def dirs(self) -> dict[str, tuple[int | None, ...]]:
        """path -> (permission bits, mtime_ns, uid, gid); "." is the source tree's root."""
        return {r[0]: r[1:] for r in self._read("SELECT path, mode, mtime_ns, uid, gid FROM dirs ORDER BY path")}

    def links(self) -> dict[str, tuple[str, bool, int | None, int | None, int | None]]:
        """path -> (target, whether a hard link, uid, gid and mtime_ns of a symbolic link)."""
        return {p: (t, bool(h), *rest) for p, t, h, *rest in self._read("SELECT path, target, hard, uid, gid, mtime_ns "
                                                                         "FROM links ORDER BY path")}

    def put(self, rows: Iterable[Row]) -> None:
        rows = [dataclasses.astuple(r) for r in rows]
        with self.db:  # a path that was a link and is a file now is a file
            self._write("DELETE FROM links WHERE path = ?", [r[:1] for r in rows])
            self._write(f"INSERT OR REPLACE INTO files ({', '.join(_COLUMNS)}) "
                        f"VALUES ({', '.join('?' * len(_COLUMNS))})", rows)

    def put_owners(self, rows: Iterable[Row]) -> None:
        """The owners of files skipped as unchanged (a chown changes no content or mtime)."""
        with self.db:
            self._write("UPDATE files SET uid = ?, gid = ? WHERE path = ?", [(r.uid, r.gid, r.path) for r in rows])

    def put_links(self, links: Iterable[tuple]) -> None:
        links = list(links)
        with self.db:  # ... and one that was a file and is a link now is a link
            self._write("DELETE FROM files WHERE path = ?", [link[:1] for link in links])
            self._write("INSERT OR REPLACE INTO links (path, target, hard, uid, gid, mtime_ns) "
                        "VALUES (?, ?, ?, ?, ?, ?)", links)

    def put_dirs(self, dirs: Iterable[tuple]) -> None:
        with self.db:
            self._write("INSERT OR REPLACE INTO dirs (path, mode, mtime_ns, uid, gid) VALUES (?, ?, ?, ?, ?)", dirs)

    def log_run(self, command: str, src: str, settings: str, report: Report, started: float) -> None:
        with self.db:
            self._write("INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [(started, report.seconds, command, src, settings, __version__, report.workers,
                          report.files, report.done, report.skipped, report.failed)])

    def close(self) -> None:
        self.db.close()


def _stored(value):
    """A value as the manifest stores it: a string as TEXT, or, where it holds a name that is
    not UTF-8 (Linux names are bytes; Python gives their odd bytes as surrogates), as those
    bytes, a BLOB; every other string's rows stay as they were."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", "surrogateescape")
    return value


def _loaded(value):
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value


# ------------------------------------------------------------------------------- the runs
def archive(src: str | os.PathLike, dest: str | os.PathLike, codec: str | Codec | None = None,
            quality: float | None = None, workers: int | None = None, scheduler: str | None = None,
            progress: Callable[[Status], None] | None = None) -> Report:
    """Compress every file under ``src`` into ``dest`` (see the module docstring); resumable.
    ``codec``: an id, or a configured codec (``get_codec("zstd", level=3)``), for the files of
    its modality; None: the default lossless choice for every file."""
    src, dest = Path(src).resolve(), Path(dest).resolve()
    if not src.is_dir():
        raise NotADirectoryError(f"{src}: not a directory")
    if dest == src or dest.is_relative_to(src) or src.is_relative_to(dest):
        raise UnsupportedInputError(f"{dest}: the archive and the source tree must not contain each other")
    if isinstance(codec, str):
        api.get_codec(codec, quality)  # an unknown codec or a bad quality fails here, once
    new = not dest.exists()
    dest.mkdir(parents=True, exist_ok=True)
    manifest = Manifest(dest, create=True)
    asked = _asked(codec, quality)
    try:
        files, dirs, links, problems = _walk(src)
        manifest.put_dirs(dirs)
        _mirror_dirs(dest, dirs, new)
        done = manifest.done()  # (a path is a file or a link of the walk: the links' rows never serve a job)
        manifest.put_links(links)
        for rel, *_ in links:  # a file that is a link now: its .omc goes after its row
            if rel in done:
                (dest / (rel + api.OMC_EXT)).unlink(missing_ok=True)
        manifest.forget_failed({rel for rel, _, _ in files} | {rel for rel, _ in problems})
        jobs = [Job(rel, size, done[rel][3] if done.get(rel, ())[:3] == (size, mtime, asked) else None)
                for rel, size, mtime in files]
        report = Report(files=len(jobs) + len(problems), links=len(links), bytes_in=sum(j.bytes for j in jobs))
        failed_early = [Row(rel, "failed", asked, error=msg) for rel, msg in problems]
        manifest.put(failed_early)
        report.failed, report.problems = len(failed_early), list(problems)

        def batch(client, group: list[Job]):
            return client.submit(_archive_batch, str(src), str(dest), group, codec, quality, pure=False)

        def done(group: list[Job], rows: list[Row]) -> None:
            manifest.put([r for r in rows if r.status != "skipped"])
            manifest.put_owners([r for r in rows if r.status == "skipped"])
            for r in rows:
                report.task_seconds += r.seconds
                report.bytes_out += r.omc_bytes if r.status != "failed" else 0
                if r.status == "failed":
                    report.failed += 1
                    report.problems.append((r.path, r.error))
                else:
                    setattr(report, r.status, getattr(report, r.status) + 1)

        def lost(group: list[Job], exc: BaseException) -> list[Row]:
            return [Row(j.path, "failed", asked, bytes=j.bytes, error=_message(exc)) for j in group]

        _run(report, jobs, batch, done, lost, workers, scheduler, progress)
        manifest.log_run("archive", str(src), asked, report, time.time() - report.seconds)
    finally:
        manifest.close()
    return report


def verify(dest: str | os.PathLike, workers: int | None = None, scheduler: str | None = None,
           progress: Callable[[Status], None] | None = None) -> Report:
    """Re-read every file of an archive: the .omc's sha256, a full decode, and the sha256 of
    what a restore would write; every failed row and unreadable file is a problem."""
    return _check(Path(dest).resolve(), None, False, workers, scheduler, progress)


def restore(dest: str | os.PathLike, out: str | os.PathLike, force: bool = False, workers: int | None = None,
            scheduler: str | None = None, progress: Callable[[Status], None] | None = None) -> Report:
    """Write every archived file back under ``out``, each checked against the manifest."""
    out, dest = Path(out).resolve(), Path(dest).resolve()
    if out == dest or out.is_relative_to(dest):
        raise UnsupportedInputError(f"{out}: restore into a folder outside the archive {dest}")
    new = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    return _check(dest, out, force, workers, scheduler, progress, new)


def _check(dest: Path, out: Path | None, force: bool, workers, scheduler, progress, new: bool = False) -> Report:
    manifest = Manifest(dest)
    try:
        rows = manifest.rows()
        dirs = manifest.dirs()
        if out is not None:
            _open_dirs(out, dirs)
        good = [r for r in rows.values() if r.status == "done"]
        report = Report(files=len(rows), bytes_in=sum(r.omc_bytes for r in good))
        report.problems = [(r.path, f"not archived: {r.error}") for r in rows.values() if r.status != "done"]
        report.problems += [(p, "not in the manifest") for p in _untracked(dest, rows)]
        report.failed = len(report.problems)
        jobs = [Job(r.path, r.omc_bytes) for r in good]

        def batch(client, group: list[Job]):
            return client.submit(_check_batch, str(dest), None if out is None else str(out),
                                 [rows[j.path] for j in group], force, pure=False)

        def done(group: list[Job], results: list[tuple[str, str, float]]) -> None:
            for path, problem, seconds in results:
                report.task_seconds += seconds
                if problem:
                    report.failed += 1
                    report.problems.append((path, problem))
                else:
                    report.done += 1
                    report.bytes_out += rows[path].bytes

        def lost(group: list[Job], exc: BaseException) -> list[tuple[str, str, float]]:
            return [(j.path, _message(exc), 0.0) for j in group]

        _run(report, jobs, batch, done, lost, workers, scheduler, progress)
        if out is not None:  # after the files, so that no file is ever written through a link
            for path, (target, hard, uid, gid, mtime) in manifest.links().items():
                problem = (_restore_hard_link(out, path, rows.get(target), force) if hard
                           else _restore_link(out, path, target, force, mtime)
                           or _own(out / path, uid, gid, keep_mode=False))
                if problem:
                    report.failed += 1
                    report.problems.append((path, problem))
                else:
                    report.links += 1
            folders = _dir_metadata(out, dirs, new)
            report.problems += folders
            report.failed += len(folders)
        else:
            report.links = len(manifest.links())
        manifest.log_run("restore" if out else "verify", str(out or ""), "", report, time.time() - report.seconds)
    finally:
        manifest.close()
    return report


def _run(report: Report, jobs: list[Job], submit, done, lost, workers, scheduler, progress) -> None:
    """Run ``jobs`` in batches on the cluster, at most WINDOW per worker thread in flight;
    ``done`` records each batch's results as it finishes (``lost`` makes them for a batch
    that raised)."""
    start = time.perf_counter()
    total, total_bytes = len(jobs), sum(j.bytes for j in jobs)
    files_done = bytes_done = 0
    with cluster(workers, scheduler) as client:
        from distributed import as_completed

        report.startup = time.perf_counter() - start
        report.workers = len(client.scheduler_info()["workers"])
        threads = max(1, sum(client.nthreads().values()))
        pending = iter(_batches(jobs, SHARE * threads))
        in_flight = {}
        flow = as_completed()

        def feed(n: int) -> None:
            for group in (g for _, g in zip(range(n), pending)):
                future = submit(client, group)
                in_flight[future.key] = group
                flow.add(future)

        feed(WINDOW * threads)
        for future in flow:
            group = in_flight.pop(future.key)
            try:
                results = future.result()
            except Exception as exc:  # noqa: BLE001 - a batch that killed its workers: its files fail
                results = lost(group, exc)
            future.release()
            done(group, results)
            files_done += len(group)
            bytes_done += sum(j.bytes for j in group)
            feed(1)
            if progress is not None:
                progress(Status(files_done, total, bytes_done, total_bytes, report.failed, time.perf_counter() - start))
        report.working = time.perf_counter() - start - report.startup
    report.seconds = time.perf_counter() - start


@contextmanager
def cluster(workers: int | None = None, scheduler: str | None = None) -> Iterator:
    """A ``distributed.Client``: on the scheduler at ``scheduler``, or on a LocalCluster of
    ``workers`` processes (default: one per core) with one thread each."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise MissingDependencyError("archive, verify and restore need dask.distributed: "
                                     "pip install 'omnicodec[scale]'") from None
    if scheduler is not None:
        with Client(scheduler, timeout="30s") as client:
            client.wait_for_workers(1, timeout=120)
            _check_workers(client)
            yield client
        return
    with LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True,
                      dashboard_address=None, silence_logs=logging.ERROR) as local, Client(local) as client:
        yield client


def _check_workers(client) -> None:
    """Every worker of a cluster we did not start must run this omnicodec version: a stream
    written by another version is not what this manifest describes."""
    try:
        versions = client.run(_version)
    except Exception as exc:  # noqa: BLE001 - e.g. omnicodec not installed on a worker
        raise MissingDependencyError(f"the cluster's workers cannot run omnicodec ({_message(exc)}): install "
                                     f"omnicodec {__version__} on every worker") from None
    for worker, version in sorted(versions.items()):
        if version != __version__:
            raise UnsupportedInputError(f"worker {worker} runs omnicodec {version}, this client {__version__}: "
                                        "install the same version everywhere")


def _version() -> str:
    from . import __version__

    return __version__


# ------------------------------------------------------------------------ client helpers
def _walk(src: Path) -> tuple[list[tuple[str, int, int]], list[tuple], list[tuple], list[tuple[str, str]]]:
    """(files as (path, size, mtime_ns), directories as (path, permission bits, mtime_ns, uid,
    gid), "." the root, links as (path, target, hard, uid, gid, mtime_ns: None for a hard link,
    which is its file), (path, problem) for what cannot be archived),
    paths relative to ``src`` with "/"; a file's first path in walk order is its file, its other
    names hard links to it."""
    files, dirs, links, problems = [], [], [], []
    first: dict[tuple[int, int], str] = {}  # (device, inode) of files with several names
    for root, subdirs, names in os.walk(src):
        here = Path(root)
        subdirs.sort()
        st = here.stat()
        dirs.append((here.relative_to(src).as_posix(), stat.S_IMODE(st.st_mode), st.st_mtime_ns, st.st_uid, st.st_gid))
        for name in sorted(names):
            path = here / name
            rel = path.relative_to(src).as_posix()
            if api.TMP_MARK in name:
                problems.append((rel, "an omnicodec temporary file (being written, or left by a killed writer)"))
                continue
            try:
                st = path.lstat()
                if stat.S_ISLNK(st.st_mode):
                    links.append((rel, os.readlink(path), False, st.st_uid, st.st_gid, st.st_mtime_ns))
                    continue
            except OSError as exc:
                problems.append((rel, _message(exc)))
                continue
            if not stat.S_ISREG(st.st_mode):
                problems.append((rel, "not a regular file"))
            elif st.st_nlink > 1 and (st.st_dev, st.st_ino) in first:
                links.append((rel, first[st.st_dev, st.st_ino], True, None, None, None))
            else:
                files.append((rel, st.st_size, st.st_mtime_ns))
                if st.st_nlink > 1:
                    first[st.st_dev, st.st_ino] = rel
        for name in subdirs:  # os.walk lists a link to a directory here, and does not follow it
            if (here / name).is_symlink():
                st = (here / name).lstat()
                links.append(((here / name).relative_to(src).as_posix(), os.readlink(here / name), False,
                              st.st_uid, st.st_gid, st.st_mtime_ns))
    return files, dirs, links, problems


def _mirror_dirs(dest: Path, dirs: list[tuple], new: bool) -> None:
    """Make the archive's folders with their sources' permission bits, the owner's added (the
    workers write there): a private folder's .omc files are no easier to read than its files.
    The root takes the source root's only where the archive is new."""
    for rel, mode, *_ in dirs:
        if rel != "." or new:
            (dest / rel).mkdir(parents=True, exist_ok=True)
            os.chmod(dest / rel, mode | stat.S_IRWXU)


def _open_dirs(out: Path, dirs: dict[str, tuple[int | None, ...]]) -> None:
    """Make the folders a restore writes into, each open to its owner until ``_dir_metadata``
    (a read-only folder of an earlier restore, too)."""
    for rel, (mode, *_) in dirs.items():
        folder = out / rel
        folder.mkdir(parents=True, exist_ok=True)
        if mode is not None and not os.access(folder, os.W_OK | os.X_OK):
            with contextlib.suppress(OSError):  # not ours: the writes into it report
                os.chmod(folder, stat.S_IMODE(folder.stat().st_mode) | stat.S_IRWXU)


def _dir_metadata(out: Path, dirs: dict[str, tuple[int | None, ...]], new: bool) -> list[tuple[str, str]]:
    """Give the restored folders their recorded permission bits and mtimes, deepest first and
    after everything inside them, as tar does (the root only where the restore made it):
    problems as (path, problem)."""
    problems = []
    for rel in sorted(dirs, key=lambda r: (-r.count("/"), r)):
        mode, mtime, uid, gid = dirs[rel]
        if mode is None or (rel == "." and not new):
            continue
        try:
            problem = _own(out / rel, uid, gid, keep_mode=False)  # (the recorded bits follow)
            os.chmod(out / rel, mode)
            os.utime(out / rel, ns=(mtime, mtime))
        except OSError as exc:
            problem = _message(exc)
        if problem:
            problems.append((rel + "/", problem))
    return problems


def _own(path: Path, uid: int | None, gid: int | None, keep_mode: bool = True) -> str:
    """Give ``path`` its recorded owner where this process runs as root, as tar and rsync -a do
    (anyone else's files are their own; older archives recorded none), with ``keep_mode`` its
    permission bits set again (a chown drops set-user-ID; a symbolic link has none): "" or
    the problem."""
    if uid is None or gid is None or os.geteuid() != 0:
        return ""
    try:
        mode = os.lstat(path).st_mode
        os.chown(path, uid, gid, follow_symlinks=False)
        if keep_mode:
            os.chmod(path, stat.S_IMODE(mode))
    except OSError as exc:
        return _message(exc)
    return ""


def _batches(jobs: list[Job], parts: int) -> list[list[Job]]:
    """Groups of files of one extension (a learned codec's batch stays on one model), at
    least ``parts`` of them where there are enough files, of at most BATCH_FILES files and
    BATCH_BYTES bytes (a bigger file alone); biggest first, so that the last are short."""
    most_files = max(1, min(BATCH_FILES, -(-len(jobs) // parts)))
    most_bytes = max(1, min(BATCH_BYTES, sum(j.bytes for j in jobs) // parts))
    out: list[list[Job]] = []
    group: list[Job] = []
    for job in sorted(jobs, key=lambda j: (Path(j.path).suffix.lower(), j.path)):
        if group and (len(group) == most_files or sum(j.bytes for j in group) + job.bytes > most_bytes):
            out.append(group)
            group = []
        group.append(job)
    if group:
        out.append(group)
    return sorted(out, key=lambda g: -sum(j.bytes for j in g))


def _untracked(dest: Path, rows: dict[str, Row]) -> list[str]:
    found = []
    for path in dest.rglob(f"*{api.OMC_EXT}"):
        rel = path.relative_to(dest).as_posix()[: -len(api.OMC_EXT)]
        if rel not in rows and api.TMP_MARK not in path.name:
            found.append(rel + api.OMC_EXT)
    return sorted(found)


def _asked(codec: str | Codec | None, quality: float | None) -> str:
    """The run's codec settings as the manifest records them: a file coded with other
    settings is coded again."""
    if isinstance(codec, Codec):
        return f"{codec.codec_id} {json.dumps(codec.get_config(), sort_keys=True)}"
    return f"{codec} q={quality}"


def _message(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# ------------------------------------------------------------------------ worker functions
def _archive_batch(src: str, dest: str, jobs: list[Job], codec: str | Codec | None,
                   quality: float | None) -> list[Row]:
    """Encode a batch of files on a worker; a failure is the file's row, never the batch's."""
    rows = []
    for job in jobs:
        start = time.perf_counter()
        try:
            row = _archive_one(Path(src), Path(dest), job, codec, quality)
        except Exception as exc:  # noqa: BLE001 - recorded in the manifest, the run goes on
            row = Row(job.path, "failed", _asked(codec, quality), bytes=job.bytes, error=_message(exc))
        row.seconds, row.worker = time.perf_counter() - start, _worker_name()
        rows.append(row)
    return rows


def _archive_one(src_root: Path, dest_root: Path, job: Job, codec: str | Codec | None,
                 quality: float | None) -> Row:
    src = src_root / job.path
    dst = dest_root / (job.path + api.OMC_EXT)
    asked = _asked(codec, quality)
    if job.expect is not None and dst.is_file() and sha256_file(dst) == job.expect:
        src_st, omc_st = src.stat(), dst.stat()
        if stat.S_IMODE(src_st.st_mode) != stat.S_IMODE(omc_st.st_mode):  # a chmod alone (no new mtime):
            os.chmod(dst, stat.S_IMODE(src_st.st_mode))  # the .omc carries the bits to a restore
        return Row(job.path, "skipped", asked, omc_bytes=omc_st.st_size, uid=src_st.st_uid, gid=src_st.st_gid)
    before = src.stat()
    if codec is not None and not _codec_takes(codec, src):
        codec_used, quality_used = None, None  # another modality: the default lossless choice
    else:
        codec_used, quality_used = codec, quality
    dst.parent.mkdir(parents=True, exist_ok=True)
    _, header = api.encode_file(src, dst, codec=codec_used, quality=quality_used, force=True, workers=1)
    _sync(dst)
    digest = sha256_file(src)
    if (src.stat().st_mtime_ns, src.stat().st_size) != (before.st_mtime_ns, before.st_size):
        raise UnsupportedInputError(f"{job.path} changed while it was archived")
    restored = Path(job.path).parent / api.restored_name(dst)
    # encode_file verified a bytes stream against the source (and its decode checks the stored
    # digest): the restore is the source.  Anything else is decoded here as a restore writes it
    # (a PNG through a codec asked for by name: the same pixels and chunks), and that file's
    # digest is what verify and restore check later.
    restored_digest = digest if header.modality == "bytes" else _restored_digest(dst, restored.name)
    return Row(job.path, "done", asked, header.codec, before.st_size, before.st_mtime_ns, dst.stat().st_size,
               digest, sha256_file(dst), restored.as_posix(), restored_digest, uid=before.st_uid, gid=before.st_gid)


def _check_batch(dest: str, out: str | None, rows: list[Row], force: bool) -> list[tuple[str, str, float]]:
    """Verify (``out`` None) or restore a batch: (path, problem or "", seconds) per file."""
    results = []
    for row in rows:
        start = time.perf_counter()
        try:
            problem = _check_one(Path(dest), None if out is None else Path(out), row, force)
        except Exception as exc:  # noqa: BLE001 - reported per file
            problem = _message(exc)
        results.append((row.path, problem, time.perf_counter() - start))
    return results


def _check_one(dest: Path, out: Path | None, row: Row, force: bool) -> str:
    omc = dest / (row.path + api.OMC_EXT)
    if not omc.is_file():
        return "the .omc file is missing"
    if sha256_file(omc) != row.omc_sha256:
        return "the .omc file changed since it was archived (sha256 differs)"
    if out is None:
        digest = _restored_digest(omc, Path(row.restored_path).name)
    else:
        target = out / row.restored_path
        target.parent.mkdir(parents=True, exist_ok=True)
        api.decode_file(omc, target, force=force, original=True)
        digest = sha256_file(target)
        if digest != row.restored_sha256:
            target.unlink()
        else:
            return _own(target, row.uid, row.gid)
    if digest != row.restored_sha256:
        return "decodes to different content than at archive time"
    return ""


def _restore_link(out: Path, path: str, target: str, force: bool, mtime: int | None = None) -> str:
    """Make ``out/path`` the symbolic link to ``target``, with its own ``mtime`` where recorded
    (as tar does): "" or the problem."""
    link = out / path
    problem = _place(link, lambda: link.is_symlink() and os.readlink(link) == target,
                     lambda: os.symlink(target, link), force)
    if not problem and mtime is not None:
        try:
            os.utime(link, ns=(mtime, mtime), follow_symlinks=False)
        except OSError as exc:
            return _message(exc)
    return problem


def _restore_hard_link(out: Path, path: str, file: Row | None, force: bool) -> str:
    """Make ``out/path`` another name of the restored ``file`` (its suffix follows the file's,
    should the restore have changed it): "" or the problem."""
    if file is None or file.status != "done":
        return "a hard link to a file that was not archived"
    target = out / file.restored_path
    if not target.is_file():
        return "a hard link to a file that was not restored"
    name = Path(path)
    if Path(file.path).suffix != target.suffix:
        name = name.with_suffix(target.suffix)
    link = out / name
    return _place(link, lambda: link.is_file() and not link.is_symlink() and os.path.samefile(link, target),
                  lambda: os.link(target, link), force)


def _place(link: Path, there: Callable[[], bool], make: Callable[[], None], force: bool) -> str:
    """``make()`` the link at ``link`` unless ``there()`` says it is already; what is in its way
    goes with ``force`` (a directory never): "" or the problem."""
    if os.path.lexists(link):
        if there():
            return ""
        if not force or (link.is_dir() and not link.is_symlink()):
            return "output exists (use --force to overwrite)"
        link.unlink()
    link.parent.mkdir(parents=True, exist_ok=True)
    try:
        make()
    except OSError as exc:
        return _message(exc)
    return ""


def _codec_takes(codec: str | Codec, path: Path) -> bool:
    from .datasets.files import identify

    with path.open("rb") as f:
        modality, _ = identify(f.read(64), path.suffix.lower())
    cls = type(codec) if isinstance(codec, Codec) else registry.get_codec_class(codec)
    return modality in cls.modalities()


def _restored_digest(omc: Path, name: str) -> str:
    """The sha256 of what decoding ``omc`` to a file called ``name`` writes."""
    with tempfile.TemporaryDirectory(prefix="omc-check-") as tmp:
        target = Path(tmp) / name
        api.decode_file(omc, target, original=True)
        return sha256_file(target)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _sync(path: Path) -> None:
    """Put ``path`` and its directory entry on disk before the manifest calls it done."""
    for node in (path, path.parent):
        fd = os.open(node, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _worker_name() -> str:
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return f"pid {os.getpid()}"
