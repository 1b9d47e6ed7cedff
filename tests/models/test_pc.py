"""The HCLT: its learned tree, its likelihood against brute force, EM steps that raise the
likelihood, and the integer tables coding uses."""

import itertools
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from omnicodec.models import pc  # noqa: E402

from ..common import make_digits  # noqa: E402


def _digits(n: int, seed: int = 0) -> np.ndarray:
    return make_digits(n, 1, seed).pixels[:, :, 0].reshape(n, -1)


def test_chow_liu_links_dependent_pixels_and_roots_at_the_centre():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, 4000)
    b = rng.integers(0, 256, 4000)
    # variables 0-1-2 a chain of copies of a (with noise), 3-4 copies of b
    x = np.stack([a, (a + rng.integers(0, 40, 4000)) % 256, a, b, 255 - b], 1).astype(np.uint8)
    parent = pc.chow_liu(x)
    pc.check_tree(parent)
    edges = {frozenset((v, int(p))) for v, p in enumerate(parent) if p >= 0}
    assert {frozenset((0, 2)), frozenset((3, 4))} <= edges
    depth = [len(list(itertools.takewhile(lambda v: v >= 0, _ancestors(parent, v)))) for v in range(5)]
    assert max(depth) <= 3  # a 5-node tree rooted at its centre


def _ancestors(parent, v):
    while v >= 0:
        v = int(parent[v])
        yield v


def test_check_tree_refuses_cycles_and_forests():
    with pytest.raises(ValueError, match="cycle"):
        pc.check_tree(np.array([-1, 2, 1]))
    with pytest.raises(ValueError, match="one root"):
        pc.check_tree(np.array([-1, -1, 0]))
    order = pc.preorder(np.array([2, 2, -1, 0]))
    assert order.tolist() == [2, 0, 3, 1]


def test_likelihood_equals_brute_force_sum_over_latents():
    """On a 2x2 model the upward pass equals Σ over all latent assignments."""
    model = pc.HCLT(pc.PCConfig(hidden=3, basis=2, height=2, width=2))
    model.set_parent(np.array([1, -1, 1, 0]))
    x = torch.tensor([[0, 128, 255, 7], [3, 3, 3, 3]])
    with torch.no_grad():
        got = model.log_likelihood(x).exp()
        emit = torch.einsum("dhj,jk->dhk", model.mix, model.basis)
        for b in range(2):
            total = 0.0
            for z in itertools.product(range(3), repeat=4):
                p = model.prior[z[1]]
                for v, par in enumerate([1, -1, 1, 0]):
                    if par >= 0:
                        p = p * model.trans[v, z[par], z[v]]
                    p = p * emit[v, z[v], x[b, v]]
                total += float(p)
            assert math.isclose(float(got[b]), total, rel_tol=1e-4)


def test_em_steps_raise_the_likelihood_of_held_out_digits():
    torch.manual_seed(0)
    model = pc.HCLT(pc.PCConfig(hidden=4, basis=4))
    train = torch.from_numpy(_digits(200, 1)[:, None].reshape(200, 1, 28, 28) / 255.0).float()
    held = torch.from_numpy(_digits(50, 2).reshape(50, 1, 28, 28) / 255.0).float()
    model.prepare(train)
    before = model.loss(held)[1]["bpd"]
    for i in range(4):
        metrics = model.update(train[i * 50:(i + 1) * 50], 0.5)
        assert metrics["loss"] == metrics["bpd"]
    with torch.no_grad():
        after = model.loss(held)[1]["bpd"]
    assert after < 0.8 * before
    for p in (model.prior, model.trans, model.mix, model.basis):  # still distributions
        assert torch.allclose(p.sum(-1), torch.ones(()), atol=1e-5) and p.min() > 0


def test_tables_are_exact_integer_rows_and_survive_an_artefact_round_trip():
    model = pc.HCLT(pc.PCConfig(hidden=4, basis=3))
    art = model.export()
    t = pc.tables(art)
    assert t["trans"].shape == (784, 4, 4) and np.all(t["trans"].sum(-1) == 1 << pc.FREQ_BITS)
    assert np.array_equal(t["up"], t["trans"].transpose(0, 2, 1))
    emit = t["emit"]
    assert np.all(emit[..., 0] == 0) and np.all(emit[..., -1] == 1 << pc.FREQ_BITS)
    assert np.all(np.diff(emit, axis=-1) >= 1)  # every value codable in every state
    other = pc.HCLT(pc.PCConfig(hidden=4, basis=3))
    other.load_artefact(art)  # fp16 log-probabilities: the same model to < 0.1% per probability
    x = torch.from_numpy(_digits(8)).long()
    with torch.no_grad():
        assert torch.allclose(other.log_likelihood(x), model.log_likelihood(x), rtol=1e-3)


def test_freq_rows_gives_every_symbol_at_least_one_and_the_exact_total():
    rows = pc.freq_rows(np.array([[1.0, 0.0, 0.0, 1e-30], [0.25, 0.25, 0.25, 0.25]]), bits=10)
    assert rows.tolist() == [[1021, 1, 1, 1], [256, 256, 256, 256]]
    rows = pc.freq_rows(np.array([[0.3, 0.3, 0.4]]), bits=4)  # 1 + floor(p * 13) = 4, 4, 6: 2 left
    assert rows.tolist() == [[4, 4, 8]]


def test_splitting_every_state_keeps_the_distribution():
    """scripts/pc-split.py: the 2H model of an H model, unperturbed, gives the same likelihoods."""
    import importlib.util

    from ..common import ROOT

    spec = importlib.util.spec_from_file_location("pc_split", ROOT / "scripts" / "pc-split.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    small = pc.HCLT(pc.PCConfig(hidden=3, basis=4))
    small.set_parent(pc.chow_liu(_digits(300)))
    wide = pc.HCLT(pc.PCConfig(hidden=6, basis=4))
    x = torch.from_numpy(_digits(6, 3)).long()
    with torch.no_grad():
        wide.load_state_dict(module.split(small.state_dict(), eps=0.0))
        assert torch.allclose(wide.log_likelihood(x), small.log_likelihood(x), rtol=1e-5)
        wide.load_state_dict(module.split(small.state_dict()))
        assert not torch.allclose(wide.log_likelihood(x), small.log_likelihood(x), rtol=1e-5)
