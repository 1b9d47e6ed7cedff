"""walloc: image round trips on odd sizes and modes, the two image models and their quality
ranges, the per-channel table choice, the tiled decoder; audio in mono, stereo and other
subtypes, seamless chunks, the header naming the modality, weights of the wrong kind.  The
learned-codec kit (test_learned.py) runs its checklist, fixtures, weights errors and
cross-process decoding for both modalities."""

import dataclasses

import numpy as np
import pytest

import omnicodec
from omnicodec.errors import CorruptStreamError
from omnicodec.metrics import item_psnr

from ..common import make_audio, make_image

torch = pytest.importorskip("torch")  # the neural extra; `make test` installs it


def test_two_models_split_the_quality_range_and_rate_grows_with_quality():
    from omnicodec.codecs import walloc

    item = make_image(96, 128, seed=3)
    low, high = walloc.Walloc(quality=10), walloc.Walloc(quality=90)
    assert low.default_weights() == walloc.WEIGHTS_16X and high.default_weights() == walloc.WEIGHTS_UPPER
    assert low.weights != high.weights and low.model().cfg.latent < high.model().cfg.latent
    split = walloc.split(walloc.WEIGHTS_UPPER, walloc.LEGACY_SPLIT)
    qualities = (0, split / 2, split - 1e-3, split, 75, 100)
    sizes = [len(omnicodec.encode(item, "walloc", q)) for q in qualities]
    assert sizes[0] < sizes[2] and sizes[3] < sizes[5], sizes
    psnr = [item_psnr(item, omnicodec.decode(omnicodec.encode(item, "walloc", q))) for q in (0, 100)]
    assert psnr[0] < psnr[1]


def test_a_models_quality_range_maps_quality_to_its_levels_and_legacy_models_split_at_50():
    from types import SimpleNamespace

    from omnicodec.codecs.walloc import Walloc
    from omnicodec.models.walloc import WallocConfig

    ranged = SimpleNamespace(cfg=WallocConfig(qualities=(25.0, 100.0)), levels=8)
    legacy = SimpleNamespace(cfg=WallocConfig(), levels=5)
    assert [Walloc(quality=q).level(ranged) for q in (25, 62.5, 100)] == [0, 3.5, 7]
    assert [Walloc(quality=q).level(legacy) for q in (0, 25, 50, 100)] == [0, 2, 0, 4]
    with pytest.raises(ValueError, match="qualities"):
        WallocConfig(qualities=(60.0, 40.0))


def test_audio_qualities_pick_the_lower_or_the_upper_model():
    from omnicodec.codecs import walloc

    split = walloc.split(walloc.WEIGHTS_AUDIO_HIGH, 100.0)
    low, high = walloc.Walloc(quality=split - 0.1, kind="audio"), walloc.Walloc(quality=100, kind="audio")
    assert low.default_weights() == walloc.WEIGHTS_AUDIO and high.default_weights() == walloc.WEIGHTS_AUDIO_HIGH
    upper = high.model()
    assert upper.cfg.qualities[0] == split and high.level(upper) == upper.levels - 1
    assert walloc.Walloc(quality=split, kind="audio").level(upper) == 0
    item = make_audio(16000, seed=2)
    sizes = [len(omnicodec.encode(item, "walloc", q)) for q in (0, split - 0.1, split, 100)]
    assert sizes == sorted(sizes), sizes


def test_each_channel_gets_its_cheapest_table():
    from omnicodec.codecs.walloc import Walloc, best_tables

    model = Walloc(quality=60).model()
    rng = np.random.default_rng(0)
    symbols = np.clip(rng.laplace(127, rng.uniform(0.5, 30, (model.cfg.latent, 1)),
                                  (model.cfg.latent, 500)).round(), 0, 254).astype(np.int64)
    choice, bits = best_tables(model.tables, symbols)
    cost = np.array([[-np.log2(model.tables[k, c, symbols[c]] / 2**16).sum() for c in range(len(symbols))]
                     for k in range(model.levels)])
    assert np.allclose(cost[choice, np.arange(len(symbols))], cost.min(axis=0))
    assert np.isclose(bits, cost.min(axis=0).sum())


def test_damaged_data_behind_a_valid_container_fails_cleanly():
    """DATA cut or flipped and the container's checksums recomputed (what the checksums cannot
    catch): the decoder raises CorruptStreamError or returns an item of the header's size,
    never another error."""
    from omnicodec import container

    item = make_image(40, 48)
    box = container.unpack(omnicodec.encode(item, "walloc", 60))
    data = box.sections["DATA"]
    damaged = [data[:cut] for cut in (0, 4, len(data) // 8 * 4, len(data) - 4)]
    damaged += [data[:i] + bytes([data[i] ^ 0x10]) + data[i + 1:] for i in (0, len(data) // 2, len(data) - 1)]
    for bad in damaged:
        try:
            out = omnicodec.decode(container.pack(box.header, {**box.sections, "DATA": bad}))
        except CorruptStreamError:
            continue
        assert out.pixels.shape == item.pixels.shape


def test_tiled_decoder_matches_the_whole_image():
    """The decoder runs in fixed tiles (bounded memory); the float64 sums differ by ~1e-15, so
    after rounding to 8 bits the pixels equal the untiled decoder's."""
    from omnicodec.codecs import walloc

    codec = walloc.Walloc(quality=70)
    model = codec.model()
    item = make_image(8 * walloc.TILE + 24, 8 * walloc.TILE // 2 + 8, seed=5)
    q = walloc.analyse(model, item.pixels, codec.level(model))
    y = torch.from_numpy(q[None] - 127).double()  # BOUND
    with torch.no_grad():
        whole = model.synthesis.synthesize(model.synthesis.bands_of(y, codec.level(model)).float())[0]
    whole = (whole.clamp(0, 1).permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)
    tiled = omnicodec.decode(omnicodec.encode(item, codec)).pixels
    assert (tiled == whole).mean() > 0.9999 and np.abs(tiled.astype(int) - whole).max() <= 1


# ------------------------------------------------------------------------------------ audio
def _snr(reference: np.ndarray, decoded: np.ndarray) -> np.ndarray:
    """SNR in dB per channel."""
    ref, dec = reference.astype(np.float64), decoded.astype(np.float64)
    return 10 * np.log10((ref**2).sum(0) / np.maximum(((ref - dec) ** 2).sum(0), 1e-9))


@pytest.mark.parametrize("channels,subtype,rate", [(1, "PCM_16", 44100), (2, "PCM_16", 48000),
                                                   (2, "PCM_24", 8000), (1, "FLOAT", 16000)])
def test_audio_roundtrip_per_channel(channels, subtype, rate):
    from omnicodec.items import Audio

    item = make_audio(20000, rate, channels, "PCM_24" if subtype == "PCM_24" else "PCM_16", seed=1)
    if subtype == "FLOAT":
        item = Audio((item.frames / 32768.0).astype(np.float32), rate)
    header, decoded = omnicodec.decode_with_header(omnicodec.encode(item, "walloc", 90))
    assert header.modality == "audio" and header.config["kind"] == "audio"
    assert decoded.meta() == item.meta()
    assert (_snr(item.frames, decoded.frames) > 20).all()


@pytest.mark.parametrize("frames", [0, 1, 127, 129])
def test_audio_of_any_length(frames):
    item = make_audio(frames, channels=2)
    decoded = omnicodec.decode(omnicodec.encode(item, "walloc", 50))
    assert decoded.meta() == item.meta()


def test_audio_rate_grows_with_quality():
    item = make_audio(30000, 44100, seed=2)
    sizes = [len(omnicodec.encode(item, "walloc", q)) for q in (0, 50, 100)]
    assert sizes[0] < sizes[1] < sizes[2], sizes


def test_audio_chunks_are_seamless(monkeypatch):
    """Chunks are computed with their neighbours' context: chunked in 2048-sample pieces, the
    decoded signal equals the one-chunk decode up to float rounding, at the boundaries too."""
    from omnicodec.codecs import walloc

    rng = np.random.default_rng(3)
    t = np.arange(12000) / 44100
    x = 0.3 * np.sin(2 * np.pi * 220 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t)) + 0.02 * rng.standard_normal(len(t))
    item = omnicodec.items.Audio(np.round(x * 32767).astype(np.int16), 44100)
    whole = omnicodec.decode(omnicodec.encode(item, "walloc", 70)).frames[:, 0].astype(np.float64)
    monkeypatch.setattr(walloc, "CHUNK", 2048)
    chunked_blob = omnicodec.encode(item, "walloc", 70)
    chunked = omnicodec.decode(chunked_blob).frames[:, 0].astype(np.float64)
    assert _snr(whole[:, None], chunked[:, None])[0] > 60
    jumps = np.abs(np.diff(chunked - whole))
    assert jumps[2040:2056].max() <= max(2.0, 3 * jumps.max() / 2)  # no step at a boundary


def test_a_config_or_weights_of_the_wrong_kind_are_refused():
    from omnicodec.codecs.walloc import Walloc

    image_weights = Walloc(quality=60).weights
    with pytest.raises(CorruptStreamError, match="not a audio model"):
        omnicodec.encode(make_audio(4000), Walloc(kind="audio", weights=image_weights))
    with pytest.raises(ValueError, match="kind"):
        Walloc(kind="video")
    assert Walloc().for_item(make_audio(10)).kind == "audio"
    assert Walloc().for_item(make_image()).kind == "image"
    info = {c.codec_id: c for c in omnicodec.list_codecs()}["walloc"]
    assert info.modality == "image/audio"


def test_cli_encodes_a_wav_with_walloc(tmp_path):
    import soundfile

    from omnicodec.cli.main import main

    item = make_audio(9000, 22050, 2)
    soundfile.write(tmp_path / "song.wav", item.frames, 22050, subtype="PCM_16")
    assert main(["encode", str(tmp_path / "song.wav"), "--codec", "walloc", "--quality", "60"]) == 0
    assert main(["decode", str(tmp_path / "song.wav.omc"), "-o", str(tmp_path / "back.wav")]) == 0
    back, rate = soundfile.read(tmp_path / "back.wav", dtype="int16")
    assert rate == 22050 and back.shape == item.frames.shape


def test_a_header_whose_modality_and_kind_disagree_is_refused():
    from omnicodec import container

    for item, other in ((make_audio(3000), {"kind": "image"}), (make_image(), {"kind": "audio"})):
        box = container.unpack(omnicodec.encode(item, "walloc", 50))
        config = {k: v for k, v in box.header.config.items() if k != "kind"}
        config.update(other if other["kind"] == "audio" else {})
        header = dataclasses.replace(box.header, config=config)
        with pytest.raises(CorruptStreamError):
            omnicodec.decode(container.pack(header, box.sections))


def _block_sizes(model, q: np.ndarray) -> dict[str, int]:
    """Bytes of a latent block as ``code_block`` writes it and in the factorized layout alone."""
    from omnicodec.codecs import walloc
    from omnicodec.entropy import Encoder

    sizes = {}
    for name, code in (("block", walloc.code_block),
                       ("factorized", lambda e, m, s: walloc._code_factorized(
                           e, m, s.reshape(len(s), -1), walloc.best_tables(m.tables, s.reshape(len(s), -1))[0]))):
        enc = Encoder()
        code(enc, model, q)
        sizes[name] = len(enc.finish())
    return sizes


@pytest.mark.parametrize("h,w", [(1, 1), (1, 37), (5, 3), (16, 16), (13, 29)])
def test_interlaced_order_covers_every_latent_once_after_its_neighbours(h, w):
    from omnicodec.codecs.walloc import _interlace

    coarse, passes = _interlace(h, w)
    seen = np.zeros(h * w, int)
    seen[coarse] += 1
    for idx, nb, ok, count in passes:
        assert (count >= 1).all() and (seen[nb[ok]] == 1).all()  # neighbours decoded in earlier passes
        seen[idx] += 1
    assert (seen == 1).all()


def test_context_coding_beats_the_factorized_tables_on_a_photo_like_latent():
    """The interlaced context model against the per-channel tables alone, on the same symbols."""
    from omnicodec.codecs import walloc
    from omnicodec.entropy import Decoder, Encoder

    codec = walloc.Walloc(quality=60)
    model = codec.model()
    q = walloc.analyse(model, make_image(160, 224, seed=7).pixels, codec.level(model))
    sizes = _block_sizes(model, q)
    assert sizes["block"] < 0.9 * sizes["factorized"], sizes
    enc = Encoder()
    walloc.code_block(enc, model, q)
    dec = Decoder(enc.finish())
    assert np.array_equal(walloc.decode_block(dec, model, q.shape[1:]), q)
    dec.finish()


def test_a_block_never_costs_much_more_than_its_factorized_layout():
    """On latents without spatial structure (drawn from the tables themselves) the encoder
    keeps the factorized layout: a flag more, not a context model that does not fit."""
    from omnicodec.codecs import walloc
    from omnicodec.entropy import Decoder, Encoder

    model = walloc.Walloc(quality=60).model()
    rng = np.random.default_rng(4)
    t = model.tables[2] / model.tables[2].sum(axis=1, keepdims=True)
    q = np.stack([rng.choice(t.shape[1], size=(24, 40), p=row) for row in t])
    sizes = _block_sizes(model, q)
    assert sizes["block"] <= sizes["factorized"] + 4, sizes
    enc = Encoder()
    walloc.code_block(enc, model, q)
    assert np.array_equal(walloc.decode_block(Decoder(enc.finish()), model, q.shape[1:]), q)


def test_audio_float32_synthesis_is_the_same_on_any_thread_count_and_close_to_float64():
    """Audio streams record the float32 decoder too: the same samples with torch on 1 and 2
    threads, and within a few units of the float64 decode (a config without the key)."""
    from .learned_kit import check_float32_synthesis

    new, old = check_float32_synthesis(omnicodec.encode(make_audio(20000, 44100, 2, seed=4), "walloc", 60), "frames", 4)
    assert _snr(old, new).min() > 60


def test_tiled_images_decode_tile_by_tile_as_alone():
    """A grid of odd-sized RGBA tiles: each tile decodes as alone (learned_kit), alpha exactly."""
    from omnicodec.codecs.walloc import Walloc

    from .learned_kit import check_grid_as_alone

    grid = make_image(2 * 13, 3 * 21, "RGBA", seed=6)
    header, decoded, _ = check_grid_as_alone(Walloc(quality=30).with_tiles(13, 21), grid, 2, 3)
    assert header.config["tile_height"] == 13 and (decoded.pixels[:, :, 3] == grid.pixels[:, :, 3]).all()


def test_tile_config_and_sizes_are_checked():
    from omnicodec import container, limits
    from omnicodec.codecs.walloc import Walloc
    from omnicodec.errors import UnsupportedInputError

    for bad in ((0, 5), (-1, -1), (2.0, 2.0), (True, True)):
        with pytest.raises(ValueError):
            Walloc(tile_height=bad[0], tile_width=bad[1])
    with pytest.raises(ValueError):
        Walloc(kind="audio", tile_height=4, tile_width=4)
    with pytest.raises(UnsupportedInputError, match="grid"):
        omnicodec.encode(make_image(30, 40), Walloc(quality=10).with_tiles(7, 7))
    side = int(limits.MAX_LEARNED_PIXELS ** 0.5) // 8 + 8
    with pytest.raises(UnsupportedInputError, match="tiles"):
        omnicodec.encode(make_image(side, side), Walloc(quality=10).with_tiles(1, 1))
    box = container.unpack(omnicodec.encode(make_image(28, 28), Walloc(quality=10).with_tiles(14, 14)))
    box.header.meta["width"] = 27
    with pytest.raises(CorruptStreamError, match="grid"):
        omnicodec.decode(container.pack(box.header, box.sections))
    box.header.config["tile_width"] = "14"
    with pytest.raises(CorruptStreamError):
        omnicodec.decode(container.pack(box.header, box.sections))


def _rd_case(quality: float):
    from omnicodec.codecs import walloc

    codec = walloc.Walloc(quality=quality)
    model = codec.model()
    rgb = make_image(64, 96, seed=5).pixels
    return codec, model, codec.level(model), walloc.analyse(model, rgb, codec.level(model), rounded=False)


@pytest.mark.parametrize("quality", [10, 60])
def test_rdoq_picks_the_integer_below_or_above_and_moves_fewer_as_pixel_error_weighs_more(quality, monkeypatch):
    from omnicodec.codecs import walloc
    from omnicodec.models.walloc import BOUND

    _, model, level, u = _rd_case(quality)
    moved = []
    for factor in (0.5, walloc.RDOQ_LAMBDA, 1e12):
        monkeypatch.setattr(walloc, "RDOQ_LAMBDA", factor)
        q = walloc.rd_quantize(model, u, level) - BOUND
        assert ((q == np.floor(u)) | (q == np.floor(u) + 1)).all()
        moved.append(int((q != np.round(u)).sum()))
    assert moved[0] > moved[1] > moved[2] == 0, moved  # at an infinite weight: rounding


def test_rdoq_writes_the_same_format_in_fewer_bytes(monkeypatch):
    """rdoq is a setting: the header is the one rounding writes and any decoder reads the
    stream; with pixel error weighing little the file is smaller; audio refuses it in one line."""
    from omnicodec import container
    from omnicodec.codecs import walloc

    item = make_image(64, 96, seed=5)
    blobs = [omnicodec.encode(item, walloc.Walloc(quality=60, rdoq=rdoq)) for rdoq in (False, True)]
    headers = [container.unpack(b).header for b in blobs]
    assert headers[0] == headers[1] and blobs[0] != blobs[1]
    assert abs(item_psnr(item, omnicodec.decode(blobs[1])) - item_psnr(item, omnicodec.decode(blobs[0]))) < 1
    monkeypatch.setattr(walloc, "RDOQ_LAMBDA", 0.5)
    assert len(omnicodec.encode(item, walloc.Walloc(quality=60, rdoq=True))) < len(blobs[0])
    tiled = [walloc.Walloc(quality=60, tile_height=32, tile_width=48, rdoq=rdoq) for rdoq in (False, True)]
    sizes = [len(omnicodec.encode(item, c)) for c in tiled]  # tiles: one plane, quantized alike
    assert sizes[1] < sizes[0] and omnicodec.decode(omnicodec.encode(item, tiled[1])).pixels.shape == (64, 96, 3)
    with pytest.raises(omnicodec.errors.UnsupportedInputError, match="rdoq is for images"):
        omnicodec.encode(make_audio(frames=4000), omnicodec.get_codec("walloc", 50, rdoq=True))


def test_loud_audio_is_coded_at_the_highest_quality_that_does_not_clip():
    """A full-scale square wave at quality 100 passed the asinh bound of the top levels (19 dB,
    and more bytes than quality 80); the encoder now lowers the stream's quality to the highest
    at which no latent is clipped, and the header says so.  The same wave 20 dB quieter keeps its quality."""
    from omnicodec import container
    from omnicodec.items import Audio

    t = np.arange(44100) / 44100
    square = (np.sign(np.sin(2 * np.pi * 220 * t)) * 32767).astype(np.int16)[:, None]
    item = Audio(square, 44100)
    blob = omnicodec.encode(item, "walloc", 100)
    used = container.unpack(blob).header.config["quality"]
    assert 60 <= used < 100
    x = square.astype(float)
    y = omnicodec.decode(blob).frames.astype(float)
    assert 10 * np.log10((x ** 2).sum() / ((x - y) ** 2).sum()) > 30
    assert abs(omnicodec.get_codec("walloc", used + 0.5).for_item(item).quality - used) <= 1e-3  # the highest
    quiet = Audio((square // 10).astype(np.int16), 44100)
    assert container.unpack(omnicodec.encode(quiet, "walloc", 100)).header.config["quality"] == 100


def test_float_audio_louder_than_full_scale_keeps_its_level():
    """Float WAVs may pass 1: the encoder coded such a sound, and the decoder then clipped its
    output to [-1, 1] (a 1.5-peak sine: 12 dB SNR).  It is now divided by its peak, which the
    header records, and multiplied back; a sound within full scale writes no peak (old streams
    decode as before)."""
    from omnicodec import container
    from omnicodec.items import Audio

    t = np.arange(20000) / 44100
    loud = (1.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[:, None]
    blob = omnicodec.encode(Audio(loud, 44100, "FLOAT"), "walloc", 50)
    assert container.unpack(blob).header.config["peak"] == float(np.abs(loud).max())
    y = omnicodec.decode(blob).frames
    assert 1.4 < np.abs(y).max() <= 1.5
    assert 10 * np.log10((loud.astype(float) ** 2).sum() / ((loud - y).astype(float) ** 2).sum()) > 30
    quiet = omnicodec.encode(Audio(loud / 2, 44100, "FLOAT"), "walloc", 50)
    assert "peak" not in container.unpack(quiet).header.config


@pytest.mark.parametrize("peak", [0.5, float("nan"), float("inf"), "1.5"])
def test_a_header_peak_below_one_or_not_a_finite_number_is_refused(peak):
    from omnicodec import container
    from omnicodec.codecs import walloc

    config = container.unpack(omnicodec.encode(make_audio(frames=2000), "walloc", 50)).header.config
    assert walloc.Walloc.from_config({**config, "peak": 2.0}).peak == 2.0
    with pytest.raises(omnicodec.errors.CorruptStreamError, match="peak must be a finite number"):
        walloc.Walloc.from_config({**config, "peak": peak})
    image = container.unpack(omnicodec.encode(make_image(16, 16), "walloc", 50)).header.config
    with pytest.raises(omnicodec.errors.CorruptStreamError, match="peak is for audio"):
        walloc.Walloc.from_config({**image, "peak": 2.0})
