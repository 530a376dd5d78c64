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


def _energy(out) -> torch.Tensor:
    return sum(0.5 * o.float().pow(2).flatten(1).sum(1).mean() for o in _flat_outputs(out))


def fisher_into_grad(model: nn.Module, inputs, chunks: int) -> None:
    """Set every parameter's ``.grad`` to the mean over ``chunks`` slices of the calibration batch of the
    squared gradient of that slice's output energy: a diagonal empirical Fisher, the curvature that
    Optimal Brain Damage style (Hessian) criteria weigh squared weights by."""
    inputs = _as_tuple(inputs)
    n = len(inputs[0])
    params = [p for p in model.parameters() if p.requires_grad]
    total = [torch.zeros_like(p) for p in params]
    bounds = torch.linspace(0, n, min(chunks, n) + 1).long().tolist()
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        model.zero_grad(set_to_none=True)
        with torch.enable_grad():
            _energy(model(*(x[lo:hi] for x in inputs))).backward()
        for t, p in zip(total, params):
            if p.grad is not None:
                t += p.grad.pow(2)
    for t, p in zip(total, params):
        p.grad = t / (len(bounds) - 1)


def calibrate(graph: ModelGraph, inputs, gradients: bool = False, fisher_chunks: int = 0) -> dict[str, Calibration]:
    """Run ``inputs`` through the graph's model and collect each prunable layer's activations; with
    ``fisher_chunks``, the parameters' ``.grad`` then holds the diagonal empirical Fisher over that many
    slices of ``inputs`` (see :func:`fisher_into_grad`) instead of the batch's gradient."""
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
                _energy(out).backward()
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
    if fisher_chunks:
        fisher_into_grad(model, inputs, fisher_chunks)
    return result  # with gradients, the parameters keep theirs for the scorers; make_plan clears them
