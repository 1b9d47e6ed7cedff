"""Repack shipped weights files as deltas against the files that continued their training
(``models.packing``: "Delta against a base"), byte for byte the same files once restored, or,
with ``--drop KEYS``, as decode-only files without the tensors under those artefact keys
(``models.packing``: "Decode-only files"; for the hyperprior ``--drop g_a,h_a``).

    python scripts/repack-weights.py omnicodec/weights [--drop KEYS] OLD.pt:NEWER.pt [...]

Each OLD is packed against NEWER (both in the folder; NEWER may itself be a delta).  Without
``--drop`` the packed file is rewritten only where it gets smaller; with it, always.  Every
original is read before anything is written, pairs go newest first (a file is rewritten before
it serves as a base, never after), and at the end every file of the manifest must restore to
its digest.  The MANIFEST entries' packed_bytes (and ``dropped``) are updated.
"""

import argparse
import json
from pathlib import Path

from omnicodec.models import packing


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder")
    ap.add_argument("pairs", nargs="+", help="OLD.pt:NEWER.pt")
    ap.add_argument("--drop", default="", help="artefact keys to leave out (comma-separated): decode-only files")
    args = ap.parse_args(argv)
    root, drop = Path(args.folder), tuple(k for k in args.drop.split(",") if k)
    manifest_path = root / "MANIFEST.json"
    manifest = json.loads(manifest_path.read_text())
    pairs = [tuple(p.split(":")) for p in args.pairs]
    originals = {}
    for old, _ in pairs:
        w = packing.open_weights(root / old)
        if w.dropped:  # its dropped tensors are zeros here: repacking would rename it
            raise SystemExit(f"{old} is decode-only already; repack it from its original file")
        originals[old] = w.data
    restored, bases = {}, set()
    for old, new in pairs:
        if old in bases:
            raise SystemExit(f"{old} served as a base before it was rewritten: give the pairs newest first")
        base = restored[new] if new in restored else packing.read(root / new)
        bases.add(new)
        blob = packing.pack(originals[old], base, new, drop)
        before = packing.packed_path(root / old).stat().st_size
        if len(blob) >= before and not drop:
            print(f"{old}: {len(blob)} bytes against {new}, not smaller than {before}; kept")
            continue
        restored[old] = packing.unpack(blob, base)
        packing.packed_path(root / old).write_bytes(blob)
        manifest[old]["packed_bytes"] = len(blob)
        if drop:
            manifest[old]["dropped"] = list(drop)
        print(f"{old}: {before} -> {len(blob)} bytes against {new} ({1 - len(blob) / before:.1%} smaller)")
    for name, entry in manifest.items():
        w = packing.open_weights(root / name)
        assert w.sha256 == entry["sha256"] and list(w.dropped) == entry.get("dropped", []), name
    manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
