"""The CUDA lane kernels on a GPU: decode throughput with the data on the device (GB/s of coded
data, the unit of nvCOMP's ~17 GB/s ANS and DietGPU's 250-410 GB/s on an A100), the same decode
through the entropy API (host arrays copied each call), and the symbols checked against the
input.  The streams are encoded on the host by the CPU twin, so the check is also CPU vs CUDA.

Run on the device machine (a lent GPU; see scripts/gpu-kernels.sh, which also runs the `gpu`
tests):

    python3 benchmarks/kernels_gpu.py --sizes 1e6,1e7,1e8 --lanes 4096,65536   # -> $OUT or results/
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from entropy import workloads  # noqa: E402

from omnicodec.entropy import Decoder, Encoder  # noqa: E402
from omnicodec.entropy.lanes import LaneDecoder  # noqa: E402
from omnicodec.kernels import kernel  # noqa: E402

MODELS = ("categorical", "gaussian", "mixture")


class Recorder(LaneDecoder):
    """A host decoder that records what the model asks the lanes for (one call per stream
    here), so the same launch can be replayed on the device."""

    def table(self, table, rows):
        self.call = ("table", table, rows)
        self.result = super().table(table, rows)
        return self.result

    def mixture(self, means, scales, weights, lo, k):
        self.call = ("mixture", means, scales, weights, lo, k)
        self.result = super().mixture(means, scales, weights, lo, k)
        return self.result


def device_decode(data: bytes, lanes: int, model, count, params, repeats: int = 3):
    """Seconds of the best device-resident decode of ``data``, and whether it gave the host's
    (CPU twin's) lane symbols."""
    from numba import cuda

    rec = Recorder(data, lanes)
    model.lane_decode(rec, count, **params)
    host = LaneDecoder(data, lanes)  # fresh lane states
    to = cuda.to_device
    words, stop = to(host.words), to(host.stop)
    state, ptr = cuda.device_array_like(host.state), cuda.device_array_like(host.ptr)
    kind, *args = rec.call
    if kind == "table":
        table, rows = args
        run = kernel("rans", "decode_tables", "cuda")
        m = rows.size
        fixed = (run.group, lanes, 0, to(np.ascontiguousarray(rows, np.int32)), to(table.cdf), to(table.starts),
                 to(table.lut))
        threads = -(-lanes // run.group)
    else:
        means, scales, weights, lo, k = args
        run = kernel("mixture", "decode", "cuda")
        m = means.shape[0]
        fixed = (lanes, 0, to(means), to(scales), to(weights), int(lo), int(k))
        threads = lanes
    out, bad = cuda.device_array(m, np.int32), cuda.to_device(np.zeros(lanes, np.int32))
    best = float("inf")
    for _ in range(repeats + 1):  # the first call compiles
        state.copy_to_device(host.state)
        ptr.copy_to_device(host.ptr)
        cuda.synchronize()
        t = time.perf_counter()
        run.run(threads, *fixed, words, state, ptr, stop, out, bad)
        cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return best, not bad.copy_to_host().any() and np.array_equal(out.copy_to_host(), rec.result)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1e6,1e7,1e8")
    ap.add_argument("--lanes", default="4096,65536")
    args = ap.parse_args()
    from numba import cuda

    results = []
    for n in (int(float(s)) for s in args.sizes.split(",")):
        todo = set(MODELS)
        for name, symbols, model, count, params, _ in workloads(np.random.default_rng(0), n):
            if not todo:
                break
            if name not in todo:
                continue
            todo.discard(name)
            for lanes in (int(x) for x in args.lanes.split(",")):
                os.environ["OMNICODEC_KERNELS"] = "cpu"
                enc = Encoder("ans", lanes=lanes)
                enc.encode(symbols, model, **params)
                data = enc.finish()  # the host replay in device_decode decodes with the CPU twin too
                t_dev, same = device_decode(data, lanes, model, count, params)
                os.environ["OMNICODEC_KERNELS"] = "cuda"
                t_api = float("inf")
                for _ in range(2):  # the first call compiles
                    t = time.perf_counter()
                    dec = Decoder(data, "ans", lanes=lanes)
                    api = dec.decode(model, count, **params)
                    dec.finish()
                    t_api = min(t_api, time.perf_counter() - t)
                r = {"model": name, "symbols": n, "lanes": lanes, "bytes": len(data), "cuda_equals_cpu": same,
                     "api_symbols_match": bool(np.array_equal(api, symbols)),
                     "device_s": t_dev, "device_gb_s": len(data) / t_dev / 1e9, "device_msym_s": n / t_dev / 1e6,
                     "api_s": t_api, "api_msym_s": n / t_api / 1e6}
                print(json.dumps(r), flush=True)
                results.append(r)
    from numba import config

    name = "CUDA simulator" if config.ENABLE_CUDASIM else cuda.get_current_device().name
    out = {"machine": f"{name.decode() if isinstance(name, bytes) else name}, {platform.machine()}",
           "command": "python3 benchmarks/kernels_gpu.py " + " ".join(sys.argv[1:]),
           "timing": "device: best of 3 launches, data on the device, synchronized; api: a Decoder call with "
                     "host arrays copied each call, best of 2 after compilation",
           "results": results}
    dest = Path(os.environ.get("OUT", Path(__file__).parent / "results")) / "kernels_gpu.json"
    dest.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
