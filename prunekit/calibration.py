"""What the neurons of each prunable layer compute on a calibration batch, for data-aware scorers."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from prunekit.errors import BadInput
from prunekit.graph import ModelGraph, _as_tuple


@dataclass
class Calibration:
    """One layer's neurons on a calibration batch, as their consumers read them (after any activation).

    ``activations`` is (batch, width). ``gradients``, when asked for, is d(loss)/d(activation), summed over
    every consumer, where the loss is ``0.5 * mean(sum(output**2))`` over the model's outputs: the output
    energy, a label-free stand-in for a task loss.
    """

    activations: torch.Tensor
    gradients: torch.Tensor | None = None


def _flat_outputs(out) -> list[torch.Tensor]:
    if torch.is_tensor(out):
        return [out]
    if isinstance(out, dict):
        out = list(out.values())
    return [t for o in out for t in _flat_outputs(o)]


def calibrate(graph: ModelGraph, inputs, gradients: bool = False) -> dict[str, Calibration]:
    """Run ``inputs`` through the graph's model and collect each prunable layer's activations."""
    model = graph.model
    seen: dict[nn.Module, torch.Tensor] = {}

    def grab(module, args):
        x = args[0]
        if gradients and x.requires_grad:
            x.retain_grad()
        seen.setdefault(module, x)

    consumers = {c.module for layer in graph.layers.values() for c in layer.consumers}
    handles = [m.register_forward_pre_hook(grab) for m in consumers]
    try:
        with torch.set_grad_enabled(gradients):
            out = model(*_as_tuple(inputs))
            if gradients:
                outs = _flat_outputs(out)
                loss = sum(0.5 * o.float().pow(2).flatten(1).sum(1).mean() for o in outs)
                loss.backward()
    finally:
        for h in handles:
            h.remove()
    result = {}
    for name, layer in graph.layers.items():
        # a neuron's activation as the first consumer that reads it sees it (the parts of a split go to
        # different consumers); its gradient summed over every consumer that reads it
        first = seen[layer.consumers[0].module]
        acts = torch.zeros(len(first), layer.width, dtype=first.dtype, device=first.device)
        done = torch.zeros(layer.width, dtype=torch.bool, device=first.device)
        for c in layer.consumers:
            columns = c.columns.to(first.device)
            take = (columns >= 0) & ~done
            acts[:, take] = seen[c.module].detach()[:, columns[take]].to(acts.dtype)
            done |= take
        grads = None
        if gradients:
            missing = [c.name for c in layer.consumers if seen[c.module].grad is None]
            if missing:
                raise BadInput(f"no gradient reaches {', '.join(missing)}: are the model's parameters frozen?")
            grads = torch.zeros_like(acts)
            for c in layer.consumers:
                columns = c.columns.to(first.device)
                read = columns >= 0
                grads[:, read] += seen[c.module].grad[:, columns[read]].to(grads.dtype)
        result[name] = Calibration(acts, grads)
    return result  # with gradients, the parameters keep theirs for the scorers; make_plan clears them
