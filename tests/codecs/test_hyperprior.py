"""hyperprior: round trips on odd sizes and modes, exact integer nets under batching, tiling and
threads, the checkerboard context.  The learned-codec kit (test_learned.py) runs its checklist,
fixtures, weights errors and cross-process decoding."""

import dataclasses
import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import omnicodec
from omnicodec.errors import CorruptStreamError, UnsupportedInputError
from omnicodec.models import packing

from ..common import FIXTURES, make_image
from .checklist import check_fixture

torch = pytest.importorskip("torch")  # the neural extra; `make test` installs it


def test_rate_grows_with_quality():
    item = make_image(96, 128)
    sizes = [len(omnicodec.encode(item, "hyperprior", q)) for q in (0, 50, 100)]
    assert sizes[0] <= sizes[1] <= sizes[2] and sizes[0] < sizes[2], sizes


def _default_model():
    from omnicodec.codecs.hyperprior import Hyperprior

    return Hyperprior().model()


def test_integer_hyper_synthesis_is_exact_under_batching_and_threads():
    model = _default_model()
    rng = np.random.default_rng(0)
    z = torch.from_numpy(rng.integers(0, 9, (2, model.cfg.N, 3, 5)))
    alone = model.hyper(z[:1])
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        batched = model.hyper(z)
    finally:
        torch.set_num_threads(old)
    assert torch.equal(alone, batched[:1])
    assert torch.equal(alone, torch.round(alone)) and alone.abs().max() > 0  # integers on the 2**-8 grid


SHIPPED = __import__("omnicodec.codecs.learned", fromlist=["weights_dir"]).weights_dir()
DEFAULT = __import__("omnicodec.codecs.hyperprior", fromlist=["Hyperprior"]).Hyperprior.weights_file


def _copy_weights(tmp_path):
    for f in SHIPPED.iterdir():
        shutil.copy(f, tmp_path / f.name)
    return tmp_path


def _random_checkerboard() -> dict:
    """Weights of an untrained checkerboard model whose context matters (its last layer starts
    at zero)."""
    from omnicodec.models.hyperprior import Hyperprior, HyperpriorConfig

    torch.manual_seed(0)
    net = Hyperprior(HyperpriorConfig(context="checkerboard"))
    torch.nn.init.normal_(net.entropy_parameters[-1].weight, std=0.05)
    return net.export()


def test_checkerboard_parameters_are_exact_and_use_only_anchors():
    """The checkerboard's integer context path: the same (σ, μ) alone, in a batch and with one
    thread; stage 0 ignores ŷ, stage 1 sees only the anchors' ŷ through the context."""
    from omnicodec.models.hyperprior import InferenceModel

    model = InferenceModel(_random_checkerboard())
    rng = np.random.default_rng(1)
    z = torch.from_numpy(rng.integers(0, 20, (2, model.cfg.N, 2, 3)))
    hyper = model.hyper(z)
    anchor, rest = model.masks(*hyper.shape[2:])
    y_hat = torch.from_numpy(rng.normal(0, 4, (2, model.cfg.M, *hyper.shape[2:])).round() + 0.25) * anchor
    first = model.stage_params(hyper, y_hat, 0)
    assert torch.equal(first[1], model.stage_params(hyper, torch.zeros_like(y_hat), 0)[1])
    second = model.stage_params(hyper, y_hat, 1)
    assert not torch.equal(first[1][rest.expand_as(y_hat)], second[1][rest.expand_as(y_hat)])
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        alone = model.stage_params(hyper[:1], y_hat[:1], 1)
    finally:
        torch.set_num_threads(old)
    for a, b in zip(alone, second):
        assert torch.equal(a[0], b[0])
    assert torch.equal(second[1] * 256, torch.round(second[1] * 256))


def test_checkerboard_and_plain_weights_each_decode_their_streams(tmp_path, monkeypatch):
    """A checkerboard model codes in two stages and round-trips; the plain fixture still decodes
    when the checkerboard weights are the default."""
    from omnicodec.codecs import learned
    from omnicodec.codecs.hyperprior import Hyperprior

    _copy_weights(tmp_path)
    torch.save(_random_checkerboard(), tmp_path / "cb.pt")
    manifest = json.loads((tmp_path / "MANIFEST.json").read_text())
    manifest["cb.pt"] = {"codec": "hyperprior",
                         "sha256": hashlib.sha256((tmp_path / "cb.pt").read_bytes()).hexdigest()}
    (tmp_path / "MANIFEST.json").write_text(json.dumps(manifest))
    monkeypatch.setenv("OMNICODEC_WEIGHTS", str(tmp_path))
    monkeypatch.setattr(Hyperprior, "weights_file", "cb.pt")
    learned._inference.cache_clear()
    item = make_image(48, 80, "RGB")
    blob = omnicodec.encode(item, "hyperprior", 70)
    assert len(Hyperprior().model().masks(3, 5)) == 2
    assert omnicodec.decode(blob).pixels.shape == item.pixels.shape
    for folder in (FIXTURES / "hyperprior").iterdir():
        check_fixture("hyperprior", make_image(40, 56), folder.name)


def test_tiled_synthesis_matches_the_whole_image():
    """The fixed 512-px tiling changes the float64 synthesis by ~1e-15 at most: after rounding to
    8 bits, pixels equal the whole-image synthesis (a flip needs a value on a rounding edge)."""
    from omnicodec.codecs.hyperprior import TILE, synthesize

    model = _default_model()
    y = torch.randn(1, model.cfg.M, TILE + 9, 2 * TILE + 3, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    tiled = synthesize(model, y)[0]
    with torch.no_grad():
        whole = (model.g_s(y)[0].clamp(0, 1).permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)
    assert tiled.shape == whole.shape and (tiled == whole).mean() > 0.9999
    assert np.abs(tiled.astype(int) - whole).max() <= 1


def test_float32_synthesis_tiles_in_threads_as_alone():
    """The float32 synthesis computes each tile on one torch thread, whether one tile runs at a
    time or two (threads): the same pixels, within 1 of the float64 synthesis."""
    from omnicodec.codecs.hyperprior import TILE, synthesize

    model = _default_model()
    y = torch.randn(1, model.cfg.M, TILE + 5, 2 * TILE + 3, dtype=torch.float64,
                    generator=torch.Generator().manual_seed(4))
    exact = synthesize(model, y)
    alone, workers = synthesize(model, y, "float32", workers=1), synthesize(model, y, "float32", workers=2)
    assert np.array_equal(alone, workers) and np.abs(alone.astype(int) - exact).max() <= 1
    assert (alone == exact).mean() > 0.999


def test_integer_nets_in_tiles_are_exact():
    """The hyper-synthesis runs in tiles (bounded memory); integers make that exact."""
    model = _default_model()
    z = torch.randint(0, 12, (1, model.cfg.N, 21, 13), generator=torch.Generator().manual_seed(5))
    whole = model.h_s(z.double() + model.z_offsets[None, :, None, None].double())
    assert torch.equal(model.hyper(z), whole)


def test_pixel_cap_is_checked_before_any_network_runs(monkeypatch):
    import time

    from omnicodec import container, limits

    box = container.unpack(omnicodec.encode(make_image(24, 24), "hyperprior", 50))
    box.header.meta.update(width=8192, height=8192)  # a 357-byte file claiming 8192²
    t = time.perf_counter()
    with pytest.raises(CorruptStreamError, match="learned codec"):
        omnicodec.decode(container.pack(box.header, box.sections))
    assert time.perf_counter() - t < 1.0
    monkeypatch.setattr(limits, "MAX_LEARNED_PIXELS", 1000)
    with pytest.raises(UnsupportedInputError, match="memory cap"):
        omnicodec.encode(make_image(40, 40), "hyperprior", 50)


def test_weights_that_do_not_fit_the_model_are_refused(tmp_path, monkeypatch):
    """An artefact whose config does not match its tensors is refused with a one-line error,
    not a torch traceback (the other weights errors are in learned_kit.py)."""
    from omnicodec.codecs import learned
    from omnicodec.codecs.hyperprior import Hyperprior

    _copy_weights(tmp_path)
    manifest = json.loads((tmp_path / "MANIFEST.json").read_text())
    art = packing.load(SHIPPED / DEFAULT)
    art["config"] = {**art["config"], "M": 64}
    torch.save(art, tmp_path / "bad.pt")
    manifest["bad.pt"] = {"codec": "hyperprior", "sha256": hashlib.sha256((tmp_path / "bad.pt").read_bytes()).hexdigest()}
    (tmp_path / "MANIFEST.json").write_text(json.dumps(manifest))
    monkeypatch.setenv("OMNICODEC_WEIGHTS", str(tmp_path))
    monkeypatch.setattr(Hyperprior, "weights_file", "bad.pt")
    learned._inference.cache_clear()
    with pytest.raises(CorruptStreamError, match="do not fit the model"):
        Hyperprior().model()


def test_lane_streams_decode_to_the_same_pixels_and_check_their_config():
    """The lane entropy format behind the config (lanes=N): same latents, so the same pixels as
    the sequential stream; its fixture keeps decoding; a header whose lane count disagrees
    with the payload, or an impossible lane setting, is refused."""
    from omnicodec import container
    from omnicodec.codecs.hyperprior import Hyperprior

    item = make_image(40, 56)
    check_fixture("hyperprior", item, "v2-hyperprior-lanes4-none-84000", Hyperprior(lanes=4))
    lanes, plain = (omnicodec.encode(item, Hyperprior(lanes=n)) for n in (4, 0))
    assert lanes != plain
    assert np.array_equal(omnicodec.decode(lanes).pixels, omnicodec.decode(plain).pixels)
    box = container.unpack(lanes)
    for bad in (3, -1, "4", 1 << 20):
        blob = container.pack(dataclasses.replace(box.header, config={**box.header.config, "lanes": bad}),
                              box.sections)
        with pytest.raises(CorruptStreamError):
            omnicodec.decode(blob)
    with pytest.raises(ValueError):
        Hyperprior(coder="range", lanes=2)


def test_coding_loads_neither_compressai_init_nor_scipy_nor_numba(tmp_path):
    """A hyperprior encode and decode in a fresh process import only compressai's layers: its
    package __init__ (datasets, zoo: 4 s), scipy (1 s, for its float entropy models) and, for
    an image this small, numba (0.5 s of start-up) stay out."""
    import subprocess
    import sys

    code = ("import sys, omnicodec\n"
            "from tests.common import make_image\n"
            "omnicodec.decode(omnicodec.encode(make_image(32, 48), 'hyperprior', 50))\n"
            "print(' '.join(m for m in ('compressai', 'compressai.datasets', 'scipy', 'numba') if m in sys.modules))")
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == []


def test_tiled_images_decode_tile_by_tile_as_alone():
    """A grid of tiles that pad to 64 unevenly: each tile decodes as alone (learned_kit); a
    model with a spatial context refuses grids (its context would cross the tiles)."""
    from types import SimpleNamespace

    from omnicodec.codecs.hyperprior import Hyperprior
    from omnicodec.errors import UnsupportedInputError

    from ..common import make_image
    from .learned_kit import check_grid_as_alone

    codec = Hyperprior(quality=40).with_tiles(20, 70)
    header, _, tiles = check_grid_as_alone(codec, make_image(40, 140, seed=8), 2, 2)
    assert tiles.shape == (4, 128, 2, 5)
    with pytest.raises(UnsupportedInputError, match="checkerboard"):
        codec._grid(SimpleNamespace(cfg=SimpleNamespace(context="checkerboard")), header.meta, UnsupportedInputError)
