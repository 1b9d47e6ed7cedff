"""The learned-model toolkit (models/base.py): exact integer nets, fixed tiling, gain units,
fp16 export, and the LearnedModel contract every registered network keeps."""

import numpy as np
import pytest

from omnicodec import registry

torch = pytest.importorskip("torch")
from omnicodec.models import base  # noqa: E402 - needs torch


def _net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(),
                               torch.nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1))


def test_integer_net_is_integer_close_to_float_and_batch_independent():
    net, rng = _net(), np.random.default_rng(0)
    x = torch.from_numpy(rng.integers(-20, 20, (3, 3, 9, 7)).astype(np.float64))
    exact = base.IntegerNet.from_module(net)
    out = exact(x)
    assert torch.equal(out, torch.round(out))  # integers in units of 2**-ACT_BITS
    with torch.no_grad():
        ref = net(x.float()).double() * 2**base.ACT_BITS
    assert (out - ref).abs().max() < 0.02 * ref.abs().max() + 8  # rounding of weights and activations
    assert torch.equal(exact(x[1:2]), out[1:2])


def test_integer_net_runs_dilated_convolutions():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3, padding=2, dilation=2), torch.nn.ReLU(),
                              torch.nn.Conv2d(3, 2, 3, padding=4, dilation=4))
    x = torch.from_numpy(np.random.default_rng(2).integers(-20, 20, (1, 2, 11, 13)).astype(np.float64))
    out = base.IntegerNet.from_module(net)(x)
    with torch.no_grad():
        ref = net(x.float()).double() * 2**base.ACT_BITS
    assert out.shape == ref.shape and (out - ref).abs().max() < 0.02 * ref.abs().max() + 8


def test_integer_net_refuses_layers_it_cannot_run_exactly():
    with pytest.raises(TypeError, match="Sigmoid"):
        base.IntegerNet.from_module(torch.nn.Sequential(torch.nn.Sigmoid()))


def test_tiling_of_an_integer_net_equals_the_whole():
    exact = base.IntegerNet.from_module(_net())
    x = torch.from_numpy(np.random.default_rng(1).integers(-9, 9, (1, 3, 23, 17)).astype(np.float64))
    assert torch.equal(base.tiled(exact, x, 1, 2, tile=5, halo=2), exact(x))


def test_level_gains_hit_the_levels_and_interpolate_geometrically():
    gain = torch.tensor([[1.0, 4.0], [4.0, 16.0], [16.0, 64.0]])
    g, ig = base.level_gains(gain, 1 / gain, [0, 1.5, 9])
    assert torch.allclose(g[:, :, 0, 0], torch.tensor([[1.0, 4.0], [8.0, 32.0], [16.0, 64.0]]))
    assert torch.allclose(g * ig, torch.ones_like(g))


def test_half_state_round_trips_at_fp16_precision():
    net = _net()
    state = base.half_state(net)
    assert all(v.dtype == torch.float16 for v in state.values())
    other = _net()
    for p in other.parameters():
        torch.nn.init.zeros_(p)
    base.load_half(other, state)
    for (k, a), b in zip(net.state_dict().items(), other.state_dict().values()):
        assert torch.equal(a.half().float(), b), k


@pytest.mark.parametrize("codec_id", [c for c in registry.codec_ids() if getattr(registry.get_codec_class(c), "network", "")])
def test_every_network_keeps_the_contract(codec_id):
    """Config through a dict, an export that loads back into an equal model, a finite loss."""
    from omnicodec.models.train import model_class

    cls = model_class(codec_id)
    assert issubclass(cls, base.LearnedModel) and cls.codec_id == codec_id
    small = {"N": 8, "M": 8} if codec_id == "hyperprior" else {}
    cfg = cls.config_from(small)
    torch.manual_seed(0)
    model = cls(cfg)
    assert cls.config_from(model.config_dict()) == cfg
    art = model.export()
    twin = cls(cls.config_from(art["config"]))
    twin.load_artefact(art)
    assert base.half_state(twin).keys() == base.half_state(model).keys()
    shape = {"mnist": (2, 1, 28, 28), "video": (2, 3, 3, 64, 64)}.get(cls.source, (2, 3, 64, 64))
    x = torch.rand(*shape, generator=torch.Generator().manual_seed(0))
    loss, logs = model.loss(x)
    assert torch.isfinite(loss) and set(logs) & {"bpp", "bpd"}  # bits per pixel, or per dimension
