"""How much smaller could walloc's latent code get by a better context model?  Oracles, not
codecs: each is given, for free, information a stream would have to carry, so each bounds
what a model of that kind could save over ours.

On the 24 Kodak images' latent symbols at the top level of each image model (quality 24.9:
the 16x model's; 100: the 3x model's) and at quality 62.5, against our context model's own
code length (``codecs/walloc._fit_context``: the discretized Laplace of every latent of the
interlaced passes, coarse grid left out; the coder's bytes are within 0.1% of it):

- shape: instead of the Laplace, the best fixed distribution of the residual for each scale
  (the empirical histogram of the residuals in each of the scales' quarter-octave buckets, all
  images pooled; the tables' cost ignored);
- block scale: each latent's scale multiplied, per channel and 4x4 block, by the factor (0.5
  to 2 in eighth-octaves) that codes that block's latents in the fewest bits;
- mean: per image and channel, the least-squares predictor of each latent from its four
  neighbours one by one and the residuals (value minus neighbour mean) of every channel of the
  earlier channel groups at the same place, instead of our shrunk neighbour mean; then the
  best scale factor per channel.

    python benchmarks/walloc_bounds.py    -> benchmarks/results/walloc_bounds.json
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import numpy as np
from PIL import Image

from omnicodec.codecs import walloc as W
from omnicodec.models.walloc import BOUND

ROOT = Path(__file__).resolve().parents[1]
KODAK = sorted((ROOT.parent / "shared" / "data" / "images" / "kodak").glob("*.png"))
OUT = ROOT / "benchmarks" / "results" / "walloc_bounds.json"
QUALITIES = (24.9, 62.5, 100.0)
FACTORS = (0.8, 0.9, 1.0, 1.1, 1.25)  # the per-channel scale factors the mean oracle picks from
BLOCK_FACTORS = 2.0 ** (np.arange(-8, 9) / 8)  # the block oracle's: 0.5 to 2 in eighth-octaves


def _passes(q: np.ndarray):
    """Our model on one image's symbols: per pass (indices, neighbour values (C, 4, n), which
    exist, how many, residual r - μ, scale σ), and the centred symbols (C, h·w)."""
    c, h, w = q.shape
    r = q.reshape(c, h * w).astype(np.int64) - BOUND
    _, passes = W._interlace(h, w)
    _, features, params, _ = W._fit_context(r, passes, W._groups(c))
    out = []
    for (idx, nb, ok, count), (mu, act, mag, cross, _) in zip(passes, features):
        out.append((idx, np.where(ok[None], r[:, nb], 0), count, r[:, idx] - mu, W._scales(params, act, mag, cross)))
    return r, out


def _block_scale_bits(shape, passes) -> float:
    """Bits with each latent's scale multiplied by its channel's 4x4 block's best factor (of
    BLOCK_FACTORS; free side data)."""
    c, h, w = shape
    res, sc = np.zeros((c, h * w)), np.ones((c, h * w))
    coded = np.zeros((c, h * w), bool)
    for idx, _, _, e, s in passes:
        res[:, idx], sc[:, idx], coded[:, idx] = np.abs(e), s, True
    bits = [np.where(coded, W._laplace_code(res, sc * f), 0.0).reshape(c, h // 4, 4, w // 4, 4).sum(axis=(2, 4))
            for f in BLOCK_FACTORS]
    return float(np.min(bits, axis=0).sum())


def _mean_bits(r: np.ndarray, passes, groups) -> float:
    """Bits with the least-squares mean (free coefficients) and the best scale factor per channel."""
    c = len(r)
    gid = np.zeros(c, np.int64)
    for k, g in enumerate(groups):
        gid[g] = k
    earlier = (gid[None, :] < gid[:, None]).astype(np.float64)  # (C, C): channel j is before channel i's group
    total = 0.0
    for idx, nbv, count, _, s in passes:
        innov = r[:, idx] - nbv.sum(axis=1) / count  # (C, n)
        x = np.concatenate([nbv.transpose(0, 2, 1).astype(np.float64),
                            innov.T[None] * earlier[:, None, :]], axis=2)  # (C, n, 4 + C)
        gram = np.einsum("cnk,cnl->ckl", x, x) + 1e-3 * len(idx) * np.eye(x.shape[2])
        coef = np.linalg.solve(gram, np.einsum("cnk,cn->ck", x, r[:, idx])[..., None])[..., 0]
        e = np.abs(r[:, idx] - np.round(np.einsum("cnk,ck->cn", x, coef)))
        total += float(np.min([W._laplace_code(e, s * f).sum(axis=1) for f in FACTORS], axis=0).sum())
    return total


def main() -> None:
    rows = {}
    for quality in QUALITIES:
        codec = W.Walloc(quality=quality)
        model = codec.model()
        ours = block = mean = 0.0
        residuals, scales = [], []
        start = time.perf_counter()
        for path in KODAK:
            q = codec._analyse(model, np.asarray(Image.open(path).convert("RGB")))
            r, passes = _passes(q)
            ours += sum(float(W._laplace_code(np.abs(e), s).sum()) for _, _, _, e, s in passes)
            block += _block_scale_bits(q.shape, passes)
            mean += _mean_bits(r, passes, W._groups(len(r)))
            residuals += [e.ravel() for *_, e, _ in passes]
            scales += [s.ravel() for *_, s in passes]
        e, s = np.concatenate(residuals), np.concatenate(scales)
        bucket = np.round(4 * np.log2(np.maximum(s, 0.05))).astype(np.int64)
        shape = 0.0
        for b in np.unique(bucket):
            _, counts = np.unique(e[bucket == b], return_counts=True)
            shape -= float((counts * np.log2(counts / counts.sum())).sum())
        rows[str(quality)] = {"model": model.cfg.latent, "latents": int(e.size), "ours_bytes": round(ours / 8),
                              **{f"{k}_bytes": round(v / 8) for k, v in (("shape", shape), ("block_scale", block),
                                                                       ("mean", mean))},
                              **{f"{k}_saving_pct": round(100 * (1 - v / ours), 2)
                                 for k, v in (("shape", shape), ("block_scale", block), ("mean", mean))},
                              "seconds": round(time.perf_counter() - start, 1)}
        print(quality, rows[str(quality)], flush=True)
    result = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
              "command": "python benchmarks/walloc_bounds.py", "date": time.strftime("%Y-%m-%d"), "rows": rows}
    OUT.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
