"""The trainer (`codec train MODEL`): exact resume, the learning-rate schedule, starting from
shipped weights, a checkerboard run initialised from a plain one, exports that code an image;
the GPU script's CPU dry run.  (The training sources and the packer: tests/datasets.)"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import omnicodec

from ..common import ROOT, make_image, write_images

torch = pytest.importorskip("torch")
TINY = "N=8,M=8"  # a small hyperprior: the machinery, not the model, is under test


def _train(data, out, steps, *extra):
    from omnicodec.cli.main import main

    args = ["train", "hyperprior", "--data", str(data), "--size", "64", "--batch", "2", "--out", str(out),
            "--steps", str(steps), "--val-every", "2", "--lr", "1e-3", "--warmup", "2"]
    assert main(args + list(extra)) == 0
    return torch.load(out / "last.pt", weights_only=True)


@pytest.mark.train
def test_resume_is_exact(tmp_path):
    """Two steps, a checkpoint, two more: the same weights, optimizer and history as four in one
    go (same batches, noise, levels and learning rates)."""
    data = write_images(tmp_path / "imgs")
    same = ("--config", TINY, "--ema", "0.9", "--decay-from", "100")  # one schedule for 2 or 4 steps
    straight = _train(data, tmp_path / "a", 4, *same)
    _train(data, tmp_path / "b", 2, *same)
    resumed = _train(data, tmp_path / "b", 4, "--resume", str(tmp_path / "b" / "last.pt"))
    assert resumed["step"] == straight["step"] == 4
    for key, value in straight["model"].items():
        assert torch.equal(value, resumed["model"][key]), key
    for key, value in straight["ema"].items():
        assert torch.equal(value, resumed["ema"][key]), key
    assert [r["train_loss"] for r in straight["history"]] == [r["train_loss"] for r in resumed["history"]]
    assert straight["train"]["ema"] == resumed["train"]["ema"] == 0.9



def test_prefetched_batches_are_the_unthreaded_ones(tmp_path):
    """A GPU run's prefetching thread hands over the batches, and leaves the sampler in the
    states, that drawing them in the loop would (so checkpoints resume exactly); uint8 crops
    become the floats a host-side division by 255 gives; a failing source fails the run."""
    from omnicodec.datasets import training
    from omnicodec.models.train import Batches, to_device

    src = training.source("images", write_images(tmp_path / "imgs"), 32)
    rngs = [np.random.default_rng(7), np.random.default_rng(7)]
    with Batches(src, rngs[0], 3, "cpu", prefetch=False) as plain, Batches(src, rngs[1], 3, "cpu", prefetch=True) as ahead:
        for _ in range(5):
            a, b = plain.next(), ahead.next()
            assert torch.equal(a, b) and a.dtype == torch.float32
            assert rngs[0].bit_generator.state == rngs[1].bit_generator.state
    raw = src.batch(np.random.default_rng(1), 2)
    assert torch.equal(to_device(raw, "cpu"), torch.from_numpy(raw.astype(np.float32) / 255.0))

    class Broken:
        calls = 0

        def batch(self, rng, n):
            Broken.calls += 1
            if Broken.calls > 1:
                raise OSError("disk gone")
            return np.zeros((n, 3, 4, 4), np.uint8)

    with Batches(Broken(), np.random.default_rng(0), 2, "cpu", prefetch=True) as batches:
        batches.next()
        with pytest.raises(OSError, match="disk gone"):
            batches.next()

def test_learning_rate_schedule():
    from omnicodec.models.train import TrainConfig

    tc = TrainConfig(steps=1000, lr=1e-3, final_lr=0.1, warmup=10, decay_from=600, start=0)
    assert tc.lr_at(0) == pytest.approx(1e-4) and tc.lr_at(9) == pytest.approx(1e-3)
    assert tc.lr_at(300) == tc.lr_at(599) == pytest.approx(1e-3)
    assert tc.lr_at(800) == pytest.approx(1e-3 * (0.1 + 0.9 * 0.5)) and tc.lr_at(1000) == pytest.approx(1e-4)
    later = TrainConfig(steps=2000, lr=1e-3, start=1000)  # decay from halfway through the run
    assert later.lr_at(1499) == pytest.approx(1e-3) and later.lr_at(1999) < 1.01e-4


@pytest.mark.train
def test_init_checkerboard_export_and_code(tmp_path, monkeypatch):
    """A plain run, a checkerboard run started from it (its step count carries on), a run started
    from an exported weights file; each export codes an image and its stream decodes by digest."""
    from omnicodec.codecs import learned
    from omnicodec.codecs.hyperprior import Hyperprior

    data, weights = write_images(tmp_path / "imgs"), tmp_path / "w"
    _train(data, tmp_path / "plain", 3, "--config", TINY, "--export", str(weights))
    cb = _train(data, tmp_path / "cb", 4, "--config", TINY + ",context=checkerboard", "--init",
                str(tmp_path / "plain" / "last.pt"), "--export", str(weights))
    assert cb["config"]["context"] == "checkerboard" and cb["step"] == 4
    again = _train(data, tmp_path / "again", 5, "--init", str(weights / "hyperprior-none-3.pt"), "--config", TINY)
    plain = torch.load(tmp_path / "plain" / "last.pt", weights_only=True)["model"]
    assert again["step"] == 5 and not torch.equal(again["model"]["g_s.0.weight"], plain["g_s.0.weight"])
    manifest = json.loads((weights / "MANIFEST.json").read_text())
    assert sorted(manifest) == ["hyperprior-checkerboard-4.pt", "hyperprior-none-3.pt"]
    assert manifest["hyperprior-none-3.pt"]["steps"] == 3 and manifest["hyperprior-none-3.pt"]["codec"] == "hyperprior"
    assert manifest["hyperprior-checkerboard-4.pt"]["validation"][0]["step"] == 4
    from omnicodec.models.train import export

    shipped = (weights / "hyperprior-none-3.pt.omw").read_bytes()
    with pytest.raises(ValueError, match="exists with other weights"):  # streams may name the shipped file
        export(tmp_path / "cb" / "last.pt", weights, "hyperprior-none-3.pt")
    assert (weights / "hyperprior-none-3.pt.omw").read_bytes() == shipped
    assert json.loads((weights / "MANIFEST.json").read_text()) == manifest

    monkeypatch.setenv("OMNICODEC_WEIGHTS", str(weights))
    learned._inference.cache_clear()
    item = make_image(40, 72)
    blobs = {}
    for name in manifest:
        monkeypatch.setattr(Hyperprior, "weights_file", name)
        blobs[name] = omnicodec.encode(item, "hyperprior", 60)
    monkeypatch.setattr(Hyperprior, "weights_file", "missing.pt")  # decoding goes by digest alone
    for blob in blobs.values():
        assert omnicodec.decode(blob).pixels.shape == item.pixels.shape


@pytest.mark.train
def test_gpu_script_dry_run(tmp_path):
    """scripts/gpu-train.sh on the CPU, as the device tool runs it: packs nothing (a data folder
    is given), starts from the given weights, stops, exports into $OUT; a second call resumes
    from the state it left."""
    data = write_images(tmp_path / "imgs")
    state, out = tmp_path / "state", tmp_path / "out"
    env = {**os.environ, "PYTHON": sys.executable, "STATE": str(state), "OUT": str(out), "DATA": str(data),
           "DEVICE": "cpu", "MINUTES": "5", "INIT": "none", "TRAIN_ARGS": "--size 64 --batch 2 --val-every 2 --config " + TINY}
    for steps in (2, 3):
        run = subprocess.run(["bash", str(ROOT / "scripts" / "gpu-train.sh"), "hyperprior", str(steps)],
                             cwd=ROOT, env=env, capture_output=True, text=True)
        assert run.returncode == 0, run.stderr[-2000:]
    assert "resuming" in run.stdout
    manifest = json.loads((out / "MANIFEST.json").read_text())
    assert sorted(e["steps"] for e in manifest.values()) == [2, 3]  # one export per call
    assert (out / "train.log").exists() and torch.load(state / "last.pt", weights_only=True)["step"] == 3


def test_model_config_from_the_command_line():
    from omnicodec.models.train import parse_config

    assert parse_config("N=128,M=192,context=checkerboard,lambdas=[0.0018,0.18]") == {
        "N": 128, "M": 192, "context": "checkerboard", "lambdas": [0.0018, 0.18]}
    assert parse_config("") == {}


@pytest.mark.train
def test_em_models_train_resume_exactly_and_export_their_own_dtype(tmp_path):
    """pc trains by its own update (EM), not Adam: two steps then two more equal four in one go,
    and its export's MANIFEST entry says what it holds."""
    from omnicodec.cli.main import main
    from omnicodec.models.pc import HCLT

    from ..common import make_digits

    digits = make_digits(4, 5).pixels[:, :, 0].reshape(4, 28, 5, 28).transpose(0, 2, 1, 3).reshape(20, 28, 28)
    np.savez(tmp_path / "mnist.npz", x_train=digits, y_train=np.zeros(20), x_test=digits[:4], y_test=np.zeros(4))

    def run(out, steps, *extra):
        args = ["train", "pc", "--data", str(tmp_path), "--batch", "8", "--out", str(out), "--steps", str(steps),
                "--lr", "0.5", "--decay-from", "100", "--val-every", "2", *extra]
        assert main(args) == 0
        return torch.load(out / "last.pt", weights_only=True)

    config = ("--config", "hidden=3,basis=4")
    once = run(tmp_path / "once", 4, *config, "--export", str(tmp_path / "w"))
    run(tmp_path / "twice", 2, *config)
    twice = run(tmp_path / "twice", 4, "--resume", str(tmp_path / "twice" / "last.pt"))
    assert all(torch.equal(once["model"][k], twice["model"][k]) for k in once["model"])
    assert not torch.equal(once["model"]["trans"], HCLT(HCLT.config_from({"hidden": 3, "basis": 4})).trans)
    manifest = json.loads((tmp_path / "w" / "MANIFEST.json").read_text())
    assert manifest["pc-hclt3x4-4.pt"]["dtype"] == HCLT.shipped


def test_vq_resumes_exactly_through_its_codebook_ladder_and_gan(tmp_path):
    """vq's EMA codebook (vector-quantize-pytorch), its ladder re-clustering and the GAN in the
    same step: two steps then two more equal four in one go; the history is plain floats (a
    numpy scalar in it made checkpoints unloadable with weights_only)."""
    pytest.importorskip("vector_quantize_pytorch")
    from omnicodec.cli.main import main

    data = write_images(tmp_path / "imgs")
    config = ("--config", "codes=16,dim=4,encoder=[4,4,4,4],decoder=[4,4,4,4],prior=4,ladder=[2,4],"
              "recluster_every=2,gan_start=2", "--decay-from", "100")

    def run(out, steps, *extra):
        args = ["train", "vq", "--data", str(data), "--size", "64", "--batch", "2", "--out", str(out),
                "--steps", str(steps), "--val-every", "2", "--lr", "1e-3", *extra]
        assert main(args) == 0
        return torch.load(out / "last.pt", weights_only=True)

    once = run(tmp_path / "once", 4, *config)
    run(tmp_path / "twice", 2, *config)
    twice = run(tmp_path / "twice", 4, "--resume", str(tmp_path / "twice" / "last.pt"))
    assert all(torch.equal(once["model"][k], twice["model"][k]) for k in once["model"])
    assert [r["train_loss"] for r in once["history"]] == [r["train_loss"] for r in twice["history"]]
    assert "train_d" in once["history"][-1] and once["model"]["centroids"].abs().sum() > 0
