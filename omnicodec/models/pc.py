"""A probabilistic circuit for lossless coding: the hidden Chow-Liu tree (HCLT) of Liu, Mandt and
Van den Broeck, "Lossless Compression with Probabilistic Circuits" (ICLR 2022).

    pixels x_1..x_D (8-bit)        one latent z_v in 1..H per pixel, on a tree learned from data
    z_root ~ prior                 (the Chow-Liu tree of the pixels' pairwise mutual information)
    z_v | z_parent(v) ~ trans[v]   H x H per edge
    x_v | z_v ~ Σ_j mix[v, z_v, j] · basis[j]     J input distributions over 0..255 shared by
                                                   every pixel (a sum unit over tied inputs)

The circuit this compiles to (a sum unit per latent state, a product unit per node) is smooth
and decomposable, so every marginal is one upward pass.  Training is mini-batch EM (the
paper's, and pyjuice's): the expected flows of a batch are the gradients of its
log-likelihood with respect to the log-parameters, and each step moves the parameters a step
``lr`` toward their normalized flows plus a pseudocount (spread over each distribution's
entries).  The structure (``parent``) is learned
once, from ``prepare_items`` training digits, by a maximum spanning tree of the mutual
information of pixels binned to 2 bits, rooted at its centre (the smallest height).

Coding (``codecs/pc.py``, ``kernels/pc.py``) visits the pixels in the tree's depth-first order:
then p(z_v | pixels coded so far) needs one H x H product from the parent's state, and a
finished subtree one more to its parent, so all D conditionals of an image cost O(D·H²), the
tree case of the paper's O(log D · |p|) scheme.  ``tables`` turns the parameters into the
integer tables that coding uses (20-bit frequencies, exact integer arithmetic downstream).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from .base import LearnedModel

VALUES = 256
PARAMS = ("prior", "trans", "mix", "basis")  # exported as fp16 log-probabilities
FREQ_BITS = 20  # integer tables: rows of frequencies summing to 2**FREQ_BITS, each >= 1
STRUCTURE_BINS = 4  # pixel bins of the mutual information the tree is learned from


@dataclass(frozen=True)
class PCConfig:
    hidden: int = 16  # H, latent states per pixel
    basis: int = 16  # J, shared input distributions over 0..255
    height: int = 28
    width: int = 28
    pseudocount: float = 0.1  # added to the flows of each distribution (row) of an EM step, spread evenly
    perturbation: float = 0.4  # of the random initial parameters


def chow_liu(x: np.ndarray, bins: int = STRUCTURE_BINS) -> np.ndarray:
    """Parent of each variable (-1 for the root) of the maximum-mutual-information spanning tree
    of ``x`` (N, D) uint8, binned to ``bins`` levels, rooted at the tree's centre."""
    n, d = x.shape
    b = (x.astype(np.int64) * bins) // VALUES
    onehot = np.zeros((n, d * bins), np.float32)
    onehot[np.arange(n)[:, None], np.arange(d) * bins + b] = 1
    joint = (onehot.T @ onehot).reshape(d, bins, d, bins).astype(np.float64) + 1e-3
    joint /= joint.sum(axis=(1, 3), keepdims=True)
    marg = np.einsum("iaia->ia", joint)
    mi = np.einsum("iajb,iajb->ij", joint, np.log(joint / (marg[:, :, None, None] * marg[None, None])))
    # Prim's algorithm on the complete graph, maximizing the mutual information
    parent = np.full(d, -1)
    inside = np.zeros(d, bool)
    inside[0] = True
    best, link = mi[0].copy(), np.zeros(d, np.int64)
    for _ in range(d - 1):
        v = int(np.argmax(np.where(inside, -np.inf, best)))
        inside[v], parent[v] = True, link[v]
        closer = mi[v] > best
        best, link = np.where(closer, mi[v], best), np.where(closer, v, link)
    return reroot(parent, centre(parent))


def _neighbours(parent: np.ndarray) -> list[list[int]]:
    adj: list[list[int]] = [[] for _ in parent]
    for v, p in enumerate(parent.tolist()):
        if p >= 0:
            adj[v].append(p)
            adj[p].append(v)
    return adj


def _farthest(adj: list[list[int]], start: int) -> tuple[int, list[int]]:
    """The node farthest from ``start`` and the path to it."""
    prev = {start: -1}
    frontier, last = [start], start
    while frontier:
        nxt = []
        for v in frontier:
            for u in adj[v]:
                if u not in prev:
                    prev[u] = v
                    nxt.append(u)
        if nxt:
            last = nxt[-1]
        frontier = nxt
    path = [last]
    while prev[path[-1]] >= 0:
        path.append(prev[path[-1]])
    return last, path


def centre(parent: np.ndarray) -> int:
    """The middle of a longest path of the tree: the root of least height."""
    adj = _neighbours(parent)
    a, _ = _farthest(adj, 0)
    _, path = _farthest(adj, a)
    return path[len(path) // 2]


def reroot(parent: np.ndarray, root: int) -> np.ndarray:
    adj = _neighbours(parent)
    out = np.full(len(parent), -1)
    seen, stack = {root}, [root]
    while stack:
        v = stack.pop()
        for u in adj[v]:
            if u not in seen:
                seen.add(u)
                out[u] = v
                stack.append(u)
    return out


def check_tree(parent: np.ndarray) -> None:
    """ValueError unless ``parent`` is one tree over all its variables (one root, no cycles)."""
    d = len(parent)
    if parent.ndim != 1 or np.sum(parent < 0) != 1 or np.any(parent >= d) or np.any(parent < -1):
        raise ValueError("pc: the structure is not a tree with one root")
    depth = np.full(d, -1)
    depth[parent < 0] = 0
    for _ in range(d):
        todo = depth < 0
        if not todo.any():
            return
        ready = todo & (depth[np.maximum(parent, 0)] >= 0)
        if not ready.any():
            break
        depth[ready] = depth[parent[ready]] + 1
    raise ValueError("pc: the structure has a cycle")


def preorder(parent: np.ndarray) -> np.ndarray:
    """The depth-first visiting order (children in increasing index): the coding order."""
    children: list[list[int]] = [[] for _ in parent]
    for v, p in enumerate(parent.tolist()):
        if p >= 0:
            children[p].append(v)
    order, stack = [], [int(np.flatnonzero(parent < 0)[0])]
    while stack:
        v = stack.pop()
        order.append(v)
        stack.extend(reversed(children[v]))
    return np.asarray(order, np.int64)


def levels(parent: np.ndarray) -> list[np.ndarray]:
    """Non-root nodes grouped by depth, deepest first (the upward pass's order)."""
    d = len(parent)
    depth = np.zeros(d, np.int64)
    for v in preorder(parent)[1:]:
        depth[v] = depth[parent[v]] + 1
    return [np.flatnonzero(depth == k) for k in range(int(depth.max()), 0, -1)]


class HCLT(LearnedModel):
    """The trainable HCLT (see the module docstring); parameters are probabilities."""

    codec_id = "pc"
    Config = PCConfig
    source = "mnist"
    prepare_items = 20000
    shipped = "float16 log-probabilities (integer tables derived at load)"

    def __init__(self, cfg: PCConfig):
        super().__init__(cfg)
        d, h, j = cfg.height * cfg.width, cfg.hidden, cfg.basis
        self.register_buffer("parent", torch.cat([torch.tensor([-1]), torch.arange(d - 1)]))  # a chain
        g = torch.Generator().manual_seed(0)

        def rand(*shape):
            p = 1 + cfg.perturbation * torch.rand(*shape, generator=g)
            return nn.Parameter(p / p.sum(-1, keepdim=True))

        self.prior, self.trans, self.mix = rand(h), rand(d, h, h), rand(d, h, j)
        # basis j starts as value band j of 0..255 (j = 0: dark, J-1: bright), a little of all
        edges = torch.linspace(0, VALUES, j + 1).round().long()
        basis = torch.full((j, VALUES), 1e-3)
        for i in range(j):
            basis[i, edges[i]:edges[i + 1]] += 1
        self.basis = nn.Parameter(basis / basis.sum(-1, keepdim=True))
        self._levels: list[tuple[torch.Tensor, torch.Tensor]] | None = None

    # ---- structure
    def prepare(self, batch: torch.Tensor) -> None:
        x = pixels(batch).numpy()
        self.set_parent(chow_liu(x))
        # the basis starts from the data's value histogram inside each band
        hist = torch.bincount(torch.from_numpy(x).reshape(-1).long(), minlength=VALUES).double() + 1
        with torch.no_grad():
            b = self.basis.double() * hist
            self.basis.copy_((b / b.sum(-1, keepdim=True)).float())

    def set_parent(self, parent: np.ndarray) -> None:
        check_tree(parent)
        self.parent.copy_(torch.from_numpy(np.asarray(parent, np.int64)))
        self._levels = None

    def _load_from_state_dict(self, *args, **kwargs):
        self._levels = None
        super()._load_from_state_dict(*args, **kwargs)

    def levels(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        if self._levels is None:
            parent = self.parent.cpu().numpy()
            self._levels = [(torch.from_numpy(n), torch.from_numpy(parent[n])) for n in levels(parent)]
        return self._levels

    # ---- likelihood
    def log_likelihood(self, x: torch.Tensor) -> torch.Tensor:
        """log p(x) in nats for digits ``x`` (B, D) int64 in 0..255."""
        emit = torch.einsum("dhj,bdj->bdh", self.mix, self.basis.t()[x])  # p(x_v | z_v)
        lam = emit.clamp_min(1e-30).log()
        trans = self.trans
        for nodes, parents in self.levels():
            sub = lam[:, nodes]
            top = sub.amax(-1, keepdim=True)
            msg = torch.einsum("bnc,nhc->bnh", (sub - top).exp(), trans[nodes]).log() + top
            lam.index_add_(1, parents, msg)
        root = int(torch.nonzero(self.parent < 0)[0, 0])
        return torch.logsumexp(lam[:, root] + self.prior.log(), -1)

    def loss(self, batch: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        x = pixels(batch).long()
        bpd = -self.log_likelihood(x).mean() / (x.shape[1] * math.log(2))
        return bpd, {"bpd": bpd.item()}

    def update(self, batch: torch.Tensor, lr: float) -> dict[str, float]:
        """One mini-batch EM step of size ``lr`` (the trainer's schedule)."""
        params = [self.prior, self.trans, self.mix, self.basis]
        for p in params:
            p.grad = None
        bpd, metrics = self.loss(batch)
        bpd.backward()
        scale = batch.shape[0] * self.cfg.height * self.cfg.width * math.log(2)
        with torch.no_grad():
            for p in params:
                # the batch's expected counts, and a pseudocount spread over each row
                flows = -p.grad * p * scale + self.cfg.pseudocount / p.shape[-1]
                p.mul_(1 - lr).add_(lr * flows / flows.sum(-1, keepdim=True))
                p.grad = None
        return {"loss": metrics["bpd"], **metrics}

    # ---- artefact
    def export(self) -> dict[str, Any]:
        """The tree and the log-probabilities in fp16 (relative error < 0.1% per probability,
        however small; ``tables`` makes them exact integers)."""
        return {"format": 1, "config": self.config_dict(), "parent": self.parent.clone(),
                **{k: getattr(self, k).detach().log().half() for k in PARAMS}}

    def load_artefact(self, art: dict[str, Any], strict: bool = True) -> None:
        with torch.no_grad():
            self.set_parent(art["parent"].numpy())
            for k in PARAMS:
                p = art[k].double().exp()
                getattr(self, k).copy_((p / p.sum(-1, keepdim=True)).float())

    def weights_name(self, step: int) -> str:
        return f"pc-hclt{self.cfg.hidden}x{self.cfg.basis}-{step}.pt"


def pixels(batch: torch.Tensor) -> torch.Tensor:
    """Training batches (B, 1, H, W) floats in [0, 1] -> (B, D) uint8 pixels."""
    return torch.round(batch.reshape(batch.shape[0], -1) * 255).to(torch.uint8)


# -------------------------------------------------------------------------- integer tables
def freq_rows(p: np.ndarray, bits: int = FREQ_BITS) -> np.ndarray:
    """Probability rows (..., K) float64 -> integer frequencies (..., K) summing to 2**bits, each
    >= 1: ``1 + floor(p / sum * (2**bits - K))``, the remainder to the row's first largest.  Only
    correctly rounded operations and sequential sums, so every machine gets the same table."""
    p = np.asarray(p, np.float64)
    k = p.shape[-1]
    total = np.cumsum(p, axis=-1)[..., -1:]
    f = 1 + np.floor(p / total * float((1 << bits) - k)).astype(np.int64)
    top = p.argmax(axis=-1)[..., None]
    np.put_along_axis(f, top, np.take_along_axis(f, top, -1) + (1 << bits) - f.sum(-1, keepdims=True), -1)
    return f


def tables(art: dict[str, Any]) -> dict[str, np.ndarray]:
    """The integer tables coding uses, from an artefact's log-parameters: ``prior`` (H),
    ``trans`` (D, H, H) rows and ``up``, the same transposed, ``emit`` (D, H, 256) cumulative
    (D, H, 257), and the tree (``parent``, the coding ``order``).  Integers held in float64."""
    from ..entropy.models import _exp  # correctly rounded operations only: the same bits everywhere

    prior, trans, mix, basis = (_exp(art[k].double().numpy()) for k in PARAMS)
    emit = np.zeros(mix.shape[:2] + (VALUES,))
    for j in range(basis.shape[0]):  # summed in a fixed order: the same bits everywhere
        emit = emit + mix[:, :, j, None] * basis[j]
    cum = np.zeros(mix.shape[:2] + (VALUES + 1,), np.int64)
    np.cumsum(freq_rows(emit), axis=-1, out=cum[..., 1:])
    parent = art["parent"].numpy().astype(np.int64)
    check_tree(parent)
    trans = freq_rows(trans).astype(np.float64)
    return {"prior": freq_rows(prior).astype(np.float64), "trans": trans,
            "up": np.ascontiguousarray(trans.transpose(0, 2, 1)), "emit": cum.astype(np.float64),
            "parent": parent, "order": preorder(parent)}
