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
    """FLAC, and float sound (``float_bits``): 16- or 24-bit PCM in disguise as its integers,
    any other float32 or float64 sound as integers through FLAC plus what they leave out;
    32-bit integer sound as its top 24 bits and its low bytes apart (``split32``); integer
    sound of few values as their ranks (``ranks``).  Sound of
    more than 8 channels (FLAC's most: polyphonic field recorders, ambisonics, 7.1.4 beds) as
    FLAC files of GROUP channels in order, the last the rest, each preceded in DATA by its
    length (u64 LE); implied by the channel count (no stream of more than 8 channels was ever
    written otherwise)."""

    codec_id: ClassVar[str] = "flac"
    standard: ClassVar[tuple[str, ...]] = (".flac",)
    lossless: ClassVar[bool] = True
    format: ClassVar[str] = "FLAC"
    subtypes: ClassVar[tuple[str, ...]] = ("PCM_S8", "PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE")
    description: ClassVar[str] = "FLAC lossless (libFLAC level 8); float, 32-bit and many-channel sound too"
    # FLOAT sound (float32) whose every sample is a whole multiple of 2**(1 - bits) in [-1, 1),
    # as 16- or 24-bit sound a converter or a DAW saved as float is (16, 24): coded as those
    # integers, divided back (exactly: a power of two) on decode.  Any other float32 sound, NaN
    # and infinities included (32): 24-bit integers through FLAC and a section XTRA with what
    # they leave out (``split_float``).  Written only for float sound; DOUBLE sound (float64)
    # takes the same ways where every value is a float32 (converted back on decode, exactly).
    # DOUBLE sound of other values (64): the same two ways with float64's 53-bit mantissa.
    float_bits: int = field(default=0, metadata={"omit_default": True, "choices": (0, 16, 24, 32, 64)})
    # PCM_32 sound (libFLAC through libsndfile stops at 24 bits): its top 24 bits through FLAC,
    # its low bytes in a section XTRA (one zstd frame: nothing much where they are padding).
    split32: bool = field(default=False, metadata={"omit_default": True})
    # 16-, 24- or 32-bit sound on a coarse grid of its own (16-bit sound after a gain, saved at
    # 24 bits; 8-bit sound after a gain at 16; ``_sparse``): each sample's rank among its
    # distinct values through FLAC (as 24-bit integers), the values in a section XTRA
    # (``to_ranks``; float32's rank way): the ranks are the original integers again where a
    # gain spread them out.  Set by ``for_item`` where the sound is that sparse and it pays.
    ranks: bool = field(default=False, metadata={"omit_default": True})

    def __post_init__(self):
        if self.float_bits not in (0, 16, 24, 32, 64):
            raise ValueError(f"flac float_bits must be 0, 16, 24, 32 or 64, got {self.float_bits!r}")

    def for_item(self, item):
        """Float sound's float_bits from its samples, unless the user gave one (``-O``); for
        integer sound split32 (32-bit) or ranks (where ``_sparse`` finds a candidate and it codes
        smaller: the piano clip of the shared set is sparse enough, and 24% larger by rank)."""
        if isinstance(item, Audio) and item.subtype in _FLOATS and not self.float_bits:
            frames = _float32(item.frames)
            return dataclasses.replace(self, float_bits=64 if frames is None else _pcm_bits(frames) or 32)
        if not isinstance(item, Audio) or item.subtype not in _RANKED or self.ranks:
            return self
        plain = dataclasses.replace(self, split32=item.subtype == "PCM_32")
        if _sparse(item):  # a candidate: the rank way where it codes smaller
            ranked = dataclasses.replace(self, ranks=True)
            sizes = [sum(map(len, codec.encode(item).values())) for codec in (ranked, plain)]
            return ranked if sizes[0] < sizes[1] else plain
        return plain

    def supports(self, item):
        reason = super().supports(item)
        if reason is None and self.ranks and item.subtype not in _RANKED:
            return f"flac ranks is for {', '.join(_RANKED)} sound, not {item.subtype}"
        if reason is None and item.subtype in _FLOATS:
            if self.float_bits == 64:
                return None if item.subtype == "DOUBLE" else "flac float_bits=64 is for float64 sound"
            frames = _float32(item.frames)
            if frames is None:
                return None if not self.float_bits else f"flac float_bits={self.float_bits} needs float32 values"
            if self.float_bits in (16, 24) and not 0 < _pcm_bits(frames) <= self.float_bits:
                return f"flac float_bits={self.float_bits} does not fit this sound's samples"
        return reason

    def write_args(self, item):
        subtype = {"PCM_S8": "PCM_16", "PCM_U8": "PCM_16", "PCM_32": "PCM_24"}.get(item.subtype, item.subtype)
        bits = 24 if self.ranks else min(self.float_bits, 24)
        return {"subtype": f"PCM_{bits}" if bits else subtype, "compression_level": 1.0}

    def encode(self, item):
        if self.ranks:
            self.check_supports(item)
            ranked = to_ranks(item.frames.astype(np.int32, copy=False).reshape(-1))
            if ranked is None:
                raise UnsupportedInputError("flac ranks: the sound has more than 2**24 distinct values")
            return self._flac(item, (ranked[0] << 8).reshape(item.frames.shape)) | {"XTRA": ranked[1]}
        if item.subtype == "PCM_32":
            self.check_supports(item)
            if not self.split32:  # (``for_item`` sets it)
                raise UnsupportedInputError("flac codes 32-bit sound with split32")
            low = (item.frames & 0xFF).astype(np.uint8)
            return self._flac(item, item.frames & ~np.int32(0xFF)) | {"XTRA": _zstd(low.tobytes())}
        if item.subtype not in _FLOATS:
            self.check_supports(item)
            return self._flac(item, item.frames)
        self.check_supports(item)
        if not self.float_bits:  # (``for_item`` sets it)
            raise UnsupportedInputError("flac codes float sound with float_bits 16, 24, 32 or 64")
        frames = item.frames if self.float_bits == 64 else _float32(item.frames)
        if self.float_bits >= 32:
            return min((self._flac(item, ints) | {"XTRA": xtra} for ints, xtra in split_float(frames)),
                       key=lambda sections: sum(map(len, sections.values())))
        # left-justified int32, as libsndfile takes integers for any PCM width (exact in float32:
        # a power of two times at most 24 significant bits)
        return self._flac(item, (frames * np.float32(2.0 ** 31)).astype(np.int32))

    def _flac(self, item: Audio, ints: np.ndarray) -> dict[str, bytes]:
        """DATA: one FLAC file, or length-prefixed ones of GROUP channels each."""
        files = []
        for start in range(0, ints.shape[1], GROUP):
            out = io.BytesIO()
            sf.write(out, ints[:, start:start + GROUP], item.sample_rate, format=self.format, **self.write_args(item))
            files.append(out.getvalue())
        if len(files) == 1:
            return {"DATA": files[0]}
        return {"DATA": b"".join(len(f).to_bytes(8, "little") + f for f in files)}

    def _read(self, sections, meta) -> Audio:
        """The samples of DATA as the header's ``meta`` describes them (``_flac``'s layout)."""
        channels = int(meta["channels"])
        if channels <= GROUP:
            return super().decode(sections, meta)
        limits.check_samples(int(meta["frames"]), channels)
        data, at, parts = memoryview(section(sections, "DATA", self.codec_id)), 0, []
        for start in range(0, channels, GROUP):
            size = int.from_bytes(data[at:at + 8], "little")
            if at + 8 + size > len(data):
                raise CorruptStreamError("flac: a channel group runs past the payload")
            part = {**meta, "channels": min(GROUP, channels - start)}
            parts.append(super().decode({"DATA": data[at + 8:at + 8 + size]}, part).frames)
            at += 8 + size
        if at != len(data):
            raise CorruptStreamError("flac: bytes after the last channel group")
        return audio_from(np.hstack(parts), meta)

    def _ints(self, sections, meta, bits: int = 24) -> np.ndarray:
        """DATA's samples as left-justified int32, refused where they are finer than ``bits``
        (the 24 bits every way but plain PCM writes, or float_bits 16's 16)."""
        ints = self._read(sections, {**meta, "subtype": "PCM_32"}).frames
        if np.any(ints & ((1 << (32 - bits)) - 1)):
            raise CorruptStreamError(f"flac: samples finer than {bits} bits")
        return ints

    def standard_file(self, data, ext, meta):
        """DATA as a .flac file, where it is one that holds the sound (float_bits 16 and 24:
        the same values as integers; ranks: None, the decoded values); refused where the sound
        needs more."""
        if int(meta["channels"]) > GROUP:
            raise UnsupportedInputError(f"a .flac file holds at most {GROUP} channels, this sound has "
                                        f"{meta['channels']}: write .omc or .wav")
        if self.split32 or self.float_bits >= 32:
            what = "32-bit integers" if self.split32 else f"float{self.float_bits} values"
            raise UnsupportedInputError(f"a .flac file holds at most 24 bits a sample: this sound's {what} would "
                                        "lose their low bits: write .omc or .wav")
        return None if self.ranks else data  # ranks: the values, written as FLAC by libsndfile

    def decode_memory(self, meta, item_bytes):
        """float_bits 32 and ranks: the integers as read (two copies), shifted, their magnitudes
        or ranks and the floats or values, each int32 (tests/api/test_memory.py); more than 8
        channels: the groups, then joined."""
        int32_bytes = item_bytes * 4 // np.dtype(AUDIO_SUBTYPES.get(meta.get("subtype"), "int32")).itemsize
        working = 3 * max(int32_bytes, item_bytes) if self.float_bits >= 32 or self.ranks else 0
        return super().decode_memory(meta, item_bytes) + working + (item_bytes if int(meta["channels"]) > GROUP else 0)

    def decode(self, sections, meta):
        if self.ranks:
            if meta.get("subtype") not in _RANKED or self.split32 or self.float_bits:
                raise CorruptStreamError("flac: ranks is for 16-, 24- or 32-bit sound alone")
            ints = self._ints(sections, meta)
            values = from_ranks((ints >> 8).reshape(-1), section(sections, "XTRA", self.codec_id))
            dtype = np.dtype(AUDIO_SUBTYPES[meta["subtype"]])
            if (values.size and (values.min() < np.iinfo(dtype).min or values.max() > np.iinfo(dtype).max)
                    or meta["subtype"] == "PCM_24" and np.any(values & 0xFF)):
                raise CorruptStreamError(f"flac: a value {meta['subtype']} cannot hold")
            return audio_from(values.astype(dtype).reshape(ints.shape), meta)
        if self.split32 != (meta.get("subtype") == "PCM_32"):
            raise CorruptStreamError("flac: split32 is for 32-bit sound, and 32-bit sound has it")
        if self.split32:
            ints = self._ints(sections, meta)
            low = np.frombuffer(_unzstd(section(sections, "XTRA", self.codec_id), ints.size), np.uint8)
            return audio_from(ints | low.reshape(ints.shape), meta)
        if not self.float_bits or meta.get("subtype") not in _FLOATS:
            if self.float_bits:
                raise CorruptStreamError("flac: float_bits is for float sound")
            return self._read(sections, meta)
        ints = self._ints(sections, meta, min(self.float_bits, 24))
        if self.float_bits == 64 and meta["subtype"] != "DOUBLE":
            raise CorruptStreamError("flac: float_bits 64 is for float64 sound")
        if self.float_bits >= 32:
            frames = join_float(ints >> 8, section(sections, "XTRA", self.codec_id),
                                "float64" if self.float_bits == 64 else "float32")
        else:
            frames = ints.astype(np.float32) / np.float32(2.0 ** 31)
        return audio_from(frames.astype(AUDIO_SUBTYPES[meta["subtype"]], copy=False), meta)


_FLOATS = ("FLOAT", "DOUBLE")
_RANKED = ("PCM_16", "PCM_24", "PCM_32")  # subtypes the rank way may take (``ranks``)
GROUP = 8  # libFLAC's most channels: more go in groups of this many


def _sparse(item: Audio) -> bool:
    """Whether integer sound may be on a coarse grid of its own, as a gain or a smaller depth
    leaves it (a candidate for ``ranks``): its distinct values (at most 2**24) each used twice
    or more on average (so few samples are not taken for few values) and half the gaps between
    them at least 4 of its depth's steps (2**8 for PCM_24; natural sound is dense where it is
    busiest).  First on 2**18 samples spread over it (cheap: most sound fails there), then on
    all of it."""
    flat = item.frames.reshape(-1)
    if not 0 < flat.size <= _RANK_MAX_SAMPLES:
        return False
    step = 256 if item.subtype == "PCM_24" else 1
    for x in (flat[:: max(1, flat.size >> 18)], flat):
        values = np.unique(x)
        if not 2 <= values.size <= min(1 << 24, x.size // 2):  # (one value, silence: nothing to rank)
            return False
        if np.median(np.diff(values.astype(np.int64))) < 4 * step:
            return False
    return True


def _float32(frames: np.ndarray) -> np.ndarray | None:
    """Float sound as float32: itself, or a float64 sound's copy where every value is a float32
    (bit for bit: -0.0 too), else None."""
    if frames.dtype == np.float32:
        return frames
    flat = frames.reshape(-1)
    for start in range(0, flat.size, 1 << 20):
        x = flat[start:start + (1 << 20)]
        if not np.array_equal(x.astype(np.float32).astype(np.float64).view(np.int64), x.view(np.int64)):
            return None
    return frames.astype(np.float32)


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


# ------------------------------------------------- float32 sound of any values (float_bits 32)
# Two ways to turn float32 samples into 24-bit integers for FLAC, and the section XTRA that
# gives the floats back from them (the encoder keeps the smaller whole):
#   mantissa (XTRA = 1, int16 s, a zstd frame): each sample's magnitude scaled by 2**s (s puts
#     all but the loudest 1/65536, or 16, below 2**23) and cut to an integer I, as WavPack
#     codes float; the bits the cut drops (k = 24 - bit length of |I|: what a float's 24-bit
#     mantissa holds beyond I) packed MSB first in 2**14-sample chunks, each padded to a byte,
#     then the float32 bits of every sample whose I is 0 (silence, -0.0, the quietest, and
#     those too loud for 24 bits, NaN and inf): sound processed in float (mixes, EQ,
#     resampling, reverb, fades), whose low mantissa bits are noise.
#   rank (XTRA = 2, uint32 D, a zstd frame): the sorted distinct values, and each sample as its
#     rank among them (minus D // 2): integer PCM scaled by a gain, whose values are few and
#     whose ranks are the original integers again where it used them all.
_FLOAT_CHUNK = 1 << 14
_RANK_MAX_SAMPLES = 1 << 26  # ranks sort every sample (16 bytes each): longer sound skips them


def split_float(frames: np.ndarray):
    """(left-justified int32 for a PCM_24 FLAC, XTRA) of float32 or float64 ``frames`` by each
    way that applies (see above)."""
    flat = frames.reshape(-1)
    width = flat.dtype.itemsize
    bits = flat.view(f"i{width}")
    keys = np.where(bits < 0, ~(bits & np.iinfo(bits.dtype).max), bits)  # float order as int order, -0.0 < 0.0
    if flat.size <= _RANK_MAX_SAMPLES and 4 * np.unique(keys[:1 << 20]).size <= 3 * min(flat.size, 1 << 20):
        ranked = to_ranks(keys)
        if ranked is not None:
            yield (ranked[0] << 8).reshape(frames.shape), ranked[1]
    s, digits = _float_scale(flat), _MANTISSA[width]
    mags, tails, zeros = np.empty(flat.size, np.int32), [], []
    for start in range(0, flat.size, _FLOAT_CHUNK):
        x = np.abs(flat[start:start + _FLOAT_CHUNK].astype(np.float64))
        mag = np.floor(np.fmin(np.ldexp(x, s), 2.0 ** 23)).astype(np.int64)  # NaN, inf: 2**23, kept whole
        k = _tail_bits(mag, digits)
        tail = np.ldexp(x, s + k) - np.ldexp(mag.astype(np.float64), k)  # exact: below 2**53
        exact = (mag < 1 << 23) & (tail == np.floor(tail)) & (tail < np.ldexp(1.0, k))
        mag, k = np.where(exact, mag, 0), np.where(exact, k, 0)
        mags[start:start + x.size] = mag
        tails.append(_pack_tails(np.where(mag > 0, tail, 0).astype(np.int64), k, digits))
        zeros.append(flat[start:start + x.size][mag == 0].astype(f"<f{width}").tobytes())
    ints = np.where(np.signbit(flat), -mags, mags) << 8
    yield ints.reshape(frames.shape), b"\x01" + int(s).to_bytes(2, "little", signed=True) + _zstd(
        b"".join(tails) + b"".join(zeros))


def to_ranks(keys: np.ndarray) -> tuple[np.ndarray, bytes] | None:
    """(each int32 or int64 key's rank among the distinct keys, minus D // 2; the XTRA that
    gives the keys back: byte 2, uint32 D, one zstd frame of the sorted keys' differences (as
    unsigned, from the key -2**31 or -2**63) in four or eight byte planes), or None where there
    are more than 2**24 distinct keys."""
    width = keys.dtype.itemsize
    values = np.unique(keys)
    if values.size > 1 << 24:
        return None
    ranks = np.searchsorted(values, keys).astype(np.int32) - values.size // 2
    offset = values.view(f"u{width}") ^ np.array(1 << (8 * width - 1), f"u{width}")
    steps = np.diff(offset, prepend=offset.dtype.type(0)).astype(f"<u{width}")
    table = _zstd(steps.view(np.uint8).reshape(-1, width).T.tobytes())
    return ranks, b"\x02" + int(values.size).to_bytes(4, "little") + table


def from_ranks(flat: np.ndarray, xtra: bytes, width: int = 4) -> np.ndarray:
    """The int32 (``width`` 4) or int64 (8) keys ``to_ranks`` made the ranks ``flat`` and
    ``xtra`` from; CorruptStreamError where they disagree."""
    d = int.from_bytes(xtra[1:5], "little") if len(xtra) >= 5 else 0
    ranks = flat + d // 2
    if not 0 < d <= min(flat.size, 1 << 24) or (flat.size and (ranks.min() < 0 or ranks.max() >= d)):
        raise CorruptStreamError("flac: a rank out of its table")
    planes = np.frombuffer(_unzstd(xtra[5:], width * d), np.uint8).reshape(width, d)
    offset = np.cumsum(planes.T.copy().view(f"<u{width}").ravel(), dtype=np.uint64)  # a wrap goes down
    if np.any(offset[1:] <= offset[:-1]) or offset[-1] >> np.uint64(8 * width - 1) > 1:
        raise CorruptStreamError("flac: the value table is not sorted")
    keys = (offset.astype(f"u{width}") ^ np.array(1 << (8 * width - 1), f"u{width}")).view(f"i{width}")
    return keys[ranks]


def _float_scale(flat: np.ndarray) -> int:
    """s such that |x| * 2**s < 2**23 for all but 1 in 65536 of the samples, or 16 (the loudest,
    kept whole with the zeros: a glitch of 1e30 does not push the rest of the sound to zero)."""
    # frexp's exponents, float32: -148 to 128 (at +150), float64: -1073 to 1024 (at +1075)
    low, high = (150, 128) if flat.dtype == np.float32 else (1075, 1024)
    counts = np.zeros(low + high + 2, np.int64)
    for start in range(0, flat.size, 1 << 20):
        counts += np.bincount(np.frexp(flat[start:start + (1 << 20)])[1] + low, minlength=counts.size)
    above = np.cumsum(counts[::-1])[::-1]  # samples with an exponent of at least each
    found = np.flatnonzero(above > max(16, flat.size >> 16))
    return 23 - (int(found[-1] if found.size else np.flatnonzero(counts)[-1]) - low)


def join_float(ints: np.ndarray, xtra: bytes, dtype: str = "float32") -> np.ndarray:
    """The float32 (or float64) samples ``split_float`` made ``ints`` (right-justified) and
    ``xtra`` from; CorruptStreamError where they disagree."""
    xtra, flat, width = bytes(xtra), ints.reshape(-1), np.dtype(dtype).itemsize
    if xtra[:1] == b"\x02":
        keys = from_ranks(flat, xtra, width)
        sign = np.array(-(1 << (8 * width - 1)), keys.dtype)
        return np.where(keys < 0, ~keys | sign, keys).view(dtype).reshape(ints.shape)
    if xtra[:1] != b"\x01" or len(xtra) < 3:
        raise CorruptStreamError("flac: unknown float layout")
    s, digits = int.from_bytes(xtra[1:3], "little", signed=True), _MANTISSA[width]
    mags = np.abs(flat)
    chunks = range(0, flat.size, _FLOAT_CHUNK)
    sizes = [-(-int(_tail_bits(mags[start:start + _FLOAT_CHUNK], digits).sum()) // 8) for start in chunks]
    zeros = int(np.count_nonzero(mags == 0))
    payload = _unzstd(xtra[3:], sum(sizes) + width * zeros)
    out, at = np.empty(flat.size, dtype), 0
    for start, size in zip(chunks, sizes):
        mag = mags[start:start + _FLOAT_CHUNK].astype(np.int64)
        k = _tail_bits(mag, digits)
        tail = _unpack_tails(np.frombuffer(payload, np.uint8, size, at), k, digits)
        x = np.ldexp((mag << k | tail).astype(np.float64), -(s + k)).astype(dtype)
        out[start:start + k.size] = np.where(flat[start:start + k.size] < 0, -x, x)
        at += size
    out[mags == 0] = np.frombuffer(payload, f"<f{width}", zeros, at)
    return out.reshape(ints.shape)


_MANTISSA = {4: 24, 8: 53}  # significant bits of a float32's and a float64's mantissa


def _tail_bits(mag: np.ndarray, digits: int = 24) -> np.ndarray:
    """Bits of a float's ``digits``-bit mantissa beyond the integer ``mag`` (> 0; 0 for 0):
    ``digits`` - its length."""
    return np.where(mag > 0, digits - np.frexp(mag.astype(np.float64))[1], 0)


def _pack_tails(tail: np.ndarray, k: np.ndarray, digits: int = 24) -> bytes:
    """``tail[i]``'s low ``k[i]`` bits (k < ``digits``), MSB first, back to back, padded to a byte."""
    shift = k[:, None] - 1 - np.arange(digits - 1, dtype=np.int64)
    bits = (tail[:, None] >> np.maximum(shift, 0)) & 1
    return np.packbits(bits[shift >= 0].astype(np.uint8)).tobytes()


def _unpack_tails(packed: np.ndarray, k: np.ndarray, digits: int = 24) -> np.ndarray:
    bits = np.unpackbits(packed).astype(np.int64)
    at = (np.cumsum(k) - k)[:, None] + np.arange(digits - 1)
    shift = k[:, None] - 1 - np.arange(digits - 1)
    taken = np.where(shift >= 0, bits[np.where(shift >= 0, at, 0)] if bits.size else 0, 0)
    return (taken << np.maximum(shift, 0)).sum(axis=1)


def _zstd(data: bytes) -> bytes:
    import zstandard

    return zstandard.ZstdCompressor(level=19).compress(data)


def _unzstd(data: bytes, size: int) -> bytes:
    import zstandard

    from .generic import zstd_frame

    try:
        out = zstd_frame(data, size)
    except zstandard.ZstdError:
        out = b""
    if len(out) != size:
        raise CorruptStreamError("flac: section XTRA is damaged")
    return out


@dataclass
class WAV(_SndfileCodec):
    codec_id: ClassVar[str] = "wav"
    standard: ClassVar[tuple[str, ...]] = (".wav",)
    lossless: ClassVar[bool] = True
    format: ClassVar[str] = "WAV"
    uncompressed: ClassVar[bool] = True
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
