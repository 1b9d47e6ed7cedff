"""Lane kernels vs constriction: decode and encode throughput of the entropy backend's lane
format (``Encoder("ans", lanes=N)``, numba CPU twin) against constriction's sequential ANS
called directly on the same data, and against our sequential path, for every model.

For each model and size: M symbols/s to encode and decode, MB/s of coded data decoded, the
coded size, and the lane format's size overhead over the sequential stream.  "direct" is
constriction itself (see benchmarks/entropy.py for which of its models stands in for each of
ours; the mixture and adaptive rows feed it precomputed probability rows, whose computation it
is then not charged for, and at 1e7 symbols those rows would not fit in memory, so it is
measured at 2e5 only).  Lane rows run at 1 and at all threads (``numba.set_num_threads``).

    python benchmarks/kernels.py [--sizes 1e6,1e7,1e8] [--lanes 32]   # -> results/kernels.json
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from importlib import metadata
from pathlib import Path

import numba
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from entropy import REPEATS, best, direct, workloads  # noqa: E402

from omnicodec.entropy import Decoder, Encoder  # noqa: E402


def ours(symbols, model, count, params, lanes):
    def enc():
        e = Encoder("ans", lanes=lanes)
        e.encode(symbols, model, **params)
        return e.finish()

    def dec():
        d = Decoder(data, "ans", lanes=lanes)
        out = d.decode(model, count, **params)
        d.finish()
        return out

    enc()  # compile / load the cached kernels outside the timing
    t_enc, data = best(enc)
    t_dec, out = best(dec)
    assert (out == symbols).all()
    return t_enc, t_dec, len(data)


def row(name, n, how, threads, lanes, timing, seq_bytes=None):
    e, d, size = timing
    r = {"model": name, "symbols": n, "path": how, "threads": threads, "lanes": lanes,
         "enc_msym_s": n / e / 1e6, "dec_msym_s": n / d / 1e6, "dec_mb_s": size / d / 1e6, "bytes": size}
    if seq_bytes:
        r["size_overhead_pct"] = 100 * (size / seq_bytes - 1)
    print(f"{name:<12} {n:>9} {how:<12} {threads:>2}t {lanes:>5}L  enc {r['enc_msym_s']:8.2f}  "
          f"dec {r['dec_msym_s']:8.2f} Msym/s  {r['dec_mb_s']:7.2f} MB/s  {size:>10} B"
          + (f"  {r['size_overhead_pct']:+.3f}%" if seq_bytes else ""), flush=True)
    return r


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1e6,1e7")
    ap.add_argument("--lanes", type=int, default=32)
    ap.add_argument("--large-models", default="categorical,gaussian",
                    help="the models run at sizes above 1e7 (the others' inputs do not fit in memory)")
    args = ap.parse_args()
    cores = numba.config.NUMBA_NUM_THREADS
    results = []
    for n in (int(float(s)) for s in args.sizes.split(",")):
        wanted = set(args.large_models.split(",")) if n > 10**7 else None
        for name, symbols, model, count, params, theirs in workloads(np.random.default_rng(0), n):
            if wanted is not None:
                if not wanted:
                    break  # the generator builds the next model's inputs only when asked
                if name not in wanted:
                    continue
                wanted.discard(name)
            small = name in ("mixture", "adaptive") and n > 200_000  # no room for constriction's rows
            seq = None
            if not small:
                if theirs is not None:
                    results.append(row(name, n, "constriction", 1, 0, direct(*theirs())))
                if name != "mixture":  # our sequential mixture is 0.02 Msym/s (entropy.json)
                    timing = ours(symbols, model, count, params, 0)
                    seq = timing[2]
                    results.append(row(name, n, "sequential", 1, 0, timing))
            for threads in sorted({1, cores}):
                numba.set_num_threads(threads)
                results.append(row(name, n, "lanes-cpu", threads, args.lanes,
                                   ours(symbols, model, count, params, args.lanes), seq))
    out = {"machine": f"{platform.processor() or platform.machine()}, {platform.system()}, {cores} threads",
           "python": platform.python_version(), "numba": metadata.version("numba"),
           "constriction": metadata.version("constriction"), "repeats": REPEATS,
           "timing": "best of repeats; kernels compiled (cached) before timing",
           "command": "python benchmarks/kernels.py " + " ".join(sys.argv[1:]), "results": results}
    path = Path(__file__).parent / "results" / "kernels.json"
    path.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
