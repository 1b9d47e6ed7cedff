"""Training throughput of a learned model: optimizer steps per second (main + auxiliary step, as
the trainer takes them) for batch × crop settings, on this machine's CPU or a lent GPU.  The
numbers behind the GPU-minute estimates of docs/training.md's queue.

    python benchmarks/train_speed.py [--model hyperprior] [--settings 8x128,16x256]
        [--config N=128,M=192] [--steps 20] [--device auto] [--threads 1]
        [--data data/pack [--prefetch on|off]]
        -> benchmarks/results/train_speed.json (rows accumulate, keyed by device, config and setting)

Random batches by default (the model's step alone); with ``--data``, the trainer's own batches
from that folder (``models.train.Batches``: uint8 crops made floats on the device, drawn ahead by
a thread on a GPU unless ``--prefetch off``), so the data path's cost is the difference.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "benchmarks" / "results" / "train_speed.json"


def measure(model_id: str, config: dict, batch: int, size: int, steps: int, device: str,
            data: str = "", prefetch: bool | None = None) -> float:
    import contextlib

    import numpy as np
    import torch

    from omnicodec.datasets.training import source
    from omnicodec.models.train import Batches, Run, TrainConfig

    run = Run(model_id, config, TrainConfig(batch=batch, size=size), device)
    with contextlib.ExitStack() as stack:
        if data:
            batches = stack.enter_context(Batches(source(run.model.source, Path(data), size), np.random.default_rng(0),
                                                  batch, device, prefetch))
            draw = batches.next
        else:
            x = torch.rand((batch, 3, size, size), device=device)
            draw = lambda: x  # noqa: E731
        run.train_step(draw(), 1e-5)  # warm-up (allocations, cuDNN autotuning)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t = time.perf_counter()
        for _ in range(steps):
            run.train_step(draw(), 1e-5)  # .item() in the step synchronizes
        return steps / (time.perf_counter() - t)


def main() -> None:
    import platform

    import torch

    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="hyperprior")
    ap.add_argument("--settings", default="8x128,16x256", help="BATCHxCROP,...")
    ap.add_argument("--config", default="", help="model config KEY=VALUE,... (e.g. N=128,M=192)")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--data", default="", help="time the trainer's batches from this folder, not random ones")
    ap.add_argument("--prefetch", choices=["auto", "on", "off"], default="auto",
                    help="with --data: draw batches ahead in a thread (auto: on a GPU)")
    args = ap.parse_args()
    prefetch = {"auto": None, "on": True, "off": False}[args.prefetch]
    if args.threads:
        torch.set_num_threads(args.threads)
    from omnicodec.models.train import parse_config, pick_device

    device = pick_device(args.device)
    config = parse_config(args.config)
    hardware = (torch.cuda.get_device_name() if device.startswith("cuda")
                else f"{platform.machine()} CPU, {torch.get_num_threads()} threads")
    results = json.loads(OUT.read_text()) if OUT.exists() else {"rows": {}}
    for setting in args.settings.split(","):
        batch, size = (int(v) for v in setting.split("x"))
        rate = measure(args.model, config, batch, size, args.steps, device, args.data, prefetch)
        batches = f"data, prefetch {args.prefetch}" if args.data else "random"
        key = f"{args.model} {json.dumps(config, sort_keys=True)} {setting} {hardware}"
        key += f" ({batches})" if args.data else ""
        results["rows"][key] = {"model": args.model, "config": config, "batch": batch, "crop": size,
                                "hardware": hardware, "steps_per_s": round(rate, 3), "steps": args.steps,
                                "batches": batches, "date": time.strftime("%Y-%m-%d")}
        print(f"{key}: {rate:.2f} steps/s", flush=True)
    results["command"] = "python benchmarks/train_speed.py --settings ... --config ... --threads ..."
    OUT.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
