"""Lossless float32 sound: the default encode (FLAC's float_bits) against WavPack and the
general-purpose compressors, on float WAVs made from the shared clips the way float sound is
made in the field.

Each clip of ../shared/data/audio/sms_tools (mono, 16-bit) and whisper_tests (stereo, 24-bit)
becomes float32 seven ways: as is (PCM in disguise: float_bits 16/24), a gain of -3 dB, a mix
with two other clips (0.5, 0.5, 0.3), resampled to 48 kHz (scipy's polyphase filter), a
4th-order low-pass (scipy's IIR filter), a reverb (a seeded decaying-noise impulse response of
0.1 s) and a fade-out, each computed in float64 and rounded once to float32, as a DAW or a
converter writes it.  For each file, in the same run: the whole .omc of ``codec encode`` (default
options, then decoded back and compared byte for byte with the WAV), the WAV itself, ``xz -9e``,
``zstd -19``, ``bzip2 -9`` of the WAV, and WavPack (FFmpeg's encoder through PyAV, its highest
compression level; its decode is checked sample for sample).  Sizes are whole files; times are
encode seconds on this machine, one thread.

    python benchmarks/float_audio.py            -> benchmarks/results/float_audio.json
    python benchmarks/float_audio.py --double   -> benchmarks/results/float64_audio.json
      (the same files kept in float64, not rounded to float32; no WavPack: it takes no float64)
"""

from __future__ import annotations

import argparse
import bz2
import io
import json
import lzma
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "audio"
OUT = ROOT / "benchmarks" / "results" / "float_audio.json"
WAYS = ("as is", "gain -3 dB", "mix of three", "resampled 48 kHz", "low-pass", "reverb", "fade-out")


def sources() -> list[tuple[str, np.ndarray, int]]:
    import soundfile as sf

    files = sorted((DATA / "sms_tools").glob("*.wav")) + [DATA / "whisper_tests" / "jfk.flac"]
    out = []
    for f in files:
        x, rate = sf.read(f, dtype="float64", always_2d=True)
        out.append((f.stem, x, rate))
    return out


def made(way: str, i: int, clips: list[tuple[str, np.ndarray, int]], dtype=np.float32) -> tuple[np.ndarray, int]:
    from scipy.signal import butter, fftconvolve, lfilter, resample_poly

    name, x, rate = clips[i]
    if way == "as is":
        y = x
    elif way == "gain -3 dB":
        y = x * 10 ** (-3 / 20)
    elif way == "mix of three":
        others = [c[1] for c in clips if c[0] != name]  # (a mono partner of stereo sound: on both sides)
        a, b = (np.broadcast_to(o[:, :1], (len(o), x.shape[1])) if o.shape[1] != x.shape[1] else o
                for o in (others[i % len(others)], others[(i + 7) % len(others)]))
        n = min(len(x), len(a), len(b))
        y = 0.5 * x[:n] + 0.5 * a[:n] + 0.3 * b[:n]
    elif way == "resampled 48 kHz":
        y, rate = resample_poly(x, 160, 147, axis=0), 48000
    elif way == "low-pass":
        b, a = butter(4, 0.25)
        y = lfilter(b, a, x, axis=0)
    elif way == "reverb":
        rng = np.random.default_rng(i)
        n = rate // 10
        ir = rng.standard_normal(n) * np.exp(-np.arange(n) / (n / 6)) * 0.03
        ir[0] = 1.0
        y = np.stack([fftconvolve(x[:, c], ir)[:len(x)] for c in range(x.shape[1])], axis=1)
    else:
        y = x * np.linspace(1.0, 0.0, len(x))[:, None]
    y = y / max(1.0, float(np.abs(y).max()) / 0.99)  # no clipping
    return y.astype(dtype), rate


def wavpack(x: np.ndarray, rate: int) -> tuple[int, bool]:
    """(bytes of a .wv file of ``x`` (float32, int16 or int32 samples, any number of channels)
    from FFmpeg's WavPack encoder, whether it decodes exactly).  Frames go in and come out
    interleaved, converted to and from the encoder's planar format by FFmpeg's resampler (the
    same samples): PyAV's planes of a planar frame are wrong beyond 8 channels."""
    import av

    layout = {1: "mono", 2: "stereo"}.get(x.shape[1], f"{x.shape[1]}c")
    packed = {"float32": "flt", "int16": "s16", "int32": "s32"}[x.dtype.name]
    out = io.BytesIO()
    with av.open(out, "w", format="wv") as box:
        stream = box.add_stream("wavpack", rate=rate)
        stream.layout, stream.format = layout, packed + "p"
        stream.options = {"compression_level": "8"}
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(x.reshape(1, -1)), format=packed, layout=layout)
        frame.sample_rate, frame.pts = rate, 0
        planar = av.AudioResampler(format=packed + "p", layout=layout, rate=rate)
        for f in planar.resample(frame) + planar.resample(None):
            box.mux(stream.encode(f))
        box.mux(stream.encode(None))
    data = out.getvalue()
    back = []
    with av.open(io.BytesIO(data)) as box:
        interleave = av.AudioResampler(format=packed, layout=layout, rate=rate)
        for frame in box.decode(audio=0):
            back += [f.to_ndarray().reshape(-1, x.shape[1]) for f in interleave.resample(frame)]
        back += [f.to_ndarray().reshape(-1, x.shape[1]) for f in interleave.resample(None)]
    y = np.concatenate(back) if back else np.zeros((0, x.shape[1]), x.dtype)
    return len(data), y.shape == x.shape and y.tobytes() == x.tobytes()


def measure_wav(folder: Path, x: np.ndarray, rate: int, subtype: str) -> dict:
    """``measure`` of ``x`` written as a WAV of ``subtype`` in ``folder``, and WavPack's columns
    (but for float64, which FFmpeg's WavPack encoder does not take)."""
    import soundfile as sf

    wav = folder / "x.wav"
    sf.write(wav, x, rate, subtype=subtype)
    row = measure(wav)
    if x.dtype == np.float64:
        return row
    t = time.perf_counter()
    row["wavpack"], row["wavpack_exact"] = wavpack(x, rate)
    row["wavpack_encode_s"] = time.perf_counter() - t
    return row


def measure(wav: Path) -> dict:
    from omnicodec import api

    data = wav.read_bytes()
    omc, back = wav.with_suffix(".omc"), wav.with_suffix(".back.wav")
    t = time.perf_counter()
    _, header = api.encode_file(wav, omc, force=True, workers=1)
    enc = time.perf_counter() - t
    t = time.perf_counter()
    api.decode_file(omc, back, force=True)
    dec = time.perf_counter() - t
    row = {"wav": len(data), "omc": omc.stat().st_size, "codec": header.codec, "config": header.config,
           "omc_exact": back.read_bytes() == data, "omc_encode_s": enc, "omc_decode_s": dec}
    t = time.perf_counter()
    row["xz"] = len(lzma.compress(data, preset=9 | lzma.PRESET_EXTREME))
    row["xz_encode_s"] = time.perf_counter() - t
    row["zstd"] = len(subprocess.run(["zstd", "-19", "-c", "-q"], input=data, capture_output=True, check=True).stdout)
    row["bzip2"] = len(bz2.compress(data, 9))
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path)
    ap.add_argument("--double", action="store_true", help="float64 files (no WavPack: it takes no float64)")
    args = ap.parse_args()
    subtype, dtype = ("DOUBLE", np.float64) if args.double else ("FLOAT", np.float32)
    out = args.out or (OUT.with_name("float64_audio.json") if args.double else OUT)

    clips = sources()
    rows = []
    with tempfile.TemporaryDirectory(prefix="float-audio-") as tmp:
        for way in WAYS:
            for i in range(len(clips)):
                x, rate = made(way, i, clips, dtype)
                row = {"clip": clips[i][0], "way": way, "channels": x.shape[1], "rate": rate,
                       **measure_wav(Path(tmp), x, rate, subtype)}
                rows.append(row)
                print(f"{way:17s} {clips[i][0]:18s} wav {row['wav']:9d} omc {row['omc']:9d} "
                      f"({row['config']}) wavpack {row.get('wavpack', '-'):>9} xz {row['xz']:9d} "
                      f"exact {row['omc_exact']}/{row.get('wavpack_exact', '-')}", flush=True)
    summary = {}
    for way in (*WAYS, "all"):
        summary[way] = s = summarize([r for r in rows if way in ("all", r["way"])])
        wavpack = f"{s['omc_vs_wavpack']:.3f} x WavPack, " if "wavpack" in s else ""
        print(f"{way:17s} {s['files']:3d} files: omc {s['omc']:10d} = {wavpack}{s['omc_vs_xz']:.3f} x xz -9e, "
              f"{s['ratio_vs_wav']:.2f}:1 vs wav")
    save(out, "python benchmarks/float_audio.py" + " --double" * args.double, summary, rows)


def summarize(rows: list[dict]) -> dict:
    """Totals of ``measure_wav`` rows, their ratios and speeds (WavPack's where the rows have it)."""
    total = {k: sum(r[k] for r in rows) for k in ("wav", "omc", "xz", "zstd", "bzip2")}
    out = {**total, "files": len(rows), "omc_vs_xz": total["omc"] / total["xz"],
           "ratio_vs_wav": total["wav"] / total["omc"], "omc_exact": all(r["omc_exact"] for r in rows),
           "omc_encode_mb_s": total["wav"] / 1e6 / sum(r["omc_encode_s"] for r in rows),
           "omc_decode_mb_s": total["wav"] / 1e6 / sum(r["omc_decode_s"] for r in rows)}
    if all("wavpack" in r for r in rows):
        out["wavpack"] = sum(r["wavpack"] for r in rows)
        out |= {"omc_vs_wavpack": total["omc"] / out["wavpack"], "wavpack_exact": all(r["wavpack_exact"] for r in rows),
                "wavpack_encode_mb_s": total["wav"] / 1e6 / sum(r["wavpack_encode_s"] for r in rows)}
    return out


def save(out: Path, command: str, summary: dict, rows: list[dict]) -> None:
    out.write_text(json.dumps({
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, one thread",
        "python": platform.python_version(), "command": command,
        "date": time.strftime("%Y-%m-%d"), "summary": summary, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
