"""The stem model: a fresh model codes exactly like its base image model, training on a still
scene lowers the inter-frame rate, and the exact integer nets follow the float ones."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")


def _still(frames: int = 3, size: int = 64, batch: int = 2) -> torch.Tensor:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size] / size
    img = np.stack([np.sin(xx * 7 + c) * 0.3 + 0.5 + 0.2 * (yy > 0.5) for c in range(3)])
    clip = np.repeat(img[None, None], frames, 1).repeat(batch, 0) + rng.normal(0, 0.01, (batch, frames, 3, size, size))
    return torch.from_numpy(np.clip(clip, 0, 1)).float()


def test_a_fresh_model_codes_like_its_image_model_and_training_lowers_the_rate():
    from omnicodec.models.stem import Stem

    torch.manual_seed(0)
    model = Stem()
    clips = _still()
    with torch.no_grad():
        inter, intra = model._clip_bits(clips, torch.tensor([0.0, 5.0]), noise=False)
    assert torch.equal(inter, intra)  # E starts at zero: the image model's parameters
    opt = torch.optim.Adam(model.main_parameters(), lr=1e-3)
    first = None
    for _ in range(25):
        loss, metrics = model.loss(clips)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.8 * first, (first, loss.item())
    assert all(not p.requires_grad for p in model.image.parameters())


def test_the_integer_nets_follow_the_float_ones():
    from omnicodec.codecs.hyperprior import Hyperprior as HyperpriorCodec
    from omnicodec.models.base import ACT_BITS
    from omnicodec.models.stem import InferenceModel, Stem

    torch.manual_seed(1)
    model = Stem().eval()
    for net in (model.temporal, model.context, model.entropy_parameters):
        for p in net.parameters():
            p.data.normal_(0, 0.02)
    art = model.export()
    model.load_artefact(art)  # the fp16 weights the integer nets are built from
    exact = InferenceModel(art, HyperpriorCodec().model())
    rng = np.random.default_rng(2)
    prev = torch.from_numpy(np.round(rng.normal(0, 3, (1, 128, 6, 7)) * 2**ACT_BITS) / 2**ACT_BITS)
    hyper = torch.from_numpy(np.round(rng.normal(0, 2, (1, 256, 6, 7)) * 2**ACT_BITS))
    y_hat = prev * torch.from_numpy(rng.integers(0, 2, (1, 1, 6, 7)))
    frame = exact.inter(prev)
    with torch.no_grad():
        temporal = model.temporal(prev.float())
        for stage, ctx in ((0, torch.zeros(1, 64, 6, 7)), (1, model.context(y_hat.float()))):
            want = model.params(hyper.float() / 2**ACT_BITS, temporal, ctx, prev.float()).chunk(2, 1)
            scales, means = frame.stage_params(hyper, y_hat, stage)
            assert torch.allclose(means.float(), want[1], atol=0.05)
            assert torch.allclose(scales.float(), want[0].clamp_min(0.11), atol=0.05)
