"""mcquic: the two levels' sections and the rate ladder, the integer priors against the float
model's, exact context whatever the tiling, refusal of streams whose sections do not fit.  The
learned-codec kit (test_learned.py) runs its checklist, fixture, weights errors and
cross-process decoding."""

import numpy as np
import pytest

import omnicodec
from omnicodec import container
from omnicodec.errors import CorruptStreamError

from .test_vq import _photo

torch = pytest.importorskip("torch")


def _analysed(item, quality: float):
    from omnicodec.codecs.mcquic import McQuicCodec

    return McQuicCodec(quality=quality)._analyse(item)


def test_the_sections_of_each_level_and_the_rate_rises_with_quality():
    item = _photo(200, 330)
    sizes = []
    for q in (0, 30, 60, 100):
        blob = omnicodec.encode(item, "mcquic", q)
        tags = list(container.unpack(blob).sections)
        assert tags == (["COAR"] if q == 0 else ["COAR", "FINE"])
        decoded = omnicodec.decode(blob)
        assert decoded.pixels.shape == item.pixels.shape
        sizes.append(len(blob))
    assert sizes == sorted(sizes) and len(set(sizes)) == 4, sizes


def test_the_integer_priors_code_what_the_float_model_predicts():
    """Both payloads are within 3% (plus the lane framing) of the float model's coding cost."""
    from omnicodec.codecs.learned import find_weights, load_artefact
    from omnicodec.codecs.mcquic import McQuicCodec
    from omnicodec.models.mcquic import McQuic, grouped_vectors, mixture_logp

    item = _photo(256, 384, seed=3)
    model, level, coarse, fine, _, _, _, _ = _analysed(item, 80)
    art = load_artefact(*find_weights("mcquic", McQuicCodec(quality=80).default_weights()), "mcquic")
    net = McQuic(McQuic.config_from(art["config"]), train_parts=False)
    net.load_artefact(art)
    with torch.no_grad():
        ci, fi = torch.from_numpy(coarse)[None], torch.from_numpy(fine)[None]
        lp = net.coarse_log_pi()
        coarse_bits = -lp[torch.arange(lp.shape[0])[None, :, None, None], ci].sum().item() / np.log(2)
        _, loc, s = net.context_of(grouped_vectors(net.books()[0], ci))
        book, log_pi = net.level_book(level)
        fine_bits = -mixture_logp(loc, s, book, log_pi).gather(2, fi[:, :, None]).sum().item() / np.log(2)
    sections = container.unpack(omnicodec.encode(item, "mcquic", 80)).sections
    for tag, bits in (("COAR", coarse_bits), ("FINE", fine_bits)):
        payload = len(sections[tag]) * 8 - 16 * 8  # less the lane header and final state
        assert abs(payload - bits) < 0.03 * bits + 32, (tag, payload, bits)


def test_the_context_is_exact_whatever_the_tiling(monkeypatch):
    from omnicodec.codecs import mcquic

    model, _, coarse, _, pred, loc, s, _ = _analysed(_photo(300, 420, seed=5), 50)
    assert coarse.shape[1:] == (10, 14)
    monkeypatch.setattr(mcquic, "CONTEXT_TILE", 3)
    pred2, loc2, s2 = model.context_of(coarse)
    assert torch.equal(pred, pred2) and np.array_equal(loc, loc2) and np.array_equal(s, s2)
    assert np.array_equal(loc * 256, np.rint(loc * 256))  # integers in units of 2**-8


def test_streams_whose_sections_do_not_fit_their_level_are_refused():
    blob = omnicodec.encode(_photo(64, 96), "mcquic", 70)
    c = container.unpack(blob)
    for sections in ({"COAR": c.sections["COAR"]}, {**c.sections, "XTRA": b"1234"},
                     {"COAR": c.sections["COAR"], "FINE": c.sections["FINE"][:-4]}):
        with pytest.raises(CorruptStreamError):
            omnicodec.decode(container.pack(c.header, sections))
    low = container.unpack(omnicodec.encode(_photo(64, 96), "mcquic", 0))
    with pytest.raises(CorruptStreamError, match="do not fit level 0"):
        omnicodec.decode(container.pack(low.header, {**low.sections, "FINE": c.sections["FINE"]}))


def test_the_fine_level_codes_the_residual_of_the_coarse_prediction():
    """Each quality level's latent is closer to the analysis than the one below it."""
    from omnicodec.codecs.mcquic import McQuicCodec

    item = _photo(256, 256, seed=7)
    codec = McQuicCodec(quality=0)
    model = codec.model()
    z, _ = model.analyse(item.pixels)
    errors = []
    for q in (0, 40, 100):
        latent = McQuicCodec(quality=q).encode_latent(item)
        errors.append(float(((latent - z[0].numpy()) ** 2).mean()))
    assert errors[0] > errors[1] > errors[2], errors


def test_batch_synthesis_matches_the_decoder():
    """(On a size the padding leaves alone: a cropped latent's edge is synthesized from less.)"""
    from omnicodec.codecs.mcquic import McQuicCodec

    item = _photo(64, 96, seed=8)
    codec = McQuicCodec(quality=70)
    blob = omnicodec.encode(item, codec)
    latent = omnicodec.decode_latent(blob)[1]
    assert latent.shape == (128, 4, 6)
    pixels = codec.synthesize(np.stack([latent, latent]))
    assert pixels.shape == (2, 3, 64, 96) and pixels.dtype == torch.float32
    ours = pixels[1].permute(1, 2, 0).numpy() * 255
    assert np.abs(ours - omnicodec.decode(blob).pixels.astype(np.float64)).max() <= 1.0
