"""One trainer for every learned model (``codec train MODEL``).

    source (datasets.training) ─batch(rng)─► model.loss ─► Adam (+ aux Adam) ─► optional EMA
        (or model.update: a model's own rule, e.g. EM)
        every step: lr from the schedule (warm-up, constant, cosine decay to final_lr·lr)
        every val_every steps: model.validate(held-out slice) ─► history
        every checkpoint_minutes, at the end and when --minutes runs out: last.pt (atomic)

A checkpoint holds everything an uninterrupted run would have in memory: model, optimizers,
EMA, step, the data sampler's and torch's RNG states, the train config and the history, so a
resumed run takes exactly the steps the uninterrupted one would (same batches, same noise, same
learning rates).  A run can also start (``init``) from a shipped weights file or from another
checkpoint: the weights only, a fresh optimizer, the step count carried on.

``export`` turns a checkpoint into a shipped artefact (the EMA weights when the run kept them),
written packed (``NAME.pt.omw``, ``models.packing``), and its MANIFEST.json entry (codec,
sha256, data, steps, hardware, train config, validation).
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import io
import json
import math
import os
import platform
import queue
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import packing
from .base import LearnedModel


@dataclass
class TrainConfig:
    steps: int = 1000  # total steps, counting those of earlier sessions
    lr: float = 1e-4
    final_lr: float = 0.1  # the learning rate at the last step, as a fraction of lr
    warmup: int = 0  # steps of linear warm-up at the start of a run (from its first step)
    decay_from: int = -1  # step where the cosine decay starts; -1: halfway from the run's first step
    batch: int = 8
    size: int = 128  # crop side (images, video) or chunk length (audio)
    frames: int = 4  # frames per video clip
    ema: float = 0.0  # EMA decay of the exported weights (0: no EMA)
    aux_lr: float = 1e-3
    clip: float = 1.0  # gradient-norm clip of the main parameters
    checkpoint_minutes: float = 5.0
    val_every: int = 200
    log_every: int = 50
    seed: int = 0
    start: int = 0  # the step this run began at (set by the trainer)

    def lr_at(self, step: int) -> float:
        decay_from = self.decay_from if self.decay_from >= 0 else self.start + (self.steps - self.start) // 2
        f = 1.0
        if self.warmup and step < self.start + self.warmup:
            f = (step - self.start + 1) / self.warmup
        if step >= decay_from and self.steps > decay_from:
            t = (step - decay_from) / (self.steps - decay_from)
            f *= self.final_lr + (1 - self.final_lr) * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))
        return self.lr * f


def model_class(model_id: str) -> type[LearnedModel]:
    """The trainable model of a registered learned codec (its ``network`` attribute)."""
    import importlib

    from ..errors import UnknownCodecError
    from ..registry import get_codec_class

    target = getattr(get_codec_class(model_id), "network", "")
    if not target:
        raise UnknownCodecError(f"{model_id} is not a learned codec; trainable: {', '.join(trainable())}")
    module, name = target.split(":")
    return getattr(importlib.import_module(module), name)


def trainable() -> list[str]:
    from ..registry import codec_ids, get_codec_class

    return [c for c in codec_ids() if getattr(get_codec_class(c), "network", "")]


def _load(path: Path) -> dict[str, Any]:
    return packing.load(path)


class Run:
    """A training run's live state; ``save``/``restore`` make checkpoints exact."""

    def __init__(self, model_id: str, model_config: dict, tc: TrainConfig, device: str):
        self.model_id, self.tc, self.device = model_id, tc, device
        torch.manual_seed(tc.seed)
        cls = model_class(model_id)
        self.model = cls(cls.config_from(model_config)).to(device)
        self.opt = torch.optim.Adam(self.model.main_parameters(), lr=tc.lr)
        aux = self.model.aux_parameters()
        self.aux_opt = torch.optim.Adam(aux, lr=tc.aux_lr) if aux else None
        self.ema = None
        if tc.ema:
            from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

            self.ema = AveragedModel(self.model, multi_avg_fn=get_ema_multi_avg_fn(tc.ema))
        self.step, self.history, self.data = 0, [], ""
        self.rng = np.random.default_rng(tc.seed)

    def state(self) -> dict[str, Any]:
        rng = {"numpy": self.rng.bit_generator.state, "torch": torch.get_rng_state()}
        if self.device.startswith("cuda"):
            rng["cuda"] = torch.cuda.get_rng_state()
        return {"format": 2, "model_id": self.model_id, "config": self.model.config_dict(),
                "model": self.model.state_dict(), "opt": self.opt.state_dict(),
                "aux_opt": self.aux_opt.state_dict() if self.aux_opt else None,
                "ema": self.ema.state_dict() if self.ema else None, "step": self.step, "rng": rng,
                "train": dataclasses.asdict(self.tc), "history": self.history, "data": self.data,
                "device": self.device, "hardware": hardware(self.device)}

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        torch.save(self.state(), tmp)
        tmp.replace(path)

    def restore(self, state: dict[str, Any]) -> None:
        """Continue a checkpoint (the first trainer's ones lack RNG, train config and EMA:
        their batches are reseeded from the step)."""
        self.model.load_state_dict(state["model"])
        if state.get("opt"):
            self.opt.load_state_dict(state["opt"])
        if self.aux_opt and state.get("aux_opt"):
            self.aux_opt.load_state_dict(state["aux_opt"])
        if self.ema and state.get("ema"):
            self.ema.load_state_dict(state["ema"])
        self.step, self.history = state["step"], state.get("history", [])
        rng = state.get("rng")
        if rng:
            self.rng.bit_generator.state = rng["numpy"]
            torch.set_rng_state(rng["torch"])
            if "cuda" in rng and self.device.startswith("cuda"):
                torch.cuda.set_rng_state(rng["cuda"])
        else:
            self.rng = np.random.default_rng(self.tc.seed + self.step)
            torch.manual_seed(self.tc.seed + self.step)

    def init_from(self, path: Path) -> None:
        """Weights (and step count) from a shipped artefact or another run's checkpoint."""
        src = _load(path)
        if "model" in src:  # a checkpoint: a model whose extra modules keep their init
            missing, unexpected = self.model.load_state_dict(src["model"], strict=False)
            if unexpected or len(missing) == len(self.model.state_dict()):
                raise ValueError(f"{path} does not fit {self.model.cfg}: unexpected {unexpected}")
        else:
            self.model.load_artefact(src, strict=False)
        self.step = int(src.get("step", _manifest_steps(path)))
        self.history = [{**row, "init": str(path)} for row in src.get("history", [])]

    def train_step(self, x: torch.Tensor, lr: float) -> dict[str, float]:
        """One optimizer step (main, auxiliary, EMA) on batch ``x``; returns loss and metrics."""
        own = self.model.update(x, lr)
        if own is not None:
            if self.ema:
                self.ema.update_parameters(self.model)
            self.step += 1
            return own
        for group in self.opt.param_groups:
            group["lr"] = lr
        loss, metrics = self.model.loss(x)
        self.opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.opt.param_groups[0]["params"], self.tc.clip)
        self.opt.step()
        aux = self.model.aux_loss()
        if aux is not None:
            self.aux_opt.zero_grad()
            aux.backward()
            self.aux_opt.step()
        if self.ema:
            self.ema.update_parameters(self.model)
        self.step += 1
        return {"loss": loss.item(), **metrics}

    def exported(self) -> dict[str, Any]:
        model = self.ema.module if self.ema else self.model
        return {**model.cpu().export(), "step": self.step}


def _manifest_steps(path: Path) -> int:
    """The steps a weights file's MANIFEST entry records (format-1 artefacts do not carry them)."""
    try:
        return int(json.loads((path.parent / "MANIFEST.json").read_text())[path.name]["steps"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0


def pick_device(device: str) -> str:
    """``auto`` is cuda when there is one, else cpu."""
    return ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device


def hardware(device: str) -> str:
    """What a run trains on, for the MANIFEST's provenance."""
    if device.startswith("cuda") and torch.cuda.is_available():
        return f"{device}: {torch.cuda.get_device_name()}"
    return f"{device}: {platform.processor() or platform.machine()}, {os.cpu_count()} cores"


def parse_config(text: str) -> dict[str, Any]:
    """A model config from ``KEY=VALUE,...``: numbers and [lists] as JSON, the rest as strings
    (commas inside [...] belong to the list)."""
    config = {}
    for pair in filter(None, re.split(r",(?![^\[]*\])", text)):
        key, _, value = pair.partition("=")
        config[key.strip()] = json.loads(value) if value and value[0] in "0123456789-[" else value
    return config


def train(model_id: str, data: Path, out: Path, tc: TrainConfig, resume: Path | None = None,
          init: Path | None = None, model_config: dict | None = None, device: str = "auto",
          minutes: float = 0.0, overrides: dict | None = None, log=print) -> Path:
    """Train until ``tc.steps`` (counting resumed ones) or for ``minutes`` of wall time; returns
    the last checkpoint.  Resuming, the checkpoint's train config holds, except for the fields
    named in ``overrides`` (e.g. a longer ``steps``)."""
    from ..datasets.training import source

    device = pick_device(device)
    state = _load(resume) if resume else None
    if state:
        tc = TrainConfig(**{**state.get("train", dataclasses.asdict(tc)), **(overrides or {})})
        model_config = state["config"]
    run = Run(model_id, model_config or {}, tc, device)
    if state:
        run.restore(state)
    elif init:
        run.init_from(init)
    if not state:
        tc.start = run.step
    run.data = str(data)
    src = source(run.model.source, data, tc.size, tc.frames)
    val = to_device(src.validation(), device)
    if not state and not init:  # a fresh model: its data-dependent init, from its own draw
        items = run.model.prepare_items
        run.model.prepare(to_device(src.batch(np.random.default_rng(tc.seed + 1), items), device))
    out.mkdir(parents=True, exist_ok=True)
    path, model = out / "last.pt", run.model
    log(f"training {model_id} {model.cfg} on {data} ({device}), step {run.step} of {tc.steps}, "
        f"lr {tc.lr:g} (now {tc.lr_at(run.step):.3g}), batch {tc.batch}, size {tc.size}")
    model.train()
    with Batches(src, run.rng, tc.batch, device) as batches:
        _loop(run, batches, val, path, minutes, log)
    return path


def _loop(run: Run, batches: Batches, val: torch.Tensor, path: Path, minutes: float, log) -> None:
    tc, model = run.tc, run.model
    t0 = last_save = time.time()
    sums, count, first = {}, 0, run.step
    while run.step < tc.steps:
        lr = tc.lr_at(run.step)
        metrics = run.train_step(batches.next(), lr)
        for k, v in metrics.items():
            sums[k] = sums.get(k, 0.0) + float(v)  # (a numpy scalar would not reload weights_only)
        count += 1
        rate = (run.step - first) / max(time.time() - t0, 1e-9)
        out_of_time = minutes and time.time() - t0 > minutes * 60
        if run.step % tc.log_every == 0 or run.step == tc.steps:
            means = " ".join(f"{k} {v / count:.4g}" for k, v in sums.items())
            log(f"step {run.step}/{tc.steps} lr {lr:.3g} {means} {rate:.2f} steps/s")
        if run.step % tc.val_every == 0 or run.step == tc.steps or out_of_time:
            judged = run.ema.module if run.ema else model
            judged.eval()
            row = {"step": run.step, "lr": lr, "steps_per_s": round(rate, 3),
                   **{f"train_{k}": round(v / count, 4) for k, v in sums.items()},
                   **{k: float(v) for k, v in judged.validate(val).items()}}
            model.train()
            run.history.append(row)
            sums, count = {}, 0
            log(json.dumps(row))
        if time.time() - last_save > tc.checkpoint_minutes * 60 or run.step == tc.steps or out_of_time:
            run.save(path)
            last_save = time.time()
        if out_of_time:
            log(f"stopping after {minutes} minutes at step {run.step}")
            break
    if run.step == first:  # nothing to do: still leave a checkpoint to export
        run.save(path)


def to_device(a: np.ndarray | torch.Tensor, device: str) -> torch.Tensor:
    """A batch on ``device``; uint8 (images, digits) crosses as bytes and becomes floats in
    [0, 1] there (the same floats as dividing by 255 on the host)."""
    t = (torch.from_numpy(a) if isinstance(a, np.ndarray) else a).to(device, non_blocking=True)
    return t.float().div_(255) if t.dtype == torch.uint8 else t


PREFETCH = 3  # batches a GPU run draws ahead


class Batches:
    """A run's training batches in order, drawn from ``rng`` by ``src.batch``.  With
    ``prefetch`` (the default on a GPU), a thread draws and pins the next PREFETCH batches
    while the device works, from its own copy of ``rng``; taking a batch sets ``rng`` to the
    state after it, so a checkpoint holds the state an unthreaded run would (exact resume)."""

    def __init__(self, src, rng: np.random.Generator, n: int, device: str, prefetch: bool | None = None):
        self.src, self.rng, self.n, self.device = src, rng, n, device
        self.prefetch = device.startswith("cuda") if prefetch is None else prefetch
        if self.prefetch:
            own = np.random.default_rng()
            own.bit_generator.state = rng.bit_generator.state
            self.queue, self.stop = queue.Queue(PREFETCH), threading.Event()
            self.thread = threading.Thread(target=self._fill, args=(own,), daemon=True)
            self.thread.start()

    def _fill(self, rng: np.random.Generator) -> None:
        failed = False
        while not (self.stop.is_set() or failed):
            try:
                t = torch.from_numpy(self.src.batch(rng, self.n))
                item = (t.pin_memory() if self.device.startswith("cuda") else t, rng.bit_generator.state)
            except BaseException as e:  # handed to the training loop, which raises it
                item, failed = (e, None), True
            while not self.stop.is_set():
                try:
                    self.queue.put(item, timeout=0.1)
                    break
                except queue.Full:
                    continue

    def next(self) -> torch.Tensor:
        if not self.prefetch:
            return to_device(self.src.batch(self.rng, self.n), self.device)
        batch, state = self.queue.get()
        if isinstance(batch, BaseException):
            raise batch
        self.rng.bit_generator.state = state
        return to_device(batch, self.device)

    def __enter__(self) -> Batches:
        return self

    def __exit__(self, *exc) -> None:
        if self.prefetch:
            self.stop.set()
            self.thread.join()


def export(checkpoint: Path, weights_dir: Path, name: str = "", note: str = "") -> tuple[str, dict]:
    """Write the shipped artefact of a checkpoint and its MANIFEST.json entry; returns (file
    name, entry).  The default name carries the step, so that retrained weights never replace
    a shipped file that old streams need."""
    state = _load(checkpoint)
    model_id = state.get("model_id", "hyperprior")  # the first trainer's checkpoints were hyperprior's
    tc = TrainConfig(**state.get("train", {}))
    run = Run(model_id, state["config"], tc, "cpu")
    run.restore(state)
    art = run.exported()
    name = name or run.model.weights_name(run.step)
    entry = {
        "codec": model_id, "dtype": run.model.shipped, "config": art["config"],
        "data": state.get("data", ""), "steps": run.step, "train": state.get("train"),
        # where the run last trained (the first trainer's checkpoints lack it: this machine)
        "hardware": state.get("hardware") or hardware(state.get("device", "cpu")),
        "date": datetime.date.today().isoformat(),
        "validation": run.history[-1:] or None, "note": note,
    }
    return name, ship(art, weights_dir, name, entry)


def ship(art: dict[str, Any], weights_dir: Path, name: str, entry: dict[str, Any]) -> dict[str, Any]:
    """Write artefact ``art`` packed as ``weights_dir/NAME.omw`` and its MANIFEST.json entry
    (``entry`` plus sha256 and sizes); returns the entry.  Refuses a name the manifest holds
    with other weights: streams may name the old file."""
    buf = io.BytesIO()
    torch.save(art, buf)
    data = buf.getvalue()
    sha256 = hashlib.sha256(data).hexdigest()
    manifest_path = weights_dir / "MANIFEST.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    if manifest.get(name, {}).get("sha256", sha256) != sha256:
        raise ValueError(f"{weights_dir / name} exists with other weights; export under another --name")
    packed = packing.pack(data)
    weights_dir.mkdir(parents=True, exist_ok=True)
    packing.packed_path(weights_dir / name).write_bytes(packed)
    (weights_dir / name).unlink(missing_ok=True)  # an unpacked file of that name would be read first
    manifest[name] = {**manifest.get(name, {}), **entry, "sha256": sha256, "bytes": len(data),
                      "packed_bytes": len(packed)}
    manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return manifest[name]
