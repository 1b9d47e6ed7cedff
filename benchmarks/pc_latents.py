"""A probabilistic circuit as the lossless prior of another codec's discrete latents: an HCLT
learned on walloc's MNIST latents (quality 0: 12 channels x 4 x 4 symbols a digit), against
walloc's own coding of the same symbols (per-channel tables, or its fitted context model,
whichever its encoder picked), both measured on the 10,000 test digits.

The latents are today's walloc streams of grids of 1024 digits (the shards
``datasets.latents`` writes), their symbols read back with the codec's entropy decoder.  The
HCLT (H=16, J=16, D=192; symbols offset by 128 into 0..255) trains by the platform's EM step
and schedule on the 60,000 training latents; its cost is what ``kernels/pc`` codes (the
integer tables' code length) plus the lane framing of 16 lanes.

    python benchmarks/pc_latents.py [--steps 600] -> benchmarks/results/pc_latents.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MNIST = ROOT.parent / "shared" / "data" / "mnist"
OFFSET = 128  # walloc's symbols are signed; the circuit's alphabet is 0..255
SHARD = 1024


def symbols(digits):
    """(latent symbols (n, 192) uint8, walloc's DATA bytes) of MNIST digits (n, 28, 28), coded
    by today's walloc at quality 0 as grids of 32 x 32 independent tiles (``with_tiles``, the
    shards ``datasets.latents`` writes; the last grid filled with blank tiles, whose share of
    walloc's bytes is left out)."""
    import numpy as np

    import omnicodec
    from omnicodec import container
    from omnicodec.codecs.learned import plane_tiles

    codec = omnicodec.get_codec("walloc", 0).with_tiles(28, 28)
    out, data = [], 0.0
    for first in range(0, len(digits), SHARD):
        part = digits[first:first + SHARD]
        grid = np.zeros((SHARD, 28, 28), np.uint8)
        grid[:len(part)] = part
        side = int(SHARD ** 0.5)
        image = grid.reshape(side, side, 28, 28).transpose(0, 2, 1, 3).reshape(side * 28, side * 28)
        box = container.unpack(omnicodec.encode(omnicodec.Image(image, "L"), codec))
        plane = codec._symbols(codec.model(), box.sections, box.header.meta)
        tiles = plane_tiles(plane, side, side)[:len(part)]
        out.append((tiles.reshape(len(part), -1) + OFFSET).astype(np.uint8))
        data += len(box.sections["DATA"]) * len(part) / SHARD
    return np.concatenate(out), data


def main() -> None:
    import numpy as np
    import torch

    from omnicodec.datasets.mnist import load
    from omnicodec.kernels import kernel
    from omnicodec.kernels.rans import TOTAL
    from omnicodec.models.pc import HCLT, PCConfig, tables
    from omnicodec.models.train import TrainConfig

    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=600)
    args = ap.parse_args()
    torch.set_num_threads(1)
    train, _ = symbols(load(MNIST, "train")[0])
    test, walloc_bytes = symbols(load(MNIST, "test")[0])
    n, d = test.shape
    model = HCLT(PCConfig(hidden=16, basis=16, height=12, width=16))
    rng = np.random.default_rng(0)
    as_batch = lambda a: torch.from_numpy(a.reshape(len(a), 1, 12, 16) / 255.0).float()  # noqa: E731
    model.prepare(as_batch(train[rng.integers(0, len(train), 20000)]))
    schedule = TrainConfig(steps=args.steps, lr=0.5, final_lr=0.1)  # constant, then the cosine from halfway
    t0 = time.perf_counter()
    for step in range(args.steps):
        model.update(as_batch(train[rng.integers(0, len(train), 512)]), schedule.lr_at(step))
    train_s = time.perf_counter() - t0
    t = tables(model.export())
    args_k = tuple(t[k] for k in ("prior", "trans", "up", "emit", "parent", "order"))
    _, freq = kernel("pc", "bounds", "cpu")(test, *args_k)
    pc_bits = float(-np.log2(freq / TOTAL).sum()) + 8 * (4 + 16 * 4)  # + the framing of 16 lanes
    with torch.no_grad():
        nll = -model.log_likelihood(torch.from_numpy(test).long()).sum().item() / np.log(2)
    row = {"digits": n, "symbols_per_digit": d, "walloc_bits_per_digit": 8 * walloc_bytes / n,
           "pc_bits_per_digit": pc_bits / n, "pc_model_nll_bits_per_digit": nll / n,
           "pc_vs_walloc": pc_bits / (8 * walloc_bytes), "em_steps": args.steps, "train_s": train_s}
    print(json.dumps(row, indent=1))
    (ROOT / "benchmarks" / "results" / "pc_latents.json").write_text(json.dumps({
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
        "command": f"python benchmarks/pc_latents.py --steps {args.steps}", **row}, indent=1) + "\n")


if __name__ == "__main__":
    main()
