"""Ship some of a walloc run's rate levels as weights of their own, spanning a quality range.

    .venv/bin/python scripts/walloc-ladder.py CHECKPOINT NAME --levels 4,5,6 --qualities 60,100 [--note TEXT]

Exports the checkpoint (as ``codec train --export`` would), keeps the given levels with
``models.walloc.ladder``, and writes ``omnicodec/weights/NAME.omw`` (packed) with its MANIFEST
entry; point the codec's weights constant at NAME and add its fixture (docs/training.md).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    from omnicodec.models import packing
    from omnicodec.models.train import export, ship
    from omnicodec.models.walloc import ladder

    ap = argparse.ArgumentParser()
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("name")
    ap.add_argument("--levels", required=True, help="indices of the run's levels, increasing")
    ap.add_argument("--qualities", required=True, help="lo,hi: the quality range they span")
    ap.add_argument("--note", default="")
    args = ap.parse_args()
    levels = [int(v) for v in args.levels.split(",")]
    lo, hi = (float(v) for v in args.qualities.split(","))
    weights = ROOT / "omnicodec" / "weights"
    if args.name in json.loads((weights / "MANIFEST.json").read_text()):
        sys.exit(f"{args.name} is already shipped; choose another name")
    with tempfile.TemporaryDirectory() as tmp:
        full, entry = export(args.checkpoint, Path(tmp))
        art = ladder(packing.load(Path(tmp) / full), levels, (lo, hi))
    origin = f"levels {levels} of the run's {len(entry['config']['lambdas'])}: scripts/walloc-ladder.py"
    ship(art, weights, args.name, {**entry, "config": art["config"], "note": f"{args.note} ({origin})".lstrip()})
    print(args.name, json.dumps(art["config"]))


if __name__ == "__main__":
    main()
