"""Classical audio codecs through libsndfile (soundfile): FLAC, WAV, Opus, Vorbis, MP3.

    Audio(samples, rate, subtype) -> libsndfile writer -> section DATA (a complete .flac/.wav/
    .ogg/.mp3 file)

Quality (0..100, higher is better) maps to libsndfile's compression level ``1 - q/100`` (0 is
the highest bitrate), the one knob libsndfile exposes for its lossy formats.  Lossless codecs
restore the exact samples and subtype (PCM_16 / PCM_24 / PCM_U8; WAV also FLOAT and DOUBLE).
Opus only runs at 8/12/16/24/48 kHz: other rates are resampled to 48 kHz with FFmpeg's
resampler (as opusenc does) and back to the original rate on decode.
"""

from __future__ import annotations

import dataclasses
import io
import zlib
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import soundfile as sf

from .. import limits
from ..errors import CorruptStreamError, UnsupportedInputError
from ..items import AUDIO_SUBTYPES, Audio, audio_from
from .base import Codec, LossyCodec, option, section, undecodable

_READ_FRAMES = 1 << 18
MAX_PAD_FRAMES = 1 << 16  # zeros a lossy decode may append: more than any codec's delay, and
# the inner 48 kHz decode of resampled Opus asks for 48000 frames beyond its payload


@dataclass
class _SndfileCodec(Codec):
    modality: ClassVar[str] = "audio"
    format: ClassVar[str] = ""
    subtype: ClassVar[str] = ""
    subtypes: ClassVar[tuple[str, ...]] = ()
    rates: ClassVar[tuple[int, ...]] = ()
    max_channels: ClassVar[int] = 255

    def encoder_version(self):
        return f"libsndfile {sf.__libsndfile_version__}"

    def supports(self, item):
        reason = super().supports(item)
        if reason:
            return reason
        if self.subtypes and item.subtype not in self.subtypes:
            return f"{self.codec_id} stores {', '.join(self.subtypes)}, not {item.subtype}"
        if self.rates and item.sample_rate not in self.rates:
            return f"{self.codec_id} needs a sample rate in {self.rates}, got {item.sample_rate}"
        if item.channels > self.max_channels:
            return f"{self.codec_id} stores at most {self.max_channels} channels"
        if not item.frames.shape[0] and self.lossless:
            return f"{self.codec_id} cannot store a sound of 0 samples"
        return None

    def write_args(self, item: Audio) -> dict:
        return {"subtype": self.subtype or item.subtype}

    def encode(self, item):
        self.check_supports(item)
        out = io.BytesIO()
        sf.write(out, item.frames, item.sample_rate, format=self.format, **self.write_args(item))
        return {"DATA": out.getvalue()}

    def decode(self, sections, meta):
        frames, channels = int(meta["frames"]), int(meta["channels"])
        limits.check_samples(frames, channels)
        data = section(sections, "DATA", self.codec_id)
        dtype = AUDIO_SUBTYPES.get(meta["subtype"], "int16")
        chunks, got = [], 0
        try:
            with sf.SoundFile(io.BytesIO(data)) as f:
                if f.channels != channels or f.samplerate != meta["sample_rate"]:
                    raise CorruptStreamError(f"{self.codec_id}: payload layout disagrees with header")
                # in chunks, so memory follows what the payload holds, not what the header claims;
                # lossy decoders may add priming/padding frames: never read past the header's count
                while got < frames:
                    chunk = f.read(frames=min(_READ_FRAMES, frames - got), dtype=dtype, always_2d=True)
                    if not len(chunk):
                        break
                    chunks.append(chunk)
                    got += len(chunk)
        except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
            raise undecodable(self.codec_id, exc) from None
        if got < frames and (self.lossless or frames - got > MAX_PAD_FRAMES):
            raise CorruptStreamError(f"{self.codec_id}: payload holds {got} frames, the header says {frames}")
        samples = np.concatenate(chunks) if chunks else np.zeros((0, channels), dtype)
        if got < frames:  # a lossy decoder that trims its delay a little short
            samples = np.pad(samples, ((0, frames - got), (0, 0)))
        return audio_from(samples, meta)


@dataclass
class FLAC(_SndfileCodec):
    """FLAC, and float sound whose samples are 16- or 24-bit PCM in disguise (``float_bits``)."""

    codec_id: ClassVar[str] = "flac"
    standard: ClassVar[tuple[str, ...]] = (".flac",)
    lossless: ClassVar[bool] = True
    format: ClassVar[str] = "FLAC"
    subtypes: ClassVar[tuple[str, ...]] = ("PCM_S8", "PCM_U8", "PCM_16", "PCM_24", "FLOAT")
    max_channels: ClassVar[int] = 8
    description: ClassVar[str] = "FLAC lossless (libFLAC level 8); float sound that is 16/24-bit PCM"
    # FLOAT sound (float32) whose every sample is a whole multiple of 2**(1 - bits) in [-1, 1),
    # as 16- or 24-bit sound a converter or a DAW saved as float is: coded as those integers,
    # divided back (exactly: a power of two) on decode.  Written only for such sounds.
    float_bits: int = field(default=0, metadata={"omit_default": True, "choices": (0, 16, 24)})

    def __post_init__(self):
        if self.float_bits not in (0, 16, 24):
            raise ValueError(f"flac float_bits must be 0, 16 or 24, got {self.float_bits!r}")

    def for_item(self, item):
        if isinstance(item, Audio) and item.subtype == "FLOAT":
            return dataclasses.replace(self, float_bits=_pcm_bits(item.frames))
        return self

    def supports(self, item):
        reason = super().supports(item)
        if reason is None and item.subtype == "FLOAT":
            bits = _pcm_bits(item.frames)
            if not bits:
                return "flac stores float sound only where it is 16- or 24-bit PCM saved as float (wav keeps any)"
            if self.float_bits and bits != self.float_bits:
                return f"flac float_bits={self.float_bits} does not fit this sound's samples ({bits}-bit)"
        return reason

    def write_args(self, item):
        subtype = "PCM_16" if item.subtype in ("PCM_S8", "PCM_U8") else item.subtype
        return {"subtype": f"PCM_{self.float_bits}" if self.float_bits else subtype, "compression_level": 1.0}

    def encode(self, item):
        if item.subtype != "FLOAT":
            return super().encode(item)
        self.check_supports(item)
        if not self.float_bits:  # (``for_item`` sets it)
            raise UnsupportedInputError("flac codes float sound with float_bits 16 or 24")
        # left-justified int32, as libsndfile takes integers for any PCM width (exact in float32:
        # a power of two times at most 24 significant bits)
        ints = (item.frames * np.float32(2.0 ** 31)).astype(np.int32)
        out = io.BytesIO()
        sf.write(out, ints, item.sample_rate, format=self.format, **self.write_args(item))
        return {"DATA": out.getvalue()}

    def decode(self, sections, meta):
        if not self.float_bits or meta.get("subtype") != "FLOAT":
            if self.float_bits:
                raise CorruptStreamError("flac: float_bits is for float sound")
            return super().decode(sections, meta)
        ints = super().decode(sections, {**meta, "subtype": "PCM_32"}).frames
        if np.any(ints & ((1 << (32 - self.float_bits)) - 1)):
            raise CorruptStreamError(f"flac: samples finer than {self.float_bits} bits")
        return audio_from(ints.astype(np.float32) / np.float32(2.0 ** 31), meta)


def _pcm_bits(frames: np.ndarray) -> int:
    """16 or 24 where float samples are all whole multiples of 2**(1 - bits) in [-1, 1) (the
    fewest bits that hold them), else 0.  A negative zero has no integer: it rules them out.
    In chunks: memory stays a few MB over the sound's."""
    if frames.dtype != np.float32 or not frames.size:
        return 0
    flat, fits16 = frames.reshape(-1), True
    for start in range(0, flat.size, 1 << 20):
        x = flat[start:start + (1 << 20)].astype(np.float64)
        if not (np.isfinite(x).all() and x.min() >= -1.0 and x.max() < 1.0) or np.signbit(x[x == 0]).any():
            return 0
        s24 = x * 2.0 ** 23
        if not np.array_equal(s24, np.round(s24)):
            return 0
        fits16 = fits16 and np.array_equal(x * 2.0 ** 15, np.round(x * 2.0 ** 15))
    return 16 if fits16 else 24


@dataclass
class WAV(_SndfileCodec):
    codec_id: ClassVar[str] = "wav"
    standard: ClassVar[tuple[str, ...]] = (".wav",)
    lossless: ClassVar[bool] = True
    format: ClassVar[str] = "WAV"
    description: ClassVar[str] = "WAV passthrough (PCM or float, uncompressed)"

    def write_args(self, item):
        return {"subtype": "PCM_16" if item.subtype == "PCM_S8" else item.subtype}


@dataclass
class _LossyAudio(_SndfileCodec, LossyCodec):
    quality: float = option(50.0, 0, 100)

    def compression_level(self) -> float:
        return 1.0 - self.quality / 100.0

    def write_args(self, item):
        return {"subtype": self.subtype, "compression_level": self.compression_level()}

    def effective(self):
        return {"compression_level": self.compression_level()}

    def encode(self, item):
        sections = super().encode(item)
        if self.format == "OGG":
            sections["DATA"] = fixed_ogg_serial(sections["DATA"])
        return sections


_REVERSED_BITS = bytes(int(f"{b:08b}"[::-1], 2) for b in range(256))
OGG_SERIAL = 0x636D6F00  # "\0omc": libsndfile draws a random one, so the same input gave new bytes


def _ogg_crc(page: bytes) -> int:
    """Ogg's page checksum (CRC-32, polynomial 0x04C11DB7, not reflected, no inversions), via
    zlib's reflected CRC-32 of the bit-reversed bytes."""
    raw = zlib.crc32(page.translate(_REVERSED_BITS), 0xFFFFFFFF) ^ 0xFFFFFFFF
    return int(f"{raw:032b}"[::-1], 2)


def fixed_ogg_serial(ogg: bytes) -> bytes:
    """The Ogg file with every page's stream serial number set to OGG_SERIAL and its checksum
    recomputed, so that an encode is a function of its input (one logical stream per file)."""
    out, pos = bytearray(ogg), 0
    while pos + 27 <= len(out) and out[pos:pos + 4] == b"OggS":
        segments = out[pos + 26]
        end = pos + 27 + segments + sum(out[pos + 27:pos + 27 + segments])
        out[pos + 14:pos + 18] = OGG_SERIAL.to_bytes(4, "little")
        out[pos + 22:pos + 26] = bytes(4)
        out[pos + 22:pos + 26] = _ogg_crc(bytes(out[pos:end])).to_bytes(4, "little")
        pos = end
    return bytes(out) if pos == len(out) else ogg  # pages we do not follow: keep the file as is


def _libopus(item: Audio, bitrate: int) -> bytes:
    """An Ogg Opus file of ``item`` (at one of Opus's rates) from FFmpeg's libopus encoder at
    ``bitrate`` bits/s (constrained VBR, as opusenc --cvbr)."""
    import av

    out = io.BytesIO()
    # pages of up to 255 packets (FFmpeg closes one each second by default: 0.3 kbit/s more)
    with av.open(out, "w", format="ogg", options={"fflags": "+bitexact", "page_duration": "20000000"}) as box:
        stream = box.add_stream("libopus", rate=item.sample_rate)
        stream.bit_rate, stream.layout, stream.format = bitrate, _LAYOUTS[item.frames.shape[1]], "s16"
        stream.options = {"vbr": "constrained"}  # variable, kept near the average asked for
        frame = _s16_frame(item.frames, item.sample_rate)
        frame.pts = 0
        box.mux(stream.encode(frame))
        box.mux(stream.encode(None))
    return out.getvalue()


def _lame(item: Audio, vbr_quality: float) -> bytes:
    """An MP3 file of ``item`` (mono or stereo) from FFmpeg's libmp3lame in VBR mode at LAME's
    ``vbr_quality`` (0 best .. 10), with the LAME/Xing frame that gapless decoders (libsndfile's
    mpg123 among them) use to trim the encoder's delay and padding; no ID3 tag."""
    import av

    out = io.BytesIO()
    with av.open(out, "w", format="mp3", options={"fflags": "+bitexact", "id3v2_version": "0"}) as box:
        stream = box.add_stream("libmp3lame", rate=item.sample_rate)
        stream.layout, stream.format = _LAYOUTS[item.frames.shape[1]], "s16p"
        # FFmpeg's libmp3lame: VBR when qscale is set, at global_quality / FF_LAMBDA_SCALE (128)
        stream.options = {"flags": "+qscale", "global_quality": str(round(vbr_quality * 128))}
        frame = _s16_frame(item.frames, item.sample_rate)
        frame.pts = 0
        box.mux(stream.encode(frame))
        box.mux(stream.encode(None))
    return out.getvalue()


_LAYOUTS = {1: "mono", 2: "stereo"}


def _s16_frame(samples: np.ndarray, rate: int):
    """(frames, channels) samples as one interleaved 16-bit PyAV audio frame."""
    import av

    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(to_int16(samples).reshape(1, -1)), format="s16",
                                       layout=_LAYOUTS[samples.shape[1]])
    frame.sample_rate = rate
    return frame


def _within_full_scale(codec_id: str, item: Audio, how: str) -> str | None:
    """None, or why ``item`` cannot go through the 16-bit path (``to_int16``) that ``codec_id``
    takes ``how``: float samples beyond full scale, which it would clip."""
    if item.frames.dtype.kind != "f" or (peak := item.peak()) <= 1.0:
        return None
    return (f"{codec_id} {how} codes 16-bit samples, and this float sound peaks at {peak:.4g}, beyond full "
            "scale (1): it would be clipped; scale it into [-1, 1], or use vorbis or walloc (wav keeps it exactly)")


def to_int16(samples: np.ndarray) -> np.ndarray:
    """Any soundfile dtype (full-scale ints or [-1, 1] floats) -> int16."""
    if samples.dtype.kind == "f":
        return np.clip(np.rint(samples * 32767.0), -32768, 32767).astype(np.int16)
    return (samples.astype(np.int64) >> (8 * samples.dtype.itemsize - 16)).astype(np.int16)


def from_int16(samples: np.ndarray, dtype: str) -> np.ndarray:
    """int16 -> the full-scale representation of ``dtype`` (inverse of to_int16)."""
    dt = np.dtype(dtype)
    if dt.kind == "f":
        return (samples / 32768.0).astype(dt)
    return (samples.astype(np.int64) << (8 * dt.itemsize - 16)).astype(dt)


def resample(samples: np.ndarray, rate: int, new_rate: int) -> np.ndarray:
    """(frames, channels) at ``rate`` -> int16 at ``new_rate`` (FFmpeg swresample)."""
    import av

    resampler = av.AudioResampler(format="s16", layout=_LAYOUTS[samples.shape[1]], rate=new_rate)
    frame = _s16_frame(samples, rate)
    chunks = [f.to_ndarray().reshape(-1, samples.shape[1]) for f in resampler.resample(frame)]
    chunks += [f.to_ndarray().reshape(-1, samples.shape[1]) for f in resampler.resample(None)]
    return np.concatenate(chunks) if chunks else np.zeros((0, samples.shape[1]), np.int16)


@dataclass
class Opus(_LossyAudio):
    decode_copies: ClassVar[float] = 5.0  # other rates: a 48 kHz decode, resampled, converted
    codec_id: ClassVar[str] = "opus"
    standard: ClassVar[tuple[str, ...]] = (".opus", ".ogg")
    cpu_dependent_encode: ClassVar[bool] = True  # libopus picks its x86 SIMD kernels at run time
    format: ClassVar[str] = "OGG"
    subtype: ClassVar[str] = "OPUS"
    max_channels: ClassVar[int] = 2
    native_rates: ClassVar[tuple[int, ...]] = (8000, 12000, 16000, 24000, 48000)
    description: ClassVar[str] = ("Opus in Ogg (libopus; other rates resampled to 48 kHz and "
                                  "back); quality -> compression level, or a bitrate")
    # bits per second asked of libopus (through FFmpeg; its average over the file), which then
    # overrides quality; 0: quality sets libsndfile's compression level, as before the option
    bitrate: int = option(0, 0, 512_000, omit_default=True)

    def effective(self):
        return {"bitrate": self.bitrate} if self.bitrate else super().effective()

    def supports(self, item):
        reason = super().supports(item)
        if reason is None and (self.bitrate or item.sample_rate not in self.native_rates):
            return _within_full_scale(self.codec_id, item,
                                      "with a bitrate" if self.bitrate else f"at {item.sample_rate} Hz")
        return reason

    def encoder_version(self):
        from ..datasets.media import ffmpeg_version

        return ffmpeg_version() if self.bitrate else super().encoder_version()

    def encode(self, item):
        self.check_supports(item)
        if item.sample_rate not in self.native_rates:
            item = Audio(resample(item.frames, item.sample_rate, 48000), 48000, "PCM_16")
        if not self.bitrate:
            return super().encode(item)
        if not 6000 <= self.bitrate:
            raise UnsupportedInputError(f"opus takes a bitrate of at least 6000 bits/s, got {self.bitrate}")
        return {"DATA": fixed_ogg_serial(_libopus(item, self.bitrate))}

    def decode(self, sections, meta):
        rate = int(meta["sample_rate"])
        if rate in self.native_rates:
            return super().decode(sections, meta)
        frames = int(meta["frames"])
        inner = dict(meta, sample_rate=48000, subtype="PCM_16",
                     frames=-(-frames * 48000 // rate) + 48000)
        samples = resample(super().decode(sections, inner).frames, 48000, rate)[:frames]
        return audio_from(from_int16(samples, AUDIO_SUBTYPES.get(meta["subtype"], "int16")), meta)


@dataclass
class Vorbis(_LossyAudio):
    codec_id: ClassVar[str] = "vorbis"
    standard: ClassVar[tuple[str, ...]] = (".ogg", ".oga")
    format: ClassVar[str] = "OGG"
    subtype: ClassVar[str] = "VORBIS"
    description: ClassVar[str] = "Vorbis in Ogg (libvorbis); quality -> compression level"
    # "wav": 3 to 8 channels are in WAV/FLAC order (FL FR FC LFE BL BR...), as files give them,
    # and are put in Vorbis's order (FL FC FR BL BR... LFE) for the encoder and back after the
    # decode.  libsndfile passes them unordered, so libvorbis took a 5.1 file's last channel (BR)
    # for the LFE and low-passed it away (0 dB SNR); streams written so ("") decode as before.
    channel_order: str = option("", choices=("", "wav"), omit_default=True)

    def for_item(self, item):
        wants = "wav" if 3 <= item.frames.shape[1] <= 8 else ""
        return dataclasses.replace(self, channel_order=wants) if wants != self.channel_order else self

    def encode(self, item):
        if self.channel_order and item.frames.shape[1] in VORBIS_ORDER:
            item = Audio(item.frames[:, VORBIS_ORDER[item.frames.shape[1]]], item.sample_rate, item.subtype)
        return super().encode(item)

    def decode(self, sections, meta):
        audio = super().decode(sections, meta)
        order = VORBIS_ORDER.get(audio.frames.shape[1]) if self.channel_order else None
        if order is None:
            return audio
        return audio_from(np.ascontiguousarray(audio.frames[:, np.argsort(order)]), meta)


# Vorbis I's channel order (spec 4.3.9) from WAV's default one: the WAV channel each Vorbis
# position takes, for 3 to 8 channels
VORBIS_ORDER = {3: [0, 2, 1], 4: [0, 1, 2, 3], 5: [0, 2, 1, 3, 4], 6: [0, 2, 1, 4, 5, 3],
                7: [0, 2, 1, 5, 6, 4, 3], 8: [0, 2, 1, 6, 7, 4, 5, 3]}


@dataclass
class MP3(_LossyAudio):
    codec_id: ClassVar[str] = "mp3"
    standard: ClassVar[tuple[str, ...]] = (".mp3",)
    format: ClassVar[str] = "MP3"
    subtype: ClassVar[str] = "MPEG_LAYER_III"
    rates: ClassVar[tuple[int, ...]] = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
    max_channels: ClassVar[int] = 2
    description: ClassVar[str] = ("MP3 (LAME); quality -> compression level (mono, through libsndfile), "
                                  "or LAME's VBR quality 10 (1 - q/100) (stereo, through FFmpeg)")

    def compression_level(self):
        return min(super().compression_level(), 0.999)  # libsndfile refuses MP3 at 1.0, at every rate

    def supports(self, item):
        reason = super().supports(item)
        if reason is None and item.channels > 1:
            return _within_full_scale(self.codec_id, item, "in stereo")
        return reason

    def encode(self, item):
        # libsndfile 1.2.2's encoder mixes up stereo (each channel at about 0 dB SNR, measured),
        # so a stereo sound goes through FFmpeg's libmp3lame; libsndfile decodes both
        self.check_supports(item)
        self._stereo = item.frames.shape[1] > 1
        if not self._stereo:
            return super().encode(item)
        return {"DATA": _lame(item, 10 * self.compression_level())}

    def encoder_version(self):
        from ..datasets.media import ffmpeg_version

        return ffmpeg_version() if getattr(self, "_stereo", False) else super().encoder_version()
