"""Lossless sound of more than 8 channels (FLAC's most): the default encode (FLAC in groups of
8 channels) against WavPack and the general-purpose compressors.

Polyphonic files are made from the shared clips (../shared/data/audio/sms_tools, mono 16-bit,
44.1 kHz), 10 s a track, as a multitrack recorder or a stem export holds them (each track the
clips one after another from its own first clip, none looped): 12 and 16 tracks of 16-bit, 12
tracks of 24-bit (the 16-bit clips after a gain of 0.8, rounded to 24 bits), 10 tracks of
float32 (each at its own gain, as a DAW writes a stem export), and a 16-channel "array" of one
11-s speech recording (whisper_tests/jfk.flac) at 16 delays and gains, each with its own noise
at -90 dBFS (correlated channels, as a microphone array has), 24-bit.  For each file, in the
same run: the whole .omc of ``codec encode`` (decoded back and compared byte for byte), the
WAV, ``xz -9e``, ``zstd -19`` and ``bzip2 -9`` of it, and WavPack (FFmpeg's encoder through
PyAV, level 8, checked sample for sample).

    python benchmarks/multichannel_audio.py   -> benchmarks/results/multichannel_audio.json
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from float_audio import DATA, measure_wav, save, summarize  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "multichannel_audio.json"
RATE, SECONDS = 44100, 10


def tracks(n: int, first: int = 0) -> np.ndarray:
    """``n`` tracks of SECONDS as float64 columns, track c the clips from clip ``first`` + c on
    (in name order) one after another: no track repeats itself (a looped clip would hand xz
    whole repeated frames that no recording has)."""
    import soundfile as sf

    clips = [sf.read(f, dtype="float64")[0] for f in sorted((DATA / "sms_tools").glob("*.wav"))]
    out = np.empty((RATE * SECONDS, n))
    for c in range(n):
        at, k = 0, first + c
        while at < len(out):
            x = clips[k % len(clips)][: len(out) - at]
            out[at:at + len(x), c] = x
            at, k = at + len(x), k + 1
    return out


def files() -> dict[str, tuple[np.ndarray, str]]:
    """name -> (samples, WAV subtype)."""
    import soundfile as sf

    t12, t16 = tracks(12), tracks(16, 5)
    gains = np.linspace(0.35, 0.9, 10)
    speech, _ = sf.read(DATA / "whisper_tests" / "jfk.flac", dtype="float64")  # 11 s, 44.1 kHz
    rng = np.random.default_rng(0)
    mics = [np.roll(speech[:, 0], 7 * m) * g + rng.normal(0, 10 ** (-90 / 20), len(speech))
            for m, g in enumerate(rng.uniform(0.5, 0.9, 16))]
    return {"12 tracks PCM_16": (np.round(t12 * 32767).astype(np.int16), "PCM_16"),
            "16 tracks PCM_16": (np.round(t16 * 32767).astype(np.int16), "PCM_16"),
            "12 tracks PCM_24": (np.round(t12 * 0.8 * 2 ** 23).astype(np.int32) << 8, "PCM_24"),
            "10 tracks FLOAT": ((tracks(10, 3) * gains).astype(np.float32), "FLOAT"),
            "16-mic array PCM_24": (np.round(np.stack(mics, axis=1) * 2 ** 23).astype(np.int32) << 8, "PCM_24")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()

    rows = []
    with tempfile.TemporaryDirectory(prefix="multichannel-") as tmp:
        for name, (x, subtype) in files().items():
            row = {"file": name, "channels": x.shape[1], "subtype": subtype, **measure_wav(Path(tmp), x, RATE, subtype)}
            rows.append(row)
            print(f"{name:20s} wav {row['wav']:9d} omc {row['omc']:9d} [{row['codec']} {row['config']}] wavpack "
                  f"{row['wavpack']:9d} xz {row['xz']:9d} zstd {row['zstd']:9d} exact {row['omc_exact']}/"
                  f"{row['wavpack_exact']}", flush=True)
    summary = summarize(rows)
    print(f"all: omc {summary['omc']} = {summary['omc_vs_wavpack']:.3f} x WavPack, {summary['omc_vs_xz']:.3f} x "
          f"xz -9e, {summary['ratio_vs_wav']:.2f}:1 vs wav")
    save(args.out, "python benchmarks/multichannel_audio.py", summary, rows)

if __name__ == "__main__":
    main()
