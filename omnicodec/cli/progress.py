"""What the CLI shows while it works, on stderr: a tqdm bar on a terminal (bytes or files done,
the rate, the time to go), plain lines elsewhere (a log gets a line per file, and a line every
10 seconds of a long job); with ``--quiet`` nothing but errors and the final count of failures."""

from __future__ import annotations

import sys
import time
from pathlib import Path

QUIET = False  # set by --quiet
EVERY = 10.0  # seconds between the lines of a long job when stderr is not a terminal


def bar(total: int, unit: str, desc: str, leave: bool = False):
    """A tqdm bar on stderr when it is a terminal (and not --quiet), else None."""
    if QUIET or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, unit_scale=unit == "B", unit_divisor=1024 if unit == "B" else 1000,
                desc=desc, file=sys.stderr, leave=leave, dynamic_ncols=True)


def say(message: str, bar=None, file=None) -> None:
    """A line on ``file`` (stderr), above the bar if one is shown."""
    file = file or sys.stderr
    if bar is not None:
        bar.write(message, file=file)
    else:
        print(message, file=file, flush=True)


class Files:
    """A line per file (``[3/10] a.png -> a.png.omc ...``), with a bar over the files' bytes on a
    terminal when there are several."""

    def __init__(self, files: list[Path]):
        self.total, self.done = len(files), 0
        sizes = [_size(f) for f in files]
        self.bar = bar(sum(sizes), "B", "files", leave=True) if self.total > 1 else None
        self.sizes = dict(zip(map(str, files), sizes))

    def step(self, src: Path, message: str) -> None:
        self._advance(src)
        if not QUIET:
            say(self._prefix() + message, self.bar)

    def fail(self, src: Path, exc: Exception) -> None:
        self._advance(src)
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        say(f"{self._prefix()}codec: error: {msg if str(src) in msg else f'{src}: {msg}'}", self.bar)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def _advance(self, src: Path) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.update(self.sizes.get(str(src), 0))

    def _prefix(self) -> str:
        return f"[{self.done}/{self.total}] " if self.total > 1 else ""


class Throughput:
    """Bytes done of one long input (streaming codecs call it with the count so far): a bar on
    a terminal, else a line every 10 seconds for inputs of 64 MB or more."""

    def __init__(self, src: Path):
        self.total, self.start, self.last = _size(src), time.perf_counter(), 0.0
        self.bar = bar(self.total, "B", src.name) if self.total >= 1 << 20 else None
        self.lines = not QUIET and self.bar is None and self.total >= 64 << 20

    def __call__(self, done: int) -> None:
        if self.bar is not None:
            self.bar.update(done - self.bar.n)
            if done >= self.total:
                self.bar.close()
            return
        seconds = time.perf_counter() - self.start
        if self.lines and (done >= self.total or seconds - self.last >= EVERY):
            self.last = seconds
            say(f"  {done / 2**20:9.1f} / {self.total / 2**20:.1f} MB  {done / 2**20 / max(seconds, 1e-9):7.1f} MB/s")


class Tree:
    """Files, MB and MB/s done and to go of a tree job (``codec archive`` and the like): a bar
    on a terminal, else a line every 10 seconds and at the end."""

    def __init__(self, verb: str):
        self.verb, self.last, self.bar = verb, 0.0, None

    def __call__(self, s) -> None:
        finished = s.files_done == s.files_total
        if QUIET:
            return
        if sys.stderr.isatty():
            if self.bar is None:
                self.bar = bar(s.bytes_total, "B", self.verb, leave=True)
            self.bar.update(s.bytes_done - self.bar.n)
            failed = f", {s.failed} failed" if s.failed else ""
            self.bar.set_postfix_str(f"{s.files_done}/{s.files_total} files{failed}")
            if finished:
                self.bar.close()
            return
        if not (finished or s.seconds - self.last >= EVERY):
            return
        self.last = s.seconds
        rate = s.bytes_done / 2**20 / max(s.seconds, 1e-9)
        left = (s.bytes_total - s.bytes_done) / 2**20 / rate if rate > 0 else 0.0
        say(f"  {self.verb} {s.files_done}/{s.files_total} files, {s.bytes_done / 2**20:.1f}/"
            f"{s.bytes_total / 2**20:.1f} MB, {rate:.1f} MB/s, {left:.0f}s to go"
            + (f", {s.failed} failed" if s.failed else ""))


def _size(path: Path) -> int:
    try:
        return Path(path).stat().st_size
    except OSError:
        return 0
