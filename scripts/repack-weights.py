"""Repack shipped weights files as deltas against the files that continued their training
(``models.packing``: "Delta against a base"), byte for byte the same files once restored.

    python scripts/repack-weights.py omnicodec/weights OLD.pt:NEWER.pt [...]

Each OLD is packed against NEWER (both in the folder; NEWER may itself be a delta); the packed
file is rewritten only where it gets smaller, and its MANIFEST entry's packed_bytes updated.
"""

import json
import sys
from pathlib import Path

from omnicodec.models import packing


def main(folder: str, *pairs: str) -> None:
    root = Path(folder)
    manifest_path = root / "MANIFEST.json"
    manifest = json.loads(manifest_path.read_text())
    for pair in pairs:
        old, new = pair.split(":")
        data, base = packing.read(root / old), packing.read(root / new)
        blob = packing.pack(data, base, new)
        before = packing.packed_path(root / old).stat().st_size
        if len(blob) >= before:
            print(f"{old}: {len(blob)} bytes against {new}, not smaller than {before}; kept")
            continue
        assert packing.unpack(blob, base) == data
        packing.packed_path(root / old).write_bytes(blob)
        manifest[old]["packed_bytes"] = len(blob)
        print(f"{old}: {before} -> {len(blob)} bytes against {new} ({1 - len(blob) / before:.1%} smaller)")
    manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:])
