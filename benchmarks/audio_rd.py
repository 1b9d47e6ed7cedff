"""Rate vs SNR and log-spectral distance of walloc's audio model against Opus, Vorbis and MP3, on
the audio clips its training held out (scripts/audio-split.sh: every 6th file of
../shared/data/audio).

Anchors, encoded in the same run: Opus (libopus through PyAV) and MP3 (libmp3lame through PyAV)
at 24, 32, 48, 64, 96, 128, 160 and 192 kbit/s; Vorbis (libvorbis through libsndfile, which
sets a quality, not a rate) over its quality range.  Rates count whole files (.omc for walloc,
.ogg/.mp3 for the anchors), in kbit/s of the clip's duration.  SNR is over the whole clip after
aligning the anchors' codec delay (best lag within ±1200 samples); LSD is the RMS difference of
log power spectra (2048-point frames, hop 512), averaged over frames, in dB.  BD-rate (SNR as
quality) of walloc against each anchor, from the mean curves.

    python benchmarks/audio_rd.py [--clips runs/audio-split/val]
        -> benchmarks/results/audio_rd.json, benchmarks/results/audio_rd.png
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"
BITRATES = [24, 32, 48, 64, 96, 128, 160, 192]
WALLOC_QUALITIES = [0, 20, 40, 59.9, 60, 70, 80, 90, 100]
VORBIS_QUALITIES = [0, 20, 40, 60, 80, 100]
MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)


def snr(ref: np.ndarray, rec: np.ndarray, search: int = 0) -> float:
    """SNR (dB) over all channels, at the lag within ±search samples that maximizes it."""
    n = min(len(ref), len(rec))
    ref, rec = ref[:n].astype(np.float64), rec[:n].astype(np.float64)
    best = np.inf
    for lag in range(-search, search + 1):
        a = ref[max(0, lag):n + min(0, lag)]
        b = rec[max(0, -lag):n - max(0, lag)]
        best = min(best, float(((a - b) ** 2).sum()) / max(float((a**2).sum()), 1e-20))
    return -10 * np.log10(max(best, 1e-12))


def lsd(ref: np.ndarray, rec: np.ndarray) -> float:
    n = min(len(ref), len(rec))
    out = []
    for c in range(ref.shape[1]):
        spectra = []
        for x in (ref[:n, c], rec[:n, c]):
            x = np.pad(x.astype(np.float64), (0, max(0, 2048 - n)))
            frames = np.lib.stride_tricks.sliding_window_view(x, 2048)[::512] * np.hanning(2048)
            spectra.append(10 * np.log10(np.abs(np.fft.rfft(frames, axis=1)) ** 2 + 1e-10))
        out.append(np.sqrt(((spectra[0] - spectra[1]) ** 2).mean(axis=1)).mean())
    return float(np.mean(out))


def pyav_codec(x: np.ndarray, rate: int, codec: str, kbps: int) -> tuple[int, np.ndarray]:
    """(bytes, decoded float (frames, channels)) of x through PyAV's ``codec`` at ``kbps``."""
    import av

    layout = "stereo" if x.shape[1] == 2 else "mono"
    if codec == "libopus":  # Opus runs at 48 kHz; MP3 at the clip's rate where MPEG has it
        fmt, container_rate = "ogg", 48000
    else:
        fmt, container_rate = "mp3", rate if rate in MP3_RATES else 44100
    buf = io.BytesIO()
    with av.open(buf, "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=container_rate)
        stream.bit_rate = kbps * 1000
        stream.layout = layout
        sample_fmt = "s16" if codec == "libopus" else "s16p"
        resampler = av.AudioResampler(format=sample_fmt, layout=layout, rate=container_rate)
        pcm = (np.clip(x, -1, 1) * 32767).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout=layout)
        frame.sample_rate = rate
        for f in resampler.resample(frame) + resampler.resample(None):
            for p in stream.encode(f):
                out.mux(p)
        for p in stream.encode(None):
            out.mux(p)
    size = buf.tell()
    buf.seek(0)
    back = av.AudioResampler(format="flt", layout=layout, rate=rate)
    chunks = []
    with av.open(buf) as inp:
        for f in inp.decode(audio=0):
            chunks += [g.to_ndarray().reshape(-1, x.shape[1]) for g in back.resample(f)]
        chunks += [g.to_ndarray().reshape(-1, x.shape[1]) for g in back.resample(None)]
    return size, np.concatenate(chunks)


def clips(folder: Path) -> list[Path]:
    if not folder.is_dir():
        subprocess.run(["bash", str(ROOT / "scripts" / "audio-split.sh")], cwd=ROOT, check=True)
    return sorted(p for p in folder.iterdir() if p.suffix in (".wav", ".flac"))


def measure(paths: list[Path]) -> dict:
    import omnicodec
    from omnicodec.datasets.files import read_item

    curves: dict[str, list[dict]] = {}

    def add(name: str, setting, per_clip: list[tuple[float, float, float]], seconds: float = 0.0):
        r, s, d = np.mean(per_clip, axis=0)
        point = {"setting": setting, "kbps": round(r, 2), "snr": round(s, 3), "lsd": round(d, 3)}
        if seconds:
            point["seconds"] = round(seconds, 3)
        curves.setdefault(name, []).append(point)
        print(f"{name:<8} {setting!s:<6} {r:8.1f} kbit/s  SNR {s:6.2f} dB  LSD {d:5.2f} dB", flush=True)

    items = [read_item(p) for p in paths]
    floats = [it.frames.astype(np.float64) / 32768.0 for it in items]
    durations = [len(it.frames) / it.sample_rate for it in items]
    for q in WALLOC_QUALITIES:
        rows, t = [], time.perf_counter()
        for it, x, dur in zip(items, floats, durations):
            blob = omnicodec.encode(it, "walloc", q)
            y = omnicodec.decode(blob).frames.astype(np.float64) / 32768.0
            rows.append((8 * len(blob) / dur / 1000, snr(x, y), lsd(x, y)))
        add("walloc", q, rows, time.perf_counter() - t)
    for q in VORBIS_QUALITIES:
        rows = []
        for it, x, dur in zip(items, floats, durations):
            blob = omnicodec.encode(it, "vorbis", q)
            y = omnicodec.decode(blob).frames.astype(np.float64) / 32768.0
            rows.append((8 * len(blob) / dur / 1000, snr(x, y, 1200), lsd(x, y)))
        add("vorbis", q, rows)
    for name, codec in (("opus", "libopus"), ("mp3", "libmp3lame")):
        for kbps in BITRATES:
            rows = []
            for it, x, dur in zip(items, floats, durations):
                size, y = pyav_codec(x, it.sample_rate, codec, kbps)
                rows.append((8 * size / dur / 1000, snr(x, y, 1200), lsd(x, y)))
            add(name, kbps, rows)
    return curves


def plot(curves: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from omnicodec.bench import save_plot

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for name, pts in curves.items():
        style = dict(lw=2.5, marker="o") if name == "walloc" else dict(lw=1.5, marker=".")
        for ax, key in zip(axes, ("snr", "lsd")):
            ax.plot([p["kbps"] for p in pts], [p[key] for p in pts], label=name, **style)
    for ax, label in zip(axes, ("SNR dB (higher is better)", "log-spectral distance dB (lower is better)")):
        ax.set_xlabel("kbit/s (whole files)")
        ax.set_ylabel(label)
        ax.set_xlim(0, 220)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("held-out clips (scripts/audio-split.sh), mean over clips")
    fig.tight_layout()
    save_plot(fig, path, 90)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", default=str(ROOT / "runs" / "audio-split" / "val"))
    args = ap.parse_args()
    from benchmarks.image_rd import machine
    from omnicodec.codecs.walloc import WEIGHTS_AUDIO, WEIGHTS_AUDIO_HIGH
    from omnicodec.metrics import bd_rate

    paths = clips(Path(args.clips))
    curves = measure(paths)
    def curve(name):
        return [p["kbps"] for p in curves[name]], [p["snr"] for p in curves[name]]

    bd = {}
    for anchor in ("opus", "mp3", "vorbis"):
        try:
            bd[f"walloc vs {anchor}"] = round(bd_rate(*curve(anchor), *curve("walloc")), 2)
        except ValueError as exc:
            bd[f"walloc vs {anchor}"] = f"n/a: {exc}"
    out = {"machine": machine(), "command": "python benchmarks/audio_rd.py",
           "weights": [WEIGHTS_AUDIO, WEIGHTS_AUDIO_HIGH],
           "clips": [p.name for p in paths], "curves": curves, "bd_rate_snr": bd}
    (RESULTS / "audio_rd.json").write_text(json.dumps(out, indent=1) + "\n")
    plot(curves, RESULTS / "audio_rd.png")
    print(json.dumps(bd, indent=1))


if __name__ == "__main__":
    main()
