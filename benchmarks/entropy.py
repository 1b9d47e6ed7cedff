"""Entropy backend throughput: omnicodec.entropy vs calling constriction directly.

For each model: symbols/s to encode and decode 10^6 symbols (2*10^5 for the mixture) with the
ANS coder, through our wrapper and through constriction on the same data, and the coded size
both ways.  "direct" uses the closest constriction-native path:
  categorical -> Categorical(probabilities) concrete model
  gaussian / laplace -> QuantizedGaussian / QuantizedLaplace families with per-symbol parameters
  mixture / adaptive -> Categorical family fed the same per-symbol probability rows (the rows'
                        computation is then not counted for direct: it is our model's work)
  logistic -> none in constriction (direct columns empty)

    python benchmarks/entropy.py            # writes benchmarks/results/entropy.json
"""

from __future__ import annotations

import json
import platform
import sys
import time
from importlib import metadata
from pathlib import Path

import constriction
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from omnicodec.entropy import (  # noqa: E402
    AdaptiveCategorical,
    Categorical,
    Decoder,
    Encoder,
    GaussianMixture,
    QuantizedGaussian,
    QuantizedLaplace,
    QuantizedLogistic,
)

LO, HI = -255, 255  # all inputs are int32, as codecs pass them
REPEATS = 3


def best(fn):
    times = []
    for _ in range(REPEATS):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def ours(symbols, model, count, params):
    def enc():
        e = Encoder("ans")
        e.encode(symbols, model, **params)
        return e.finish()

    t_enc, data = best(enc)
    t_dec, out = best(lambda: Decoder(data, "ans").decode(model, count, **params))
    assert (out == symbols).all()
    return t_enc, t_dec, len(data)


def direct(symbols, cmodel, *arrays):
    sym = symbols.astype(np.int32)

    def enc():
        c = constriction.stream.stack.AnsCoder()
        c.encode_reverse(sym, cmodel, *arrays)
        return c.get_compressed()

    t_enc, words = best(enc)
    t_dec, out = best(lambda: constriction.stream.stack.AnsCoder(words).decode(
        cmodel, *(arrays or (sym.size,))))
    assert (np.asarray(out) == sym).all()
    return t_enc, t_dec, 4 * len(words)


def workloads(rng, n: int):
    """(name, symbols, model, count for decode, params, constriction args or None) per model:
    the last is a thunk giving ``direct``'s arguments (the mixture's and adaptive model's
    probability rows are built only when called)."""
    means = rng.normal(0, 8, n)
    scales = np.exp(rng.uniform(-1, 3, n))
    latent = np.clip(np.rint(rng.normal(means, scales)), LO, HI).astype(np.int32)

    cat = rng.choice(64, size=n, p=rng.dirichlet(np.ones(64) * 0.5)).astype(np.int32)
    model = Categorical.from_symbols(cat, 64)
    yield "categorical", cat, model, n, {}, lambda: (cat, constriction.stream.model.Categorical(
        model.frequencies.astype(np.float64), perfect=False))

    for name, fam, cfam in (("gaussian", QuantizedGaussian, constriction.stream.model.QuantizedGaussian),
                            ("laplace", QuantizedLaplace, constriction.stream.model.QuantizedLaplace),
                            ("logistic", QuantizedLogistic, None)):
        theirs = (lambda c=cfam: (latent - LO, c(0, HI - LO), means - LO, scales)) if cfam else None
        yield name, latent, fam(LO, HI), None, {"means": means, "scales": scales}, theirs

    mm = np.stack([means, means + 4], 1)
    ss = np.stack([scales, scales * 2], 1)
    ww = np.stack([np.ones(n), np.full(n, 0.5)], 1)
    gm = GaussianMixture(LO, HI)
    mix_params = {"means": mm, "scales": ss, "weights": ww}

    def mix_rows():
        pmf = np.concatenate([p for _, _, p in gm._rows(dict(mix_params), n)])
        return latent - LO, constriction.stream.model.Categorical(perfect=False), pmf
    yield "mixture", latent, gm, None, mix_params, mix_rows

    ctx = rng.integers(0, 8, n)
    tables = rng.dirichlet(np.ones(32) * 0.3, size=8)
    ad = (tables[ctx].cumsum(1) > rng.random((n, 1))).argmax(1).astype(np.int32)
    am = AdaptiveCategorical(32, 8)

    def adaptive_rows():
        probs = []
        am.encode(ad, lambda s, cm, p: probs.append(p), contexts=ctx)
        return ad, constriction.stream.model.Categorical(perfect=False), np.concatenate(probs)
    yield "adaptive", ad, am, n, {"contexts": ctx}, adaptive_rows


def main() -> None:
    rows = []
    for name, symbols, model, count, params, theirs in workloads(np.random.default_rng(0), 1_000_000):
        if name == "mixture":  # our sequential mixture is slow: 2e5 symbols
            m = 200_000
            params = {k: v[:m] for k, v in params.items()}
            gm, sym = model, symbols[:m]
            pmf = np.concatenate([p for _, _, p in gm._rows(dict(params), m)])
            rows.append((name, m, ours(sym, gm, None, params),
                         direct(sym - LO, constriction.stream.model.Categorical(perfect=False), pmf)))
            continue
        rows.append((name, len(symbols), ours(symbols, model, count, params),
                     direct(*theirs()) if theirs else None))

    results = []
    for name, count, (e, d, size), theirs in rows:
        r = {"model": name, "symbols": count, "enc_msym_s": count / e / 1e6,
             "dec_msym_s": count / d / 1e6, "bytes": size}
        if theirs:
            te, td, tsize = theirs
            r.update(direct_enc_msym_s=count / te / 1e6, direct_dec_msym_s=count / td / 1e6,
                     direct_bytes=tsize, enc_overhead_pct=100 * (e / te - 1),
                     dec_overhead_pct=100 * (d / td - 1))
        results.append(r)
    out = {"machine": f"{platform.processor() or platform.machine()}, {platform.system()}",
           "python": platform.python_version(), "constriction": metadata.version("constriction"),
           "coder": "ans", "repeats": REPEATS, "timing": "best of repeats, seconds -> M symbols/s",
           "results": results}
    path = Path(__file__).parent / "results" / "entropy.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"{'model':<12} {'enc Msym/s':>10} {'dec Msym/s':>10} {'direct enc':>10} {'direct dec':>10} "
          f"{'enc ovh%':>8} {'dec ovh%':>8} {'bytes':>9} {'direct B':>9}")
    for r in results:
        print(f"{r['model']:<12} {r['enc_msym_s']:>10.2f} {r['dec_msym_s']:>10.2f} "
              f"{r.get('direct_enc_msym_s', float('nan')):>10.2f} {r.get('direct_dec_msym_s', float('nan')):>10.2f} "
              f"{r.get('enc_overhead_pct', float('nan')):>8.1f} {r.get('dec_overhead_pct', float('nan')):>8.1f} "
              f"{r['bytes']:>9} {r.get('direct_bytes', 0):>9}")


if __name__ == "__main__":
    main()
