"""Run one fuzz target under atheris (libFuzzer, coverage-guided).

    python fuzz/run.py TARGET [CORPUS_DIR] [libFuzzer flags]

TARGET is ``container``, ``all`` or ``codec:ID`` (see fuzz/targets.py).  The corpus folder
(default: a fresh temporary one) is seeded with the fixtures.  Useful flags: ``-runs=N``,
``-max_total_time=S``, ``-timeout=S`` (per input; a slower input is a hang), ``-rss_limit_mb=M``
(a finding when one input makes the process grow past M), ``-artifact_prefix=DIR/``, where a
crashing input is written.  Needs ``pip install atheris`` (the dev extra installs it).
"""

import os
import sys
import tempfile
from pathlib import Path

import atheris

# numba cannot compile the bytecode atheris instruments: the NumPy twins (the kernels' reference,
# which tests/kernels holds the compiled twins to, refusals included) run under the fuzzer
os.environ.setdefault("OMNICODEC_KERNELS", "numpy")

sys.path.insert(0, str(Path(__file__).resolve().parent))

with atheris.instrument_imports(include=["omnicodec"]):
    import targets

    from omnicodec import registry

    for _codec_id in targets.codec_ids():  # codec modules load on first use: load them here,
        registry.get_codec_class(_codec_id)  # inside the block, so they are instrumented


def main(argv: list[str]) -> None:
    if len(argv) < 2:
        raise SystemExit(__doc__)
    name, rest = argv[1], argv[2:]
    corpus = rest.pop(0) if rest and not rest[0].startswith("-") else tempfile.mkdtemp(prefix="omc-fuzz-")
    Path(corpus).mkdir(parents=True, exist_ok=True)
    for i, seed in enumerate(targets.seeds(name)):
        path = Path(corpus) / f"seed-{i:03d}"
        if not path.exists():
            path.write_bytes(seed)
    fn = targets.target(name)
    atheris.Setup([argv[0], corpus, *rest], fn)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
