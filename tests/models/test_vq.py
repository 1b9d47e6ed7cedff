"""The VQ model: the coding order, the clustered ladder, the prior's level distributions, its
learning, and an export that loads back."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("vector_quantize_pytorch")

from omnicodec.models import vq  # noqa: E402


def test_the_passes_cover_the_grid_once_in_a_dyadic_order():
    p = vq.pass_map(16, 16)
    assert np.bincount(p.ravel()).tolist() == [16, 16, 32, 64, 128]
    # each position of a later pass has a position of an earlier pass at its distance or closer
    for r, c in zip(*np.nonzero(p > 0)):
        step = {1: 2, 2: 2, 3: 1, 4: 1}[p[r, c]]
        near = p[max(0, r - step):r + step + 1, max(0, c - step):c + step + 1]
        assert (near < p[r, c]).any(), (r, c)
    assert (vq.pass_map(3, 5) == vq.pass_map(16, 16)[:3, :5]).all()  # a crop keeps its passes


def test_kmeans_gives_unit_centroids_each_code_at_its_nearest_and_repeats_itself():
    g = torch.Generator().manual_seed(0)
    x = torch.nn.functional.normalize(torch.randn(300, 8, generator=g), dim=1)
    w = torch.rand(300, generator=g)
    c, a = vq.kmeans(x, w, 16)
    assert torch.allclose(c.norm(dim=1), torch.ones(16), atol=1e-5)
    assert torch.equal(a, torch.cdist(x.double(), c.double()).argmin(1))
    c2, a2 = vq.kmeans(x, w, 16)
    assert torch.equal(c, c2) and torch.equal(a, a2)
    assert len(a.unique()) > 12  # not collapsed onto a few centroids


def _model(**cfg):
    torch.manual_seed(0)
    model = vq.VQ(vq.VQConfig(codes=64, dim=8, encoder=(8, 8, 8, 8), decoder=(8, 8, 8, 8), prior=16,
                              ladder=(4, 16), **cfg))
    with torch.no_grad():
        model.quantizer._codebook.embed.copy_(torch.randn_like(model.quantizer._codebook.embed))
        model.quantizer._codebook.cluster_size.fill_(1.0)
        model.quantizer._codebook.initted.fill_(True)
    model.recluster()
    return model


def test_a_levels_distribution_sums_its_members_probabilities():
    model = _model()
    idx = torch.randint(0, 4, (2, 5, 6))
    vectors = vq.vectors(model.level_book(0), idx)
    known = (torch.rand(2, 1, 5, 6) < 0.5).float()
    with torch.no_grad():
        fine = model.prior_logp(vectors, known, 2).exp()  # level 2: the full codebook
        coarse = model.prior_logp(vectors, known, 0).exp()
    assert torch.allclose(coarse.sum(1), torch.ones(2, 5, 6), atol=1e-5)
    members = model.members[0]
    for k in range(4):
        assert torch.allclose(coarse[:, k], fine[:, members == k].sum(1), atol=1e-6)


def test_the_prior_learns_a_grids_structure_and_codes_it_below_log2_k():
    """Stripes (index = column mod 4): after some steps the coding passes cost far less than
    log2 K bits per index."""
    model = _model()
    idx = (torch.arange(8)[None, None, :] % 4).expand(4, 8, 8) * 5
    before = model.coding_bits(idx, 2).mean().item() / idx[0].numel()
    opt = torch.optim.Adam(list(model.prior.parameters()) + [model.prior_bias], 1e-2)
    book = model.level_book(2)
    for _ in range(150):
        known = model._masks(idx)
        nll = -model.prior_logp(vq.vectors(book, idx), known, 2).gather(1, idx[:, None])[:, 0]
        loss = (nll * (1 - known[:, 0])).sum() / (1 - known[:, 0]).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = model.coding_bits(idx, 2).mean().item() / idx[0].numel()
    assert before > 5 and after < 1.5, (before, after)  # log2 64 = 6


def test_an_export_loads_back_with_its_ladder_and_codebook():
    model = _model()
    art = model.export()
    twin = vq.VQ(vq.VQ.config_from(art["config"]), train_parts=False)
    twin.load_artefact(art)
    assert torch.equal(twin.codebook, art["codebook"].float())
    assert torch.allclose(twin.codebook, model.codebook, atol=1e-3)  # stored in fp16
    assert torch.equal(twin.members, model.members)
    for level in range(3):
        book = twin.level_book(level)
        assert book.shape == (model.cfg.sizes[level], 8)
        assert torch.allclose(book.norm(dim=1), torch.ones(len(book)), atol=2e-3)
    # each fine code's member is its nearest centroid
    assert torch.equal(model.members[1], torch.cdist(model.codebook.double(), model.level_book(1).double()).argmin(1))
    with pytest.raises(ValueError, match="do not fit"):
        vq.ladder_books({**art, "centroids": art["centroids"][1:]})


def test_the_loss_trains_every_part_and_the_gan_only_after_its_start():
    model = _model(gan_start=1, recluster_every=1000)
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    loss, logs = model.loss(x)
    assert "d" not in logs and torch.isfinite(loss)
    loss.backward()
    assert all(p.grad is not None for p in model.decoder.parameters())
    assert all(p.grad is not None for p in model.prior.parameters())
    model.zero_grad()
    loss, logs = model.loss(x)
    assert "d" in logs
    loss.backward()
    # (the last bias's gradient cancels while both hinges are active: -1 for real, +1 for fake)
    assert all(p.grad.abs().sum() > 0 for n, p in model.disc.named_parameters() if n.endswith("weight"))
