"""McQuic's model: grouped quantization, the Gaussian-mixture prior and its ladder, training and
export."""

import math

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("vector_quantize_pytorch")

from omnicodec.models.mcquic import McQuic, McQuicConfig, grouped_nearest, grouped_vectors, ladder_books, mixture_logp  # noqa: E402

TINY = McQuicConfig(width=16, groups=(2, 4), codes=(8, 32), ladder=(2, 4, 8), encoder=(8, 8, 8, 8),
                    decoder=(16, 8, 8, 8), context=8, recluster_every=5)


def test_grouped_nearest_and_vectors_match_a_brute_force_search():
    g = torch.Generator().manual_seed(0)
    books = torch.randn(3, 10, 4, generator=g)
    z = torch.randn(2, 12, 5, 6, generator=g)
    idx = grouped_nearest(z, books)
    assert idx.shape == (2, 3, 5, 6)
    for b in range(2):
        for grp in range(3):
            for r in range(5):
                for c in range(6):
                    v = z[b, 4 * grp:4 * grp + 4, r, c]
                    assert idx[b, grp, r, c] == ((books[grp] - v) ** 2).sum(1).argmin()
    back = grouped_vectors(books, idx)
    assert back.shape == z.shape
    assert torch.equal(back[1, 4:8, 2, 3], books[1, idx[1, 1, 2, 3]])


def test_the_mixture_is_a_normalized_gaussian_mixture_around_the_codewords():
    g = torch.Generator().manual_seed(1)
    books, log_pi = torch.randn(2, 6, 3, generator=g), torch.log_softmax(torch.randn(2, 6, generator=g), 1)
    loc, s = torch.randn(1, 2, 3, 2, 2, generator=g), torch.randn(1, 2, 2, 2, generator=g) * 0.3
    logp = mixture_logp(loc, s, books, log_pi)
    assert torch.allclose(logp.exp().sum(2), torch.ones(1, 2, 2, 2), atol=1e-5)
    grp, r, c = 1, 0, 1
    sigma2 = math.exp(2 * s[0, grp, r, c].item())
    w = torch.tensor([log_pi[grp, k] - ((loc[0, grp, :, r, c] - books[grp, k]) ** 2).sum() / (2 * sigma2)
                      for k in range(6)])
    assert torch.allclose(logp[0, grp, :, r, c], torch.log_softmax(w, 0), atol=1e-5)
    # a location on a codeword with a small scale puts nearly all the mass on it
    loc[0, 0, :, 0, 0] = books[0, 4]
    s[0, 0, 0, 0] = -6
    assert mixture_logp(loc, s, books, log_pi)[0, 0, 4, 0, 0].exp() > 0.99


def _trained(steps: int):
    torch.manual_seed(0)
    m = McQuic(TINY)
    m.prepare(torch.rand(8, 3, 64, 64))
    opt = torch.optim.Adam(m.parameters(), 3e-3)
    m.train()
    for _ in range(steps):
        loss, metrics = m.loss(torch.rand(4, 3, 64, 64) * 0.2 + 0.4)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return m


def test_the_ladder_clusters_each_group_and_sums_its_members_weights():
    m = _trained(6)
    m.recluster()  # (the codebooks moved on since the last one)
    fine = m.books()[1]
    log_pi_full = m.level_book(len(TINY.ladder) + 1)[1]
    for level in range(1, len(TINY.ladder) + 1):
        book, log_pi = m.level_book(level)
        k = TINY.ladder[level - 1]
        assert book.shape == (4, k, 4)
        members = m.members[level - 1]
        for grp in range(4):  # each fine code belongs to its nearest centroid
            d = ((fine[grp][:, None] - book[grp][None]) ** 2).sum(-1)
            assert torch.equal(d.argmin(1), members[grp])
            want = torch.zeros(k).index_add(0, members[grp], log_pi_full[grp].exp()).log()
            assert torch.allclose(log_pi[grp], want, atol=1e-5)


def test_training_lowers_the_distortion_and_the_prior_learns_below_uniform():
    m = _trained(0)
    m.eval()
    x = torch.rand(4, 3, 64, 64) * 0.2 + 0.4
    before = m.validate(x)
    m = _trained(60)
    m.eval()
    after = m.validate(x)
    assert after["K32_psnr"] > before["K32_psnr"] + 3
    # uniform coding: 2 groups × 3 bits per 32² px and 4 groups × 5 bits per 16² px
    uniform = (2 * 3) / 32**2 + (4 * 5) / 16**2
    assert after["K32_bpp"] < 0.95 * uniform
    assert after["K0_bpp"] < before["K32_bpp"]


def test_export_round_trips_and_refuses_codebooks_that_do_not_fit():
    m = _trained(6)
    m.eval()
    art = m.export()
    fresh = McQuic(TINY, train_parts=False)
    fresh.load_artefact(art)
    fresh.eval()
    x = torch.rand(2, 3, 64, 64)
    got, want = fresh.validate(x), m.validate(x)
    for k in want:
        assert abs(got[k] - want[k]) < 0.05 * max(1, abs(want[k])), k  # fp16 storage
    assert [b.shape[1] for b in ladder_books(art)] == [2, 4, 8, 32]
    art["centroids"] = art["centroids"][:, :-1]
    with pytest.raises(ValueError, match="do not fit"):
        ladder_books(art)


def test_a_centred_model_shifts_its_image_nets_and_the_codec_does_the_same():
    """``centre``: the analysis sees x - centre and the synthesis adds it back, in the model and
    in the codec's inference built from its export (same weight names as an uncentred model,
    whose export still loads as before); older code refuses the key rather than ignore it."""
    import dataclasses

    from omnicodec.codecs.mcquic import Inference

    torch.manual_seed(0)
    centred = McQuic(dataclasses.replace(TINY, centre=0.5))
    centred.prepare(torch.rand(8, 3, 64, 64))
    plain = McQuic(TINY, train_parts=False)
    plain.load_state_dict(centred.state_dict(), strict=False)
    centred.eval(), plain.eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        z = centred.encoder(x)
        assert torch.allclose(z, plain.encoder(x - 0.5)) and not torch.allclose(z, plain.encoder(x))
        assert torch.allclose(centred.decoder(z), plain.decoder(z) + 0.5)
    art = centred.export()
    assert art["config"]["centre"] == 0.5 and set(art["encoder"]) == set(plain.encoder.state_dict())
    inference = Inference(art)
    with torch.no_grad():
        got = inference.encoder(x.double().float())
        want = McQuic(dataclasses.replace(TINY, centre=0.5), train_parts=False)
        want.load_artefact(art)
        want.eval()
        assert torch.allclose(got, want.encoder(x), atol=1e-6)
        assert torch.allclose(inference.decoder(z.double()), want.decoder(z).double(), atol=1e-5)
    assert McQuicConfig.from_dict({k: v for k, v in art["config"].items() if k != "centre"}).centre == 0
