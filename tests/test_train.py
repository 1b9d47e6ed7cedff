"""`codec train hyperprior`: a few steps, a checkpoint, a resume, an export that loads."""

import json

import numpy as np
import pytest

pytest.importorskip("torch")


@pytest.mark.train
def test_train_resume_export(tmp_path):
    from PIL import Image

    from omnicodec.cli.main import main

    data = tmp_path / "imgs"
    data.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray(rng.integers(0, 256, (80, 96, 3), dtype=np.uint8)).save(data / f"{i}.png")
    out = tmp_path / "run"
    args = ["train", "hyperprior", "--data", str(data), "--out", str(out), "--crop", "64", "--batch", "2"]
    assert main(args + ["--steps", "2"]) == 0
    first = __import__("torch").load(out / "last.pt", weights_only=False)
    assert first["step"] == 2
    assert main(args + ["--steps", "3", "--resume", str(out / "last.pt"), "--export", str(tmp_path / "w")]) == 0
    manifest = json.loads((tmp_path / "w" / "MANIFEST.json").read_text())["hyperprior.pt"]
    assert manifest["steps"] == 3 and len(manifest["sha256"]) == 64

    from omnicodec.codecs.hyperprior import load_model

    model = load_model(str(tmp_path / "w" / "hyperprior.pt"), manifest["sha256"])
    assert model.z_freqs.shape[0] == model.cfg.N
