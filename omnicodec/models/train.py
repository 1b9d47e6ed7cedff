"""Training loop for the hyperprior: random crops, per-sample λ levels, aux loss, resumable
checkpoints, validation bpp/PSNR.  Used by ``codec train hyperprior``.

A checkpoint holds everything needed to continue (model, both optimizers, step, RNG states,
config), so training can go on across sessions: ``--resume runs/hyperprior/last.pt``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

from .hyperprior import LAMBDAS, Hyperprior, HyperpriorConfig, psnr, rd_loss

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".ppm"}


def load_images(folder: Path, min_side: int) -> list[np.ndarray]:
    from PIL import Image

    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTS)
    images = []
    for f in files:
        with Image.open(f) as im:
            a = np.asarray(im.convert("RGB"))
        if min(a.shape[:2]) >= min_side:
            images.append(a)
    if not images:
        raise FileNotFoundError(f"no training images of at least {min_side}px in {folder}")
    return images


def batches(images: list[np.ndarray], crop: int, batch: int, rng: np.random.Generator):
    while True:
        out = np.empty((batch, crop, crop, 3), dtype=np.uint8)
        for i in range(batch):
            a = images[rng.integers(len(images))]
            y, x = rng.integers(0, a.shape[0] - crop + 1), rng.integers(0, a.shape[1] - crop + 1)
            c = a[y:y + crop, x:x + crop]
            out[i] = c[:, ::-1] if rng.random() < 0.5 else c
        yield torch.from_numpy(out).permute(0, 3, 1, 2).float() / 255.0


def validation_image(crop: int = 256) -> torch.Tensor:
    from importlib import resources

    from PIL import Image

    with Image.open(resources.files("omnicodec") / "samples" / "kodim23.png") as im:
        a = np.asarray(im.convert("RGB"))
    h, w = a.shape[:2]
    a = a[(h - crop) // 2:(h + crop) // 2, (w - crop) // 2:(w + crop) // 2]
    return torch.from_numpy(a.copy()).permute(2, 0, 1)[None].float() / 255.0


def train(data: Path, steps: int, out: Path, resume: Path | None = None, device: str = "auto",
          crop: int = 128, batch: int = 8, lr: float = 1e-4, checkpoint_minutes: float = 5.0,
          seed: int = 0, log=print, context: str = "none", init: Path | None = None) -> Path:
    """Train until ``steps`` total steps (counting resumed ones); returns the last checkpoint.

    ``init`` starts a new run (e.g. with ``context="checkerboard"``) from the weights of another
    checkpoint, keeping its step count; modules it lacks keep their fresh initialisation (the
    checkerboard's starts out equal to the plain model)."""
    device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
    torch.manual_seed(seed)
    out.mkdir(parents=True, exist_ok=True)
    cfg = HyperpriorConfig(context=context)
    state = torch.load(resume, map_location="cpu", weights_only=False) if resume else None
    if state:
        cfg = HyperpriorConfig(**state["config"])
    model = Hyperprior(cfg).to(device)
    aux_params = [p for n, p in model.named_parameters() if n.endswith(".quantiles")]
    main_params = [p for n, p in model.named_parameters() if not n.endswith(".quantiles")]
    opt = torch.optim.Adam(main_params, lr=lr)
    aux_opt = torch.optim.Adam(aux_params, lr=1e-3)
    step, rng = 0, np.random.default_rng(seed)
    history = []
    if state:
        model.load_state_dict(state["model"])
        if "opt" in state:  # a full checkpoint; a compact one (see compact()) restarts Adam
            opt.load_state_dict(state["opt"])
            aux_opt.load_state_dict(state["aux_opt"])
        for group in opt.param_groups:
            group["lr"] = lr
        step, history = state["step"], state.get("history", [])
    elif init:
        start = torch.load(init, map_location="cpu", weights_only=False)
        missing, unexpected = model.load_state_dict(start["model"], strict=False)
        if unexpected or any(not k.startswith(("context.", "entropy_parameters.")) for k in missing):
            raise ValueError(f"{init} does not fit {cfg}: missing {missing}, unexpected {unexpected}")
        step, history = start["step"], [{**row, "init": str(init)} for row in start.get("history", [])]
    if step:
        rng = np.random.default_rng(seed + step)
        torch.manual_seed(seed + step)
    images = load_images(data, crop)
    log(f"training hyperprior {cfg} on {len(images)} images from {data}, {device}, from step {step}")
    feed = batches(images, crop, batch, rng)
    lambdas = torch.tensor(LAMBDAS, device=device)
    val = validation_image().to(device)
    last_save, t0, path = time.time(), time.time(), out / "last.pt"

    def save():
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "aux_opt": aux_opt.state_dict(),
                    "step": step, "config": cfg.to_dict(), "history": history, "data": str(data),
                    "device": device, "crop": crop, "batch": batch}, path.with_suffix(".tmp"))
        path.with_suffix(".tmp").replace(path)

    model.train()
    while step < steps:
        x = next(feed).to(device)
        level = torch.randint(0, cfg.levels, (x.shape[0],), device=device)
        x_hat, y_lik, z_lik = model(x, level.float())
        loss, bpp, mse = rd_loss(x, x_hat, y_lik, z_lik, lambdas[level])
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(main_params, 1.0)
        opt.step()
        aux_loss = model.entropy_bottleneck.loss()
        aux_opt.zero_grad()
        aux_loss.backward()
        aux_opt.step()
        step += 1
        if step % 200 == 0 or step == steps:
            row = {"step": step, "seconds": round(time.time() - t0, 1), "loss": loss.item(),
                   **evaluate(model, val)}
            history.append(row)
            log(json.dumps(row))
        if time.time() - last_save > checkpoint_minutes * 60 or step == steps:
            save()
            last_save = time.time()
    return path


@torch.no_grad()
def evaluate(model: Hyperprior, x: torch.Tensor) -> dict:
    """Estimated bpp and PSNR (likelihood-based) on the validation crop at the lowest,
    middle and highest level."""
    model.eval()
    out = {}
    for level in (0, model.cfg.levels // 2, model.cfg.levels - 1):
        x_hat, y_lik, z_lik = model(x, torch.tensor([float(level)]))
        pixels = x.shape[2] * x.shape[3]
        bpp = (-torch.log2(y_lik).sum() - torch.log2(z_lik).sum()).item() / pixels
        out[f"L{level}"] = [round(bpp, 3), round(psnr(((x - x_hat.clamp(0, 1)) ** 2).mean().item()), 2)]
    model.train()
    return out


def export(checkpoint: Path, weights_dir: Path, name: str = "", note: str = "") -> tuple[str, dict]:
    """Write the shipped artefact for a checkpoint and its MANIFEST.json entry; returns (file
    name, entry).  The default name carries the context model and step, so that retrained weights
    never replace a shipped file that old streams need."""
    import datetime
    import hashlib
    import io
    import os
    import platform

    from .hyperprior import Hyperprior, HyperpriorConfig, export_weights

    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    model = Hyperprior(HyperpriorConfig(**state["config"]))
    model.load_state_dict(state["model"])
    name = name or f"hyperprior-{model.cfg.context}-{state['step']}.pt"
    buf = io.BytesIO()
    torch.save(export_weights(model), buf)
    data = buf.getvalue()
    weights_dir.mkdir(parents=True, exist_ok=True)
    (weights_dir / name).write_bytes(data)
    manifest_path = weights_dir / "MANIFEST.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    entry = {
        "codec": "hyperprior",
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
        "dtype": "float16 transforms, integer prior tables",
        "config": state["config"],
        "data": state.get("data", ""),
        "steps": state["step"],
        "crop": state.get("crop"), "batch": state.get("batch"),
        "hardware": f"{state.get('device', 'cpu')}: {platform.processor() or platform.machine()}, "
                    f"{os.cpu_count()} cores",
        "date": datetime.date.today().isoformat(),
        "validation": state.get("history", [])[-1:] or None,
        "note": note,
    }
    manifest[name] = {**manifest.get(name, {}), **entry}
    manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return name, manifest[name]


def compact(checkpoint: Path, out: Path) -> None:
    """A resumable checkpoint without optimizer state (a third of the size), small enough to
    keep in the repository so that training can continue in a later session."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    keep = {k: v for k, v in state.items() if k not in ("opt", "aux_opt")}
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(keep, out)
