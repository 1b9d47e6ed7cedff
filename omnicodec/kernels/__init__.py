"""Numba kernels: one module per job, each job in three twins of one signature.

    twin      what it is                                  where it runs
    numpy     the reference, vectorized over lanes        anywhere; the tests' yardstick
    cpu       numba ``njit(parallel=True)``, a few lanes  this machine's cores
              a prange iteration
    cuda      numba ``cuda.jit``, a lane a thread         a GPU (or NUMBA_ENABLE_CUDASIM=1)

Jobs: ``rans`` (lane-interleaved rANS encode and table decode), ``mixture`` (Gaussian-mixture
integer CDFs evaluated at the two edges a symbol needs, and the mixture decode that bisects
them), ``buckets`` (the quantized families' parameter buckets), ``counts`` (the adaptive
categorical's count updates), ``logs`` (logzip's number columns and line assembly: NumPy
and CPU twins only, sequential work), ``wavelets`` (walloc's encoder-side wavelet packet
analysis: NumPy and CPU twins; a GPU trains with the torch filter bank), ``pc`` (the
probabilistic circuit's exact conditionals, interleaved with rANS decoding: NumPy and CPU
twins, sequential within a lane), ``codewords`` (mcquic's integer Gaussian-mixture masses over
codewords: NumPy and CPU twins), ``context`` (walloc's neighbour statistics per latent of an
interlaced pass), ``lzw`` (TIFF's LZW as libtiff writes it, for remaking LZW TIFFs byte for
byte: NumPy and CPU twins, sequential), ``deflate`` (any deflate stream parsed into tokens,
written back bit for bit, and its tokens as corrections to a plain matcher: NumPy and CPU
twins, sequential).  The twins give the same bytes
and the same symbols: the CPU and CUDA twins run one Python source each (compiled twice), the
NumPy twin is written independently, and ``tests/kernels`` compares all three bit for bit.

``twin()`` picks the twin a caller gets: ``OMNICODEC_KERNELS`` (numpy, cpu, cuda), else cpu.
Nothing here imports numba until a kernel runs, and ``numba.cuda`` only for the CUDA twin
(design rule 7).  CPU kernels are cached on disk (numba ``cache=True``, beside each module):
a process pays the compilation once per machine, not per call.  numba invalidates a cache by
the mtime of the file that defines the function only; ``rebind`` therefore names every bound
kernel after a digest of this package's sources, so an edit anywhere in it recompiles them.

Float arithmetic that a decoder must reproduce (the mixture's CDF) uses only correctly
rounded operations.  The CUDA twin writes its products with ``dmul_rn`` so that the compiler
cannot fuse a multiply and an add into an FMA (a different rounding); the CPU twin is compiled
without fastmath, so LLVM does not contract either.
"""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from importlib import import_module
from pathlib import Path
from typing import Callable

TWINS = ("numpy", "cpu", "cuda")


def twin() -> str:
    """The twin kernels run as: ``OMNICODEC_KERNELS`` if set, else ``cpu``."""
    name = os.environ.get("OMNICODEC_KERNELS", "cpu")
    if name not in TWINS:
        raise ValueError(f"OMNICODEC_KERNELS={name!r}: choose one of {TWINS}")
    return name


SMALL_JOB = 1 << 22  # items below which a fresh process is better off without numba
_SEEN: dict[tuple[str, str], int] = {}  # items each kernel was given in this process

# A child forked from a process that had numba loaded (a DataLoader worker, a multiprocessing
# pool) runs the NumPy twins unless told otherwise: numba's OpenMP thread pool aborts a forked
# child that enters it ("fork() called from a process already using GNU OpenMP").  The twins
# give the same results, so only the speed differs.
_FORKED_FROM_NUMBA = False


def _after_fork_in_child() -> None:
    global _FORKED_FROM_NUMBA
    import sys

    _FORKED_FROM_NUMBA = _FORKED_FROM_NUMBA or "numba" in sys.modules


os.register_at_fork(after_in_child=_after_fork_in_child)


def kernel(job: str, name: str, which: str | None = None, size: int | None = None) -> Callable:
    """The ``which`` twin (default: ``chosen``'s) of ``omnicodec.kernels.<job>.<name>``."""
    which = chosen(job, name, which, size)
    if which not in TWINS:
        raise ValueError(f"unknown kernel twin {which!r}; choose one of {TWINS}")
    return getattr(import_module(f"{__name__}.{job}"), name)[which]


def chosen(job: str, name: str, which: str | None = None, size: int | None = None) -> str:
    """The twin a kernel call runs: ``which`` if given, else ``twin()``, except that a call
    giving its ``size`` (items) runs the NumPy twin while numba is not loaded yet and this
    process has given that kernel fewer than SMALL_JOB items in all: numba's start-up (about
    0.5 s) would cost a small job more than it saves, and a process that keeps calling earns it
    back (rent until the rent would have bought it).  The twins give the same results, so this
    never changes an output."""
    import sys

    if size is not None:
        _SEEN[job, name] = _SEEN.get((job, name), 0) + size
    if which is None and size is not None and _SEEN[job, name] < SMALL_JOB and "OMNICODEC_KERNELS" not in os.environ \
            and "numba" not in sys.modules:
        which = "numpy"
    if which is None and _FORKED_FROM_NUMBA and "OMNICODEC_KERNELS" not in os.environ:
        which = "numpy"
    return which or twin()


class Twins:
    """A job's three twins: the NumPy function, and builders that compile the CPU and CUDA
    twins on first use (so importing a kernel module compiles nothing)."""

    def __init__(self, numpy: Callable, cpu: Callable[[], Callable], cuda: Callable[[], Callable]):
        self._built = {"numpy": numpy}
        self._builders = {"cpu": cpu, "cuda": cuda}

    def __getitem__(self, which: str) -> Callable:
        if which not in self._built:
            self._built[which] = self._builders[which]()
        return self._built[which]


def rebind(fn: Callable, **names) -> Callable:
    """``fn`` with some of its globals replaced: the one Python source of a lane body is
    compiled once with the CPU helpers and once with the CUDA device helpers."""
    from types import FunctionType

    out = FunctionType(fn.__code__, {**fn.__globals__, **names}, fn.__name__, fn.__defaults__,
                       fn.__closure__)
    # numba's disk cache keys a function by its file's mtime and its qualified name, blind to
    # the helpers bound here: name each binding after the helpers and this package's sources
    if names:
        bound = ",".join(f"{k}={getattr(v, '__qualname__', type(v).__name__)}" for k, v in sorted(names.items()))
        out.__qualname__ = f"{fn.__qualname__}_{hashlib.sha1((bound + _sources()).encode()).hexdigest()[:10]}"
    return out


@lru_cache(maxsize=1)
def _sources() -> str:
    """A digest of every kernel module's source: a change anywhere in the package renames
    (so recompiles) every bound kernel."""
    h = hashlib.sha1()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        h.update(path.read_bytes())
    return h.hexdigest()


def _loop(body: Callable, device: Callable, **namespace) -> Callable:
    """The loop ``loop(n, a0, a1, ...)`` over ``body(j, a0, a1, ...)``, written out for the body's
    arity (numba inlines no call with ``*args``) and filed under the body's module (for numba's
    cache); ``namespace`` holds what the loop's source names (``prange`` or ``cuda``)."""
    import inspect

    params = ", ".join(f"a{i}" for i in range(len(inspect.signature(body).parameters) - 1))
    if "prange" in namespace:
        source = f"def loop(n, {params}):\n    for j in prange(n):\n        body(j, {params})\n"
    else:
        source = f"def loop(n, {params}):\n    j = cuda.grid(1)\n    if j < n:\n        body(j, {params})\n"
    namespace["body"] = device
    exec(compile(source, body.__code__.co_filename, "exec"), namespace)
    loop = namespace["loop"]
    loop.__qualname__ = f"{device.__qualname__}__loop_{_sources()[:10]}"
    loop.__module__ = body.__module__
    return loop


def cpu_parallel(body: Callable, **helpers) -> Callable:
    """``run(n, *args)``: ``body(j, *args)`` for j in 0..n-1 over the CPU's threads, with
    ``helpers`` (numba-compiled) bound as ``body``'s globals.  The body is inlined into the
    parallel loop: compiled there, its array arguments are known not to alias, which lets the
    four-lane encoder keep its states in registers (7.3 -> 5.5 ms per 10**6 symbols)."""
    from numba import njit, prange

    return njit(parallel=True, cache=True)(_loop(body, cpu_device(body, inline=True, **helpers), prange=prange))


def cuda_parallel(body: Callable, **helpers) -> Callable:
    """``run(n, *args)``: ``body(j, *args)`` in thread j of a CUDA grid, the arrays copied to
    the device and back (the bodies write their results into their arguments)."""
    import numpy as np
    from numba import cuda

    kernel_fn = cuda.jit(_loop(body, cuda_device(body, **helpers), cuda=cuda))

    def run(n, *args):
        dev = [cuda.to_device(np.ascontiguousarray(a)) if isinstance(a, np.ndarray) else a for a in args]
        block = 128
        kernel_fn[max(1, -(-n // block)), block](n, *dev)
        for host, d in zip(args, dev):
            if isinstance(host, np.ndarray) and host.flags.writeable:
                host[...] = d.copy_to_host()
    return run


def cpu_device(fn: Callable, inline: bool = False, **helpers) -> Callable:
    """``fn`` (with ``helpers`` bound as its globals) compiled for calls from CPU kernels;
    ``inline``: into its callers' numba IR (for the few-line steps of an inner loop)."""
    from numba import njit

    return njit(cache=True, inline="always" if inline else "never")(rebind(fn, **helpers) if helpers else fn)


def cuda_device(fn: Callable, inline: bool = False, **helpers) -> Callable:
    """``fn`` (with ``helpers`` bound as its globals) compiled as a CUDA device function."""
    from numba import cuda

    return cuda.jit(device=True, inline=inline)(rebind(fn, **helpers) if helpers else fn)
