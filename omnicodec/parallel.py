"""Worker processes that keep the order of their jobs: logzip's blocks, stem's groups of
pictures.  Memory stays bounded: at most two jobs per worker are in flight, and results are
handed on in order as they arrive."""

from __future__ import annotations

import itertools
from typing import Any, Callable, Iterable, Iterator


def in_order(fn: Callable[..., Any], jobs: Iterable[tuple], workers: int, warmup: int = 0) -> Iterator[Any]:
    """``fn(*job)`` of every job, in order: the first ``warmup`` here, the rest by ``workers``
    processes with at most two jobs per worker in flight (all here when ``workers`` is 1; no
    process is started when the warm-up took every job).
    The workers come from a fork server, so they are fresh processes that run the compiled
    kernels (a plain fork of a process that has run numba must not enter them, see
    ``omnicodec.kernels``) and import only what their jobs need."""
    jobs = iter(jobs)
    for job in itertools.islice(jobs, warmup if workers > 1 else None):
        yield fn(*job)
    following = next(jobs, None) if workers > 1 else None
    if following is None:  # no pool (and no resource tracker process) for nothing
        return
    import multiprocessing
    from collections import deque
    from concurrent.futures import ProcessPoolExecutor

    jobs = itertools.chain([following], jobs)
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=die_with_parent,
                             initargs=(None,)) as pool:
        pending = deque()
        for job in jobs:
            while len(pending) >= 2 * workers:
                yield pending.popleft().result()
            pending.append(pool.submit(fn, *job))
        while pending:
            yield pending.popleft().result()


def die_with_parent(parent: int | None) -> None:
    """A worker's initializer: on Linux the kernel kills the worker when the process that
    started it dies, even by SIGKILL (a busy worker never notices its closed pipe: ``kill -9``
    of an encode left two workers of 250 and 507 MB running).  ``parent``: the pid that must
    still be there (None for a fork server's workers, whose server leaves with its client)."""
    import ctypes
    import os
    import signal
    import sys

    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if parent is not None and os.getppid() != parent:  # the parent died before the line above ran
        os._exit(1)
