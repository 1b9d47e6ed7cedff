import io
import warnings

import numpy as np
import pytest

import omnicodec
from omnicodec import api

from ..common import VERSIONS, make_audio, peak_growth
from .checklist import check_fixture, check_quality_monotone, run_checklist


@pytest.mark.parametrize("codec_id", ["flac", "wav"])
@pytest.mark.parametrize("subtype,channels", [("PCM_16", 1), ("PCM_16", 2), ("PCM_24", 2), ("PCM_24", 12)])
def test_lossless_roundtrip(codec_id, subtype, channels):
    run_checklist(codec_id, make_audio(channels=channels, subtype=subtype))


@pytest.mark.parametrize("codec_id,rate", [("opus", 48000), ("opus", 44100), ("vorbis", 44100),
                                           ("mp3", 44100)])
def test_lossy_roundtrip(codec_id, rate):
    channels = 1 if codec_id == "mp3" else 2
    run_checklist(codec_id, make_audio(frames=rate // 2, rate=rate, channels=channels), min_psnr=30)


@pytest.mark.parametrize("codec_id", ["opus", "vorbis", "mp3"])
def test_quality_knob(codec_id):
    check_quality_monotone(codec_id, make_audio(frames=48000, rate=48000))


@pytest.mark.parametrize("codec_id", ["flac", "wav", "opus", "vorbis", "mp3"])
def test_fixture(codec_id):
    for version in VERSIONS:
        check_fixture(codec_id, make_audio(frames=2400, rate=48000), version)


@pytest.mark.parametrize("codec_id", ["flac", "wav", "opus", "vorbis", "mp3"])
def test_header_claiming_more_frames_than_the_payload_is_refused_without_allocating(codec_id):
    """A 2 kB stream whose header claims 2**28 frames (within the caps and the memory limit)
    was zero-padded to 1 GiB."""

    import omnicodec
    from omnicodec import container
    from omnicodec.errors import CorruptStreamError

    channels = 1 if codec_id == "mp3" else 2
    box = container.unpack(omnicodec.encode(make_audio(frames=2400, rate=48000, channels=channels), codec_id))
    box.header.meta["frames"] = 1 << 28
    def attempt():
        with pytest.raises(CorruptStreamError, match="frames"):
            omnicodec.decode(container.pack(box.header, box.sections))

    assert peak_growth(attempt) < 200_000 * 1024


def test_opus_bitrate_fixture():
    """Opus at a bitrate (libopus through FFmpeg) is its own encoder path: its own fixture."""
    import omnicodec

    check_fixture("opus", make_audio(frames=2400, rate=48000), "v2-bitrate",
                  codec=omnicodec.get_codec("opus", bitrate=24000))


@pytest.mark.parametrize("channels, rate, target", [(1, 44100, 32000), (2, 48000, 64000), (1, 16000, 16000)])
def test_opus_meets_the_bitrate_asked_for(channels, rate, target):
    """On 10 s of a tone with noise, the Opus packets' rate within 3% of the target and the
    whole Ogg file's (pages and headers: about 0.4 kbit/s more) within 5%, as ``-b:a`` means
    in ffmpeg; the file decodes to as many frames, at the original rate."""
    import io

    import av

    import omnicodec
    from omnicodec import container

    audio = make_audio(frames=10 * rate, rate=rate, channels=channels)
    codec = omnicodec.get_codec("opus", bitrate=target)
    blob = omnicodec.encode(audio, codec)
    ogg = container.unpack(blob).sections["DATA"]
    packets = sum(p.size for p in av.open(io.BytesIO(ogg)).demux(audio=0))
    assert abs(8 * packets / 10 / target - 1) < 0.03 and abs(8 * len(ogg) / 10 / target - 1) < 0.05
    back = omnicodec.decode(blob)
    assert back.sample_rate == rate and back.frames.shape == audio.frames.shape
    assert codec.effective() == {"bitrate": target}
    with pytest.raises(ValueError, match="at least 6000"):
        omnicodec.encode(audio, omnicodec.get_codec("opus", bitrate=5000))


@pytest.mark.parametrize("codec_id", ["opus", "vorbis", "mp3"])
def test_the_whole_quality_range_encodes(codec_id):
    """Quality 0 and 100 are valid settings (libsndfile refuses MP3 at compression level 1.0,
    which quality 0 once asked for)."""
    item = make_audio(frames=8000, rate=16000)
    sizes = [len(omnicodec.encode(item, codec_id, q)) for q in (0, 100)]
    assert sizes[0] < sizes[1]


@pytest.mark.parametrize("codec_id", ["opus", "vorbis", "mp3"])
def test_stereo_keeps_each_channel(codec_id):
    """Two different signals come back each in its own channel, better at a higher quality (the
    SNR is measured per channel: libsndfile's stereo MP3 encoder once gave 0 dB)."""
    import numpy as np

    rate = 48000
    t = np.arange(rate) / rate
    left = np.sin(2 * np.pi * 440 * t) * 8000
    right = np.sin(2 * np.pi * 1250 * t + 1) * 6000 * np.exp(-2 * t)
    from omnicodec.items import Audio

    item = Audio(np.stack([left, right], 1).astype(np.int16), rate)
    snrs = []
    for q in (25, 75):
        got = omnicodec.decode(omnicodec.encode(item, codec_id, q)).samples.astype(float)
        snrs.append([10 * np.log10(np.sum(s ** 2) / np.sum((s - got[:, c]) ** 2)) for c, s in enumerate((left, right))])
    assert min(snrs[1]) > 15 and all(b >= a for a, b in zip(*snrs)), snrs


def test_stereo_mp3_fixture():
    check_fixture("mp3", make_audio(frames=4800, rate=48000, channels=2), "v3-stereo")


def test_surround_vorbis_keeps_every_channel():
    """A 5.1 sound in WAV order (FL FR FC LFE BL BR) comes back with each channel in place: the
    LFE (low frequencies) coarser, the others at full quality (libvorbis once took BR for the LFE)."""
    import numpy as np

    from omnicodec.items import Audio

    t = np.arange(48000) / 48000
    waves = [np.sin(2 * np.pi * (50 if c == 3 else 300 + 150 * c) * t) * 5000 for c in range(6)]
    item = Audio(np.stack(waves, 1).astype(np.int16), 48000)
    header, back = omnicodec.decode_with_header(omnicodec.encode(item, "vorbis", 60))
    got = back.samples.astype(float)
    snr = [10 * np.log10(np.sum(w ** 2) / np.sum((w - got[:, c]) ** 2)) for c, w in enumerate(waves)]
    assert header.config["channel_order"] == "wav" and min(snr[:3] + snr[4:]) > 30 and snr[3] > 10, snr


def test_surround_vorbis_fixture():
    check_fixture("vorbis", make_audio(frames=480, rate=48000, channels=6), "v3-51")


@pytest.mark.parametrize("codec_id, options, rate, channels", [("opus", {"bitrate": 64000}, 48000, 1),
                                                               ("opus", {}, 44100, 1), ("mp3", {}, 44100, 2)])
def test_float_audio_beyond_full_scale_is_refused_where_the_codec_goes_through_16_bits(codec_id, options,
                                                                                        rate, channels):
    """Opus with a bitrate or at a rate it resamples, and stereo MP3, go through 16-bit samples:
    a float sound peaking at 1.5 came back clipped at 1, silently.  Now one line says so; the
    same sound within full scale still encodes, and so does the loud one through libsndfile's
    own float paths (mono MP3 here), which keep it."""
    from omnicodec.items import Audio

    t = np.arange(rate // 2) / rate
    wave = np.repeat(np.sin(2 * np.pi * 440 * t)[:, None], channels, 1).astype(np.float32)
    with pytest.raises(omnicodec.errors.UnsupportedInputError, match="peaks at 1.5, beyond full scale"):
        omnicodec.encode(Audio(1.5 * wave, rate, "FLOAT"), omnicodec.get_codec(codec_id, 50, **options))
    assert omnicodec.encode(Audio(wave, rate, "FLOAT"), omnicodec.get_codec(codec_id, 50, **options))
    mono = omnicodec.decode(omnicodec.encode(Audio(1.5 * wave[:, :1], rate, "FLOAT"), "mp3", 50)).frames
    assert np.abs(mono).max() > 1.4


@pytest.mark.parametrize("codec_id", ["opus", "vorbis", "mp3", "walloc"])
def test_lossy_codecs_refuse_nan_or_infinite_samples(codec_id):
    """NaN and infinite floats: vorbis dropped them silently, LAME (mono MP3) aborted the whole
    process on an assertion, walloc raised a linear-algebra error; now one line."""
    from omnicodec.items import Audio

    x = (0.5 * np.sin(np.arange(8000) / 10)).astype(np.float32)[:, None]
    x[100] = np.nan if codec_id != "vorbis" else np.inf
    with pytest.raises(omnicodec.errors.UnsupportedInputError, match="NaN or infinite"):
        omnicodec.encode(Audio(x, 44100, "FLOAT"), omnicodec.get_codec(codec_id, 50))


def test_float_sound_that_is_16_or_24_bit_pcm_goes_to_flac_exactly():
    """Float WAVs saved from 16- or 24-bit sound (converters, DAWs) were stored raw by the
    default (wav: FLAC refused FLOAT); FLAC codes their integers and gives the same float32
    samples back.  Float sound off those grids, or at full scale (1.0 is no 24-bit value),
    takes float_bits 32 (the next test); a stream whose payload is finer than its float_bits
    is refused."""
    from omnicodec import container
    from omnicodec.codecs.sndfile_audio import FLAC
    from omnicodec.errors import CorruptStreamError

    t = np.arange(20000) / 16000
    blobs = {}
    for bits in (16, 24):
        k = np.round(np.sin(2 * np.pi * 440 * t)[:, None] * np.array([0.5, 0.3]) * 2 ** (bits - 1)) + 0.0  # no -0.0
        item = omnicodec.Audio((k / 2 ** (bits - 1)).astype(np.float32), 16000, "FLOAT")
        assert omnicodec.choose_codec(item).codec_id == "flac"
        blobs[bits] = omnicodec.encode(item)
        header, back = omnicodec.decode_with_header(blobs[bits])
        assert header.codec == "flac" and header.config == {"float_bits": bits}
        assert back.subtype == "FLOAT" and back.frames.dtype == np.float32 and np.array_equal(back.frames, item.frames)
        assert len(blobs[bits]) < 0.5 * len(omnicodec.encode(item, "wav"))
        if bits == 16:
            item16 = item
    for frames in (item.frames * np.float32(0.7), np.concatenate([item.frames, [[1.0, 0.0]]]).astype(np.float32),
                   np.concatenate([item.frames, [[-0.0, 0.0]]]).astype(np.float32)):  # -0.0: no integer
        other = omnicodec.Audio(frames, 16000, "FLOAT")
        assert "does not fit" in FLAC(float_bits=24).supports(other)
        assert omnicodec.choose_codec(other).for_item(other).float_bits == 32
    for asked in (24, 32):  # a user's float_bits that holds the sound is kept
        header, back = omnicodec.decode_with_header(omnicodec.encode(item16, FLAC(float_bits=asked)))
        assert header.config == {"float_bits": asked} and back.frames.tobytes() == item16.frames.tobytes()
    box = container.unpack(blobs[24])
    with pytest.raises(CorruptStreamError, match="finer than 16 bits"):
        FLAC(float_bits=16).decode(box.sections, box.header.meta)
    check_fixture("flac", omnicodec.Audio(item.frames[:2000].copy(), 16000, "FLOAT"), "v3-float24")  # frozen


def _edges(x: np.ndarray) -> np.ndarray:
    """``x`` with the floats a split into integers can get wrong: both zeros, denormals, the
    smallest normal, values far above 1 and the largest float32."""
    x = x.copy()
    tiny = np.finfo(np.float32).tiny
    edges = [-0.0, 0.0, 1e-45, -3e-42, tiny, -tiny, 3e30, -np.finfo(np.float32).max, 1.0, -1.0, 2.0 ** -24]
    x[1:1 + len(edges), 0] = np.array(edges, np.float32)
    return x


def test_any_float32_sound_goes_to_flac_exactly_and_smaller_than_xz():
    """Float sound that is not integer PCM in disguise (a mix, a filter, a resampler, a fade: its
    low mantissa bits are noise) went to wav, uncompressed.  FLAC codes it as 24-bit integers
    plus the bits they leave out (the mantissa way), and integer sound times a gain (few
    distinct values) as the ranks of its values (the rank way): both give every float32
    bit pattern back, -0.0, denormals, the largest float, infinities and NaN payloads
    included, and both are smaller than xz -9e of the raw samples, which is smaller than
    what wav stores."""
    import lzma

    from omnicodec import container

    rng = np.random.default_rng(3)
    t = np.arange(30000) / 44100
    mix = np.sin(2 * np.pi * 220 * t)[:, None] * [0.5, 0.4] + 0.05 * rng.standard_normal((t.size, 2))
    gained = np.round(mix * 8000) / 32768 * 0.7  # 16-bit sound at 0.7
    for frames, way in ((_edges(mix.astype(np.float32)), 1), (_edges(gained.astype(np.float32)), 2)):
        item = omnicodec.Audio(frames, 44100, "FLOAT")
        blob = omnicodec.encode(item)
        box = container.unpack(blob)
        assert box.header.codec == "flac" and box.header.config == {"float_bits": 32}
        assert box.sections["XTRA"][0] == way
        back = omnicodec.decode(blob)
        assert back.subtype == "FLOAT" and back.frames.tobytes() == frames.tobytes()
        assert len(blob) < 0.9 * len(lzma.compress(frames.tobytes(), preset=9 | lzma.PRESET_EXTREME))
    odd = np.concatenate([mix, [[np.inf, -np.inf], [np.nan, 0.0]]]).astype(np.float32)
    odd.view(np.int32)[-1, 1] = 0x7FC0BEEF  # a NaN with a payload
    for frames in (odd, np.round(odd * 100) / 100):  # both ways keep every bit of NaN and inf
        back = omnicodec.decode(omnicodec.encode(omnicodec.Audio(frames, 44100, "FLOAT")))
        assert back.frames.tobytes() == frames.tobytes()
    check_fixture("flac", omnicodec.Audio(_edges(mix[:3000].astype(np.float32)), 44100, "FLOAT"), "v3-float32")
    check_fixture("flac", omnicodec.Audio(_edges(gained[:3000].astype(np.float32)), 44100, "FLOAT"),
                  "v3-float32-rank")


@pytest.mark.parametrize("frames", [np.zeros((5, 1)), np.full((3, 2), -0.0), np.array([[1e-45], [-1e-45]]),
                                    np.array([[3e38], [-1.0]])])
def test_both_float_ways_give_back_odd_sounds(frames):
    """Silence, negative zeros only, denormals only, a peak near the largest float: each way
    the encoder can take gives the same bits back."""
    from omnicodec.codecs.sndfile_audio import join_float, split_float

    frames = np.repeat(frames, 4, axis=0).astype(np.float32)
    ways = list(split_float(frames))
    assert len(ways) == 2  # the rank way too: few values
    for ints, xtra in ways:
        assert ints.shape == frames.shape and np.all(ints & 0xFF == 0)
        assert join_float(ints >> 8, xtra).tobytes() == frames.tobytes()


def test_a_damaged_float_section_is_refused():
    from omnicodec.codecs.sndfile_audio import join_float, split_float
    from omnicodec.errors import CorruptStreamError

    frames = (np.random.default_rng(0).standard_normal((4000, 1)) * 0.1).astype(np.float32)
    ranks, table = next(split_float(np.round(frames * 50) / 50))
    ints, tails = list(split_float(frames))[-1]
    for bad_ints, bad, match in ((ranks >> 8, b"\x07" + table[1:], "unknown float layout"),
                                 ((ranks >> 8) + 100000, table, "rank out of its table"),
                                 (ranks >> 8, table[:5] + table[5:][:-3], ""),
                                 (ints >> 8, tails[:3] + tails[3:][:-3], ""),
                                 ((ints >> 8) * 2, tails, "")):
        with pytest.raises(CorruptStreamError, match=match or None):
            join_float(bad_ints, bad)


def test_float64_sound_of_float32_values_goes_to_flac_exactly():
    """soundfile.read gives any file as float64 by default: such sound (DOUBLE) went to wav,
    8 bytes a sample.  Where every value is a float32 FLAC takes it, by the same ways as float32
    sound, and gives the float64 samples back bit for bit; other float64 sound stays with wav."""
    import soundfile as sf

    from omnicodec.codecs.sndfile_audio import FLAC

    rng = np.random.default_rng(5)
    pcm = np.round(np.sin(np.arange(12000) / 7)[:, None] * [9000, 7000] + rng.normal(0, 30, (12000, 2)))
    buf = io.BytesIO()
    sf.write(buf, pcm.astype(np.int16), 44100, format="WAV", subtype="PCM_16")
    read, _ = sf.read(io.BytesIO(buf.getvalue()), always_2d=True)  # float64, as a user gets it
    genuine = (read * 0.7 + rng.normal(0, 1e-3, read.shape)).astype(np.float32).astype(np.float64)
    genuine[3, 0] = -0.0
    for frames, bits in ((read, 16), (genuine, 32)):
        item = omnicodec.Audio(frames, 44100, "DOUBLE")
        blob = omnicodec.encode(item)
        header, back = omnicodec.decode_with_header(blob)
        assert header.codec == "flac" and header.config == {"float_bits": bits}
        assert back.subtype == "DOUBLE" and back.frames.dtype == np.float64
        assert back.frames.tobytes() == frames.tobytes()
        assert len(blob) < 0.4 * len(omnicodec.encode(item, "wav"))
    finer = omnicodec.Audio(read + 1e-12, 44100, "DOUBLE")
    assert "float32 values" in FLAC(float_bits=32).supports(finer)
    assert FLAC().for_item(finer).float_bits == 64


@pytest.mark.parametrize("way", ["processed", "gain"])
def test_any_float64_sound_goes_to_flac_exactly(way):
    """float64 sound of other values (numpy or scipy processing written as it is) went to wav or
    xz: FLAC takes it with float64's 53-bit mantissa (float_bits 64), by either way, bit for bit,
    -0.0, NaN payloads, infinities and denormals included."""
    from omnicodec.codecs.sndfile_audio import FLAC, join_float, split_float

    rng = np.random.default_rng(9)
    t = np.arange(30000)[:, None] / 44100
    pcm = np.round(np.sin(2 * np.pi * 220 * t * [1, 1.01]) * 12000 + rng.normal(0, 40, (30000, 2))) / 32768
    frames = pcm * 0.8123 if way == "gain" else np.convolve(pcm[:, 0], [0.3, 0.5, 0.2], "same")[:, None] * [1, -0.7]
    frames = np.ascontiguousarray(frames)
    frames[:4, 0] = [-0.0, np.nan, np.inf, 5e-324]
    frames[4, 1] = np.array(0x7FF8000000000123, np.int64).view(np.float64)  # a NaN with a payload
    item = omnicodec.Audio(frames, 44100, "DOUBLE")
    blob = omnicodec.encode(item)
    header, back = omnicodec.decode_with_header(blob)
    assert header.codec == "flac" and header.config == {"float_bits": 64}
    assert back.frames.dtype == np.float64 and back.frames.tobytes() == frames.tobytes()
    assert len(blob) < {"gain": 0.3, "processed": 0.75}[way] * len(omnicodec.encode(item, "wav"))
    for ints, xtra in split_float(frames):  # both ways, wherever they apply
        assert join_float(ints >> 8, xtra, "float64").tobytes() == frames.tobytes()
    assert "float64 sound" in FLAC(float_bits=64).supports(omnicodec.Audio(frames.astype(np.float32), 44100, "FLOAT"))


def test_float64_flac_fixture():
    t = np.arange(3000)[:, None] / 44100
    frames = np.sin(2 * np.pi * 330 * t * [1, 1.5]) * 0.3 * np.exp(-t)
    check_fixture("flac", omnicodec.Audio(frames, 44100, "DOUBLE"), "v3-float64")


def test_32_bit_sound_goes_to_flac_exactly():
    """PCM_32 sound went to wav, uncompressed (libFLAC through libsndfile stops at 24 bits):
    FLAC codes its top 24 bits and its low bytes go apart, next to nothing where they are a
    24-bit recorder's padding; a stream whose FLAC payload holds more than 24 bits is refused."""
    from omnicodec import container
    from omnicodec.codecs.sndfile_audio import FLAC
    from omnicodec.errors import CorruptStreamError

    rng = np.random.default_rng(7)
    wave = np.sin(np.arange(20000) / 9)[:, None] * [0.5, 0.4] + rng.normal(0, 1e-6, (20000, 2))
    full = np.round(wave * 2 ** 31).astype(np.int32)
    padded = full & ~np.int32(0xFF)
    sizes = {}
    for name, frames in (("full", full), ("padded", padded)):
        item = omnicodec.Audio(frames, 48000, "PCM_32")
        blob = omnicodec.encode(item)
        header, back = omnicodec.decode_with_header(blob)
        assert header.codec == "flac" and header.config == {"split32": True}
        assert back.subtype == "PCM_32" and np.array_equal(back.frames, frames)
        sizes[name] = len(blob)
        assert sizes[name] < 0.6 * len(omnicodec.encode(item, "wav"))
    assert sizes["padded"] < sizes["full"] - 0.9 * full.size  # the low bytes cost almost a byte each
    box = container.unpack(omnicodec.encode(omnicodec.Audio(padded, 48000, "PCM_32")))
    with pytest.raises(CorruptStreamError, match="split32"):
        FLAC().decode(box.sections, box.header.meta)
    with pytest.raises(CorruptStreamError, match="XTRA is damaged"):
        FLAC(split32=True).decode({**box.sections, "XTRA": box.sections["XTRA"][:-2]}, box.header.meta)
    check_fixture("flac", omnicodec.Audio(full[:3000].copy(), 48000, "PCM_32"), "v3-split32")


@pytest.mark.parametrize("subtype,channels", [("PCM_16", 9), ("PCM_24", 12), ("FLOAT", 16), ("PCM_32", 10)])
def test_sound_of_more_than_8_channels_goes_to_flac_in_groups(subtype, channels):
    """More channels than FLAC's 8 (polyphonic recorders, ambisonics) went to wav, uncompressed:
    flac codes them as FLAC files of 8 channels in order, each channel back exactly; a payload
    whose groups do not add up is refused."""
    from omnicodec import container
    from omnicodec.codecs.sndfile_audio import FLAC
    from omnicodec.errors import CorruptStreamError

    base = make_audio(frames=6000, rate=48000, channels=channels, subtype="PCM_24" if subtype != "PCM_16" else subtype)
    frames = {"FLOAT": lambda f: (f >> 8).astype(np.float32) * np.float32(1.37 / 2 ** 23),
              "PCM_32": lambda f: f | np.int32(0x5A)}.get(subtype, lambda f: f)(base.frames)
    item = omnicodec.Audio(np.ascontiguousarray(frames), 48000, subtype)
    blob = omnicodec.encode(item)
    header, back = omnicodec.decode_with_header(blob)
    assert header.codec == "flac" and back.subtype == subtype
    assert back.frames.dtype == frames.dtype and back.frames.tobytes() == frames.tobytes()
    assert len(blob) < 0.8 * len(omnicodec.encode(item, "wav"))
    box = container.unpack(blob)
    codec = FLAC.from_config(box.header.config)
    data = bytes(box.sections["DATA"])
    shorter = (int.from_bytes(data[:8], "little") - 5).to_bytes(8, "little") + data[8:]
    for bad, message in ((data[:-10], "past the payload"), (data + b"\0", "after the last"), (shorter, None)):
        with pytest.raises(CorruptStreamError, match=message):
            codec.decode({**box.sections, "DATA": bad}, box.header.meta)
    with pytest.raises(CorruptStreamError):  # a header that says one channel less
        codec.decode(box.sections, {**box.header.meta, "channels": channels - 1})


def test_many_channel_flac_fixture():
    check_fixture("flac", make_audio(frames=2400, rate=48000, channels=12, subtype="PCM_24"), "v3-12ch")


def test_a_flac_file_is_refused_where_it_would_not_hold_the_sound(tmp_path):
    """``-o x.flac`` wrote the FLAC payload alone: 32-bit sound lost its low byte silently.  A
    .flac file is written where it holds the sound's values (float in 16- or 24-bit steps too),
    and refused in one line for 32-bit integers, float32 values and more than 8 channels."""
    import soundfile as sf

    from omnicodec.errors import UnsupportedInputError

    stereo = make_audio(frames=4000, rate=48000, channels=2, subtype="PCM_24").frames
    cases = {"i32.wav": (stereo | np.int32(0x11), "PCM_32", "24 bits"),
             "f32.wav": ((stereo >> 8).astype(np.float32) * np.float32(0.77 / 2 ** 23), "FLOAT", "24 bits"),
             "many.wav": (make_audio(frames=4000, rate=48000, channels=9).frames, "PCM_16", "8 channels"),
             "f64.wav": ((stereo >> 8) * (0.77 / 2 ** 23), "DOUBLE", "float64 values")}
    for name, (frames, subtype, message) in cases.items():
        src = tmp_path / name
        sf.write(src, frames, 48000, subtype=subtype)
        with pytest.raises(UnsupportedInputError, match=message):
            api.encode_file(src, tmp_path / "x.flac", allow_loss=True)
        omc, _ = api.encode_file(src)
        with pytest.raises(UnsupportedInputError, match=message):
            api.decode_file(omc, tmp_path / "x.flac", allow_loss=True)
        assert not (tmp_path / "x.flac").exists()
    grid = tmp_path / "grid.wav"  # float sound of 24-bit values: the .flac holds them
    sf.write(grid, (stereo >> 8).astype(np.float32) / np.float32(2 ** 23), 48000, subtype="FLOAT")
    api.encode_file(grid, tmp_path / "grid.flac", allow_loss=True)
    back, _ = sf.read(tmp_path / "grid.flac", dtype="float32")
    assert np.array_equal(back, sf.read(grid, dtype="float32")[0])
    # 24-bit sound by rank: a .flac of its values (not of its ranks), encoding and decoding
    gained = tmp_path / "gained.wav"
    sf.write(gained, np.round(make_audio(frames=40000, rate=48000, channels=2).frames * 204.8).astype(np.int32) << 8,
             48000, subtype="PCM_24")
    omc, header = api.encode_file(gained)
    assert header.config == {"ranks": True}
    for made in (lambda out: api.encode_file(gained, out), lambda out: api.decode_file(omc, out)):
        made(tmp_path / "values.flac")
        assert np.array_equal(sf.read(tmp_path / "values.flac", dtype="int32")[0], sf.read(gained, dtype="int32")[0])
        (tmp_path / "values.flac").unlink()


def test_sound_the_default_stores_uncompressed_goes_through_xz_where_that_is_smaller(tmp_path):
    """Sound only wav takes (more than 255 channels) was stored uncompressed: the default now
    keeps the file's bytes through xz where they come out smaller, and wav where nothing
    compresses them (random bits)."""
    import soundfile as sf

    t = np.arange(3000)[:, None] / 44100
    smooth = np.round(0.3 * np.sin(2 * np.pi * 440 * t * (1 + np.arange(300) / 50)) * 32767).astype(np.int16)
    noise = np.random.default_rng(3).integers(0, 1 << 62, (20000, 2)).view(np.float64)
    for name, frames, codec, subtype in (("many.wav", smooth, "xz", "PCM_16"), ("bits.wav", noise, "wav", "DOUBLE")):
        src = tmp_path / name
        sf.write(src, frames, 44100, subtype=subtype)
        omc, header = api.encode_file(src)
        assert header.codec == codec, name
        assert omc.stat().st_size <= src.stat().st_size + 300
        if codec == "xz":
            assert omc.stat().st_size < 0.95 * src.stat().st_size
        api.decode_file(omc, tmp_path / "back.wav")
        assert (tmp_path / "back.wav").read_bytes() == src.read_bytes()
        (tmp_path / "back.wav").unlink()


@pytest.mark.parametrize("subtype,channels", [("PCM_24", 2), ("PCM_32", 1), ("PCM_16", 1), ("PCM_24", 10)])
def test_integer_sound_of_few_values_goes_through_its_ranks(subtype, channels):
    """16-bit sound after a gain saved at 24 or 32 bits (or 8-bit sound after a gain at 16) uses
    few of its range's values: FLAC codes each sample's rank among them (the original integers
    again), the values apart; dense sound stays plain; a table the header's depth cannot hold
    is refused."""
    from omnicodec import container
    from omnicodec.codecs.sndfile_audio import FLAC
    from omnicodec.errors import CorruptStreamError

    base = make_audio(frames=60000, rate=44100, channels=channels).frames.astype(np.float64)
    if subtype == "PCM_16":
        base = np.round(base / 256)  # 8-bit sound
    scale = {"PCM_24": 0.8 * 2 ** 16, "PCM_32": 0.77 * 2 ** 16, "PCM_16": 77.3}[subtype]
    frames = np.round(base * scale).astype(np.int32)
    frames = frames << 8 if subtype == "PCM_24" else frames.astype(np.int16 if subtype == "PCM_16" else np.int32)
    item = omnicodec.Audio(frames, 44100, subtype)
    blob = omnicodec.encode(item)
    header, back = omnicodec.decode_with_header(blob)
    assert header.config == {"ranks": True} and back.frames.tobytes() == frames.tobytes()
    plain = FLAC(split32=subtype == "PCM_32").encode(item)
    assert len(blob) < 0.8 * sum(map(len, plain.values()))
    silence = omnicodec.Audio(np.zeros((50000, channels), frames.dtype), 44100, subtype)
    for dense in (make_audio(frames=60000, rate=44100, channels=channels, subtype="PCM_24"),  # few samples
                  make_audio(frames=400000, rate=44100, channels=channels), silence):  # all of 16 bits used
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # digital silence printed NumPy's "Mean of empty slice"
            assert omnicodec.decode_with_header(omnicodec.encode(dense))[0].config in ({}, {"split32": True})
    box = container.unpack(blob)
    other = {"PCM_24": "PCM_16", "PCM_32": "PCM_24", "PCM_16": "FLOAT"}[subtype]
    with pytest.raises(CorruptStreamError):
        FLAC(ranks=True).decode(box.sections, {**box.header.meta, "subtype": other})
    xtra = bytes(box.sections["XTRA"])
    for bad, message in ((xtra[:5], "XTRA is damaged"), (xtra[:1] + (3).to_bytes(4, "little") + xtra[5:], "out of its")):
        with pytest.raises(CorruptStreamError, match=message):
            FLAC(ranks=True).decode({**box.sections, "XTRA": bad}, box.header.meta)


def test_ranked_flac_fixture():
    frames = np.round(make_audio(frames=3000, rate=44100, channels=2).frames * (0.8 * 256)).astype(np.int32) << 8
    check_fixture("flac", omnicodec.Audio(frames, 44100, "PCM_24"), "v3-ranks24")
