"""`codec train hyperprior`: a few steps, a checkpoint, a resume, a checkerboard run initialised
from the plain one, exports that load and code an image."""

import json

import numpy as np
import pytest

import omnicodec

from .common import make_image

torch = pytest.importorskip("torch")


@pytest.mark.train
def test_train_resume_init_export(tmp_path, monkeypatch):
    from PIL import Image

    from omnicodec.cli.main import main
    from omnicodec.codecs import hyperprior

    data = tmp_path / "imgs"
    data.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray(rng.integers(0, 256, (80, 96, 3), dtype=np.uint8)).save(data / f"{i}.png")
    out, weights = tmp_path / "run", tmp_path / "w"
    args = ["train", "hyperprior", "--data", str(data), "--crop", "64", "--batch", "2"]
    assert main(args + ["--out", str(out), "--steps", "2"]) == 0
    assert torch.load(out / "last.pt", weights_only=False)["step"] == 2
    assert main(args + ["--out", str(out), "--steps", "3", "--resume", str(out / "last.pt"),
                        "--export", str(weights)]) == 0
    # a checkerboard run from the plain weights: the step count carries on
    cb = tmp_path / "cb"
    assert main(args + ["--out", str(cb), "--steps", "4", "--context", "checkerboard", "--init",
                        str(out / "last.pt"), "--export", str(weights)]) == 0
    manifest = json.loads((weights / "MANIFEST.json").read_text())
    assert sorted(manifest) == ["hyperprior-checkerboard-4.pt", "hyperprior-none-3.pt"]
    assert manifest["hyperprior-none-3.pt"]["steps"] == 3
    assert manifest["hyperprior-checkerboard-4.pt"]["config"]["context"] == "checkerboard"

    # both exports code an image; each stream decodes with the weights it names
    monkeypatch.setenv("OMNICODEC_WEIGHTS", str(weights))
    item = make_image(40, 72)
    blobs = {}
    for name in manifest:
        monkeypatch.setattr(hyperprior, "WEIGHTS", name)
        blobs[name] = omnicodec.encode(item, "hyperprior", 60)
    for name, blob in blobs.items():
        monkeypatch.setattr(hyperprior, "WEIGHTS", "missing.pt")  # decoding goes by digest alone
        assert omnicodec.decode(blob).pixels.shape == item.pixels.shape
