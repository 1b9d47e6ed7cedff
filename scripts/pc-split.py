"""A wider pc model from a trained one: the latent states, or the shared value distributions,
of an HCLT checkpoint split.

    python scripts/pc-split.py runs/pc16/last.pt runs/pc32-init.pt             # H -> 2H
    python scripts/pc-split.py runs/pc16/last.pt runs/pc16b64-init.pt --basis 4  # J -> 4J
    codec train pc --init runs/pc32-init.pt --config hidden=32,basis=16 ...

A state's probabilities are halved between its two copies, which are perturbed by a factor in
[0.95, 1.05] so that EM can tell them apart.  A value distribution is cut into ``--basis``
parts over consecutive value ranges of equal probability, each part weighted by its mass in
the mixtures that used the whole.  Either way the split model has the likelihood of the one
it came from (up to the perturbation), so a wider model starts where the narrow one stopped.
"""

from __future__ import annotations

import argparse

import torch


def split(state: dict, seed: int = 1, eps: float = 0.05) -> dict:
    g = torch.Generator().manual_seed(seed)

    def noisy(p: torch.Tensor) -> torch.Tensor:
        p = p * (1 + eps * (2 * torch.rand(p.shape, generator=g) - 1))
        return p / p.sum(-1, keepdim=True)

    return {"parent": state["parent"], "basis": state["basis"],
            "prior": noisy(state["prior"].repeat_interleave(2)),
            "trans": noisy(state["trans"].repeat_interleave(2, 1).repeat_interleave(2, 2)),
            "mix": noisy(state["mix"].repeat_interleave(2, 1))}


def split_basis(state: dict, parts: int) -> dict:
    basis, mix = state["basis"].double(), state["mix"].double()
    j, k = basis.shape
    cum = basis.cumsum(-1) - basis / 2  # each value's mid-point in its distribution's CDF
    part = (cum * parts).floor().clamp(0, parts - 1).long()  # (J, 256): which part a value falls in
    pieces = torch.zeros(j, parts, k, dtype=torch.float64).scatter_(1, part[:, None], basis[:, None])
    mass = pieces.sum(-1)  # (J, parts)
    pieces = (pieces + 1e-9) / (mass[:, :, None] + 1e-9 * k)
    return {**state, "basis": pieces.reshape(j * parts, k).float(),
            "mix": (mix[:, :, :, None] * mass).reshape(*mix.shape[:2], j * parts).float()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint", help="a pc training checkpoint (runs/NAME/last.pt)")
    ap.add_argument("out", help="the init file for codec train pc --init")
    ap.add_argument("--basis", type=int, default=0, help="split each value distribution in this many parts "
                    "instead of the states")
    args = ap.parse_args()
    state = torch.load(args.checkpoint, weights_only=True)["model"]
    out = split_basis(state, args.basis) if args.basis else split(state)
    torch.save({"model": out, "step": 0, "history": []}, args.out)
    print(f"{args.checkpoint}: H={state['prior'].numel()}, J={len(state['basis'])} -> {args.out}: "
          f"H={out['prior'].numel()}, J={len(out['basis'])}")


if __name__ == "__main__":
    main()
