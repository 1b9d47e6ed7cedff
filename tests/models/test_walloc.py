"""The WaLLoC model: its integer tables code what its densities say, the bound keeps every latent
in the alphabet, audio shapes, and inference from an artefact equals the trained net."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from omnicodec.models.walloc import (  # noqa: E402
    BOUND,
    SYMBOLS,
    InferenceModel,
    Walloc,
    WallocConfig,
    ladder,
    pack_tables,
)


def _trained_a_little(cfg: WallocConfig, steps: int = 30) -> Walloc:
    """A model whose densities have moved off their init (the tables are then worth testing)."""
    torch.manual_seed(0)
    model = Walloc(cfg)
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    gen = torch.Generator().manual_seed(1)
    shape = (4, cfg.channels, 32, 32) if cfg.dims == 2 else (4, cfg.channels, 1024)
    for _ in range(steps):
        x = torch.rand(shape, generator=gen) * (1 if cfg.dims == 2 else 2) - (0 if cfg.dims == 2 else 1)
        loss = model.loss(x)[0] + model.aux_loss()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


def test_tables_cover_the_alphabet_and_code_what_the_densities_say():
    cfg = WallocConfig(latent=4, width=16, blocks=1)
    model = _trained_a_little(cfg)
    tables = model.tables()
    assert tables.shape == (len(cfg.lambdas), 4, SYMBOLS) and tables.min() >= 1
    assert (tables.sum(axis=2) == 1 << 16).all() and tables.dtype == np.uint16
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    level = 2
    with torch.no_grad():
        u = model.analyse(x, torch.tensor([float(level)] * 2))
        density_bits = model.bits(u, torch.full((2,), level)).sum().item()
    symbols = (torch.round(u).long() + BOUND).transpose(0, 1).reshape(4, -1).numpy()
    table_bits = sum(-np.log2(tables[level, c, symbols[c]] / 2**16).sum() for c in range(4))
    assert abs(table_bits - density_bits) < 0.01 * density_bits + 8


def test_a_model_started_from_its_export_keeps_finite_bits_in_the_tails():
    """The export is fp16: the densities' likelihood floor (1e-9) must not come back as 0, or a
    latent the density gives no mass costs log2(0) bits and training from shipped weights dies."""
    cfg = WallocConfig(latent=4, width=16, blocks=1)
    model = Walloc(cfg)
    model.load_artefact(_trained_a_little(cfg, steps=5).export(), strict=False)
    u = torch.full((1, 4, 2, 2), 1e4)  # where float32 densities have no mass left
    bits = model.bits(u, torch.zeros(1))
    assert torch.isfinite(bits).all() and bits.item() > 0


def test_the_bound_keeps_huge_inputs_in_the_alphabet():
    model = Walloc(WallocConfig(latent=4, width=16, blocks=1)).eval()
    with torch.no_grad():
        u = model.analyse(torch.full((1, 3, 16, 16), 1e6), 4.0)
    assert u.abs().max() <= BOUND


def test_audio_model_shapes_and_loss():
    cfg = WallocConfig(channels=2, dims=1, levels=6, latent=16, width=32, blocks=1)
    model = Walloc(cfg)
    assert model.source == "audio" and model.stride == 64 and cfg.reduction == 8
    x = torch.rand(2, 2, 512) * 2 - 1
    x_hat, bits = model(x, torch.tensor([0.0, 1.0]))
    assert x_hat.shape == x.shape and bits.shape == (2,)
    assert torch.isfinite(model.loss(x)[0])


def test_inference_model_matches_the_trained_net():
    cfg = WallocConfig(latent=6, width=16, blocks=1)
    model = _trained_a_little(cfg, 5)
    inference = InferenceModel(model.export())
    x = torch.rand(1, 3, 32, 40, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        half = Walloc(cfg)
        half.load_artefact(model.export())  # the fp16 weights the inference model runs
        # the same analysis, through the compiled filter bank: equal to float32 rounding
        assert (inference.net.analyse(x, 1.5) - half.eval().analyse(x, 1.5)).abs().max() < 1e-4
        q = torch.round(half.analyse(x, 1.5)).double()
        a = inference.synthesis.bands_of(q, 1.5)
        b = half.bands_of(q.float(), 1.5).double()
    assert (a - b).abs().max() < 1e-3
    levels = len(cfg.lambdas)
    for bad in (np.ones((1, 6, SYMBOLS)), np.ones((levels, 6, SYMBOLS))):  # wrong shape; rows not 2**16
        with pytest.raises(ValueError, match="tables"):
            InferenceModel({**model.export(), "tables": pack_tables(bad)})
    with pytest.raises(ValueError, match="tables"):
        InferenceModel({**model.export(), "tables": torch.arange(40, dtype=torch.uint8)})


def test_prepare_starts_as_the_best_linear_codec():
    """After ``prepare`` the encoder's rows are orthonormal principal directions of the bands
    (over the step), and the linear decoder reconstructs a smooth image nearly as well as the
    projection allows: far better than a random start."""
    cfg = WallocConfig(latent=24, width=8, blocks=1)
    yy, xx = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
    batch = torch.stack([torch.stack([0.5 + 0.3 * torch.sin(xx / (5 + i) + c) * torch.cos(yy / (7 + c))
                                      for c in range(3)]) for i in range(8)])
    psnr = {}
    for prepared in (False, True):
        torch.manual_seed(0)
        model = Walloc(cfg)
        if prepared:
            model.prepare(batch)
            w = model.encoder.weight.detach().reshape(cfg.latent, -1).double() * cfg.step
            assert torch.allclose(w @ w.T, torch.eye(cfg.latent, dtype=torch.float64), atol=1e-4)
        with torch.no_grad():
            x_hat = model.synthesize(model.bands_of(torch.round(model.analyse(batch, 3.0)), 3.0))
        psnr[prepared] = -10 * torch.log10(((x_hat - batch) ** 2).mean()).item()
    assert psnr[True] > 30 and psnr[True] > psnr[False] + 15, psnr


def test_a_ladder_keeps_some_levels_of_a_model_over_a_quality_range():
    cfg = WallocConfig(latent=6, width=16, blocks=1, lambdas=(0.001, 0.004, 0.016, 0.064))
    art = _trained_a_little(cfg, 5).export()
    part = ladder(art, [1, 3], (60.0, 100.0))
    full, upper = InferenceModel(art), InferenceModel(part)
    assert upper.levels == 2 and upper.cfg.qualities == (60.0, 100.0) and upper.cfg.lambdas == (0.004, 0.064)
    assert np.array_equal(upper.tables, full.tables[[1, 3]])
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        for mine, theirs in ((0, 1), (1, 3), (0.5, 2)):  # level 0.5 of the ladder: between 1 and 3
            same = torch.equal(upper.net.analyse(x, mine), full.net.analyse(x, theirs))
            assert same == (mine != 0.5)
    assert sorted({k.split(".")[0] for k in part["priors"]}) == ["0", "1"]
    for bad in ([], [2, 1], [0, 4]):
        with pytest.raises(ValueError, match="levels"):
            ladder(art, bad, (60.0, 100.0))
