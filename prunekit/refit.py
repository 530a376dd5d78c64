"""Data-aware refit: after surgery, re-solve each consumer layer by least squares on calibration data.

Removing neurons changes what every consumer receives. For each layer whose input lost columns, in
forward order, this solves (ridge-regularised) for the weights and bias that map what the *pruned* model
now feeds it to what the *dense* model's layer produced (restricted to the rows the plan keeps). Layers
are refitted one after another, so each one also corrects the error left by those before it.
No gradient steps, no labels; any selector can use it.
"""

from __future__ import annotations

import torch
from torch import nn

from prunekit.graph import _as_tuple
from prunekit.plans import Plan


class _Stop(Exception):
    pass


def _capture(model: nn.Module, inputs: tuple, modules: list[nn.Module], what: str) -> dict:
    """Inputs (``what='in'``) or outputs of ``modules`` on one forward pass, in call order."""
    seen: dict[nn.Module, torch.Tensor] = {}

    def hook(m, args, out=None):
        seen.setdefault(m, (args[0] if what == "in" else out).detach())
        if what == "in" and len(seen) == len(modules):
            raise _Stop

    handles = [m.register_forward_pre_hook(hook) if what == "in" else m.register_forward_hook(hook) for m in modules]
    try:
        with torch.no_grad():
            model(*inputs)
    except _Stop:
        pass
    finally:
        for h in handles:
            h.remove()
    return seen


def refit(dense: nn.Module, pruned: nn.Module, plan: Plan, calibration, ridge: float = 1e-4) -> list[str]:
    """Refit every linear layer of ``pruned`` whose input width changed. Returns their names."""
    inputs = _as_tuple(calibration)
    d_mods, p_mods = dict(dense.named_modules()), dict(pruned.named_modules())
    names = [n for n, m in p_mods.items() if isinstance(m, nn.Linear) and m.in_features != d_mods[n].in_features]
    rows = {m: lp for lp in plan.layers.values() for m in lp.members}
    targets = _capture(dense, inputs, [d_mods[n] for n in names], "out")
    order = sorted(names, key=lambda n: list(targets).index(d_mods[n]))  # forward order
    for name in order:
        layer = p_mods[name]
        x = _capture(pruned, inputs, [layer], "in")[layer].double()
        y = targets[d_mods[name]].double()
        if name in rows:
            lp = rows[name]
            y = y[..., lp.kept]  # scales live in the consumers' columns, which are refitted too
        x = x.reshape(-1, x.shape[-1])
        y = y.reshape(-1, y.shape[-1])
        a = torch.cat([x, torch.ones_like(x[:, :1])], dim=1) if layer.bias is not None else x
        gram = a.T @ a
        gram += (
            ridge * gram.diagonal().mean().clamp_min(1e-12) * torch.eye(len(gram), dtype=gram.dtype, device=gram.device)
        )
        solution = torch.linalg.solve(gram, a.T @ y).T  # (out, in [+1])
        with torch.no_grad():
            layer.weight.copy_(solution[:, : layer.in_features])
            if layer.bias is not None:
                layer.bias.copy_(solution[:, -1])
    return order
