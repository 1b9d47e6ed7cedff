"""Kodak rate-distortion of several hyperprior weights files: BD-rate against training steps, and
plain vs checkerboard context at equal steps (rate-distortion and decode time).

Each weights file (an entry of a weights folder's MANIFEST.json, e.g. exported from a run with
`codec train ... --export DIR --name NAME`) is measured exactly like `image_rd.py` measures the
shipped one (24 images, .omc bytes, RGB PSNR, 7 qualities); BD-rates are against the classical
curves in results/image_rd.json.  Results accumulate in results/hyperprior_steps.json, keyed by
sha256, so that later sessions add points to the curve without re-measuring old ones.

    python benchmarks/hyperprior_steps.py --weights-dir DIR [--names a.pt,b.pt]
    python benchmarks/hyperprior_steps.py --table
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from image_rd import RESULTS, ROOT, bd_table, measure

OUT = RESULTS / "hyperprior_steps.json"


def evaluate(weights_dir: Path, names: list[str], images: list) -> dict:
    from omnicodec.codecs import learned
    from omnicodec.codecs.hyperprior import Hyperprior

    manifest = json.loads((weights_dir / "MANIFEST.json").read_text())
    classical = {k: v for k, v in json.loads((RESULTS / "image_rd.json").read_text())["curves"].items()
                 if k != "hyperprior"}
    os.environ["OMNICODEC_WEIGHTS"] = str(weights_dir)
    rows = {}
    for name in names:
        entry = manifest[name]
        Hyperprior.weights_file = name
        learned._inference.cache_clear()
        curve = measure("hyperprior", images)
        rows[entry["sha256"]] = {
            "name": name, "steps": entry["steps"], "context": entry["config"].get("context", "none"),
            "hardware": entry.get("hardware"), "date": entry.get("date"), "curve": curve,
            "bd_rate": bd_table({"hyperprior": curve, **classical}, {}),
            "enc_s": sum(p["enc_s"] for p in curve) / len(curve),
            "dec_s": sum(p["dec_s"] for p in curve) / len(curve)}
        print(name, json.dumps(rows[entry["sha256"]]["bd_rate"]), flush=True)
    return rows


def context_saving(weights_dir: Path, name: str, images: list, level: float = 3.0) -> float:
    """Share of the non-anchor y bits that a checkerboard model's context saves: model bits of
    the non-anchors with their stage-2 (σ, μ) vs with the anchors' stage-1 parameters, summed
    over the images at gain level ``level``."""
    import torch

    from omnicodec.codecs import hyperprior as hp

    os.environ["OMNICODEC_WEIGHTS"] = str(weights_dir)
    hp.Hyperprior.weights_file = name
    model = hp.Hyperprior().model()
    normal = torch.distributions.Normal(0.0, 1.0)

    def bits(y, scales, means):
        q = torch.round(y - means)
        p = normal.cdf((q + 0.5) / scales) - normal.cdf((q - 0.5) / scales)
        return -torch.log2(p.clamp_min(1e-9)).sum().item()

    with_ctx = without = 0.0
    for item in images:
        y, z_sym = hp.analyse(model, item.pixels, level)
        hyper = model.hyper(z_sym)
        anchor, rest = (m.expand_as(y) for m in model.masks(*y.shape[2:]))
        s0, m0 = model.stage_params(hyper, torch.zeros_like(y), 0)
        s1, m1 = model.stage_params(hyper, torch.where(anchor, torch.round(y - m0) + m0, 0.0), 1)
        with_ctx += bits(y[rest], s1[rest], m1[rest])
        without += bits(y[rest], s0[rest], m0[rest])
    return 1 - with_ctx / without


def table() -> str:
    rows = sorted(json.loads(OUT.read_text())["weights"].values(), key=lambda r: (r["context"], r["steps"]))
    lines = ["| weights | context | steps | BD vs WebP % | vs JPEG % | vs JPEG 4:4:4 % | vs AVIF % | enc s | dec s |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        bd = [r["bd_rate"].get(f"hyperprior vs {a}") for a in ("webp", "jpeg", "jpeg444", "avif")]
        cells = " | ".join(f"{v:+.1f}" if isinstance(v, float) else "n/a" for v in bd)
        lines.append(f"| {r['name']} | {r['context']} | {r['steps']} | {cells} | {r['enc_s']:.2f} | {r['dec_s']:.2f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kodak", default=str(ROOT.parent / "shared" / "data" / "images" / "kodak"))
    ap.add_argument("--weights-dir", default=str(ROOT / "omnicodec" / "weights"))
    ap.add_argument("--names", default="", help="comma-separated manifest entries (default: all)")
    ap.add_argument("--table", action="store_true")
    ap.add_argument("--context-saving", action="store_true",
                    help="only add the context's bit saving to already measured checkerboard rows")
    args = ap.parse_args()
    if args.table:
        print(table())
        return
    from image_rd import machine

    from omnicodec.datasets.files import read_item

    weights_dir = Path(args.weights_dir).resolve()
    names = args.names.split(",") if args.names else sorted(json.loads((weights_dir / "MANIFEST.json").read_text()))
    images = [read_item(p) for p in sorted(Path(args.kodak).glob("*.png"))]
    old = json.loads(OUT.read_text()) if OUT.exists() else {"weights": {}}
    if args.context_saving:
        for row in old["weights"].values():
            if row["name"] in names and row["context"] == "checkerboard":
                row["context_saving_nonanchor_L3"] = context_saving(weights_dir, row["name"], images)
                print(row["name"], row["context_saving_nonanchor_L3"])
        OUT.write_text(json.dumps(old, indent=1) + "\n")
        return
    old["weights"].update(evaluate(weights_dir, names, images))
    old.update({"machine": machine(), "command": "python benchmarks/hyperprior_steps.py --weights-dir DIR",
                "images": len(images)})
    OUT.write_text(json.dumps(old, indent=1) + "\n")
    print(table())


if __name__ == "__main__":
    main()
