"""What the neurons of each prunable layer compute on a calibration batch, for data-aware scorers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from prunekit.errors import BadInput
from prunekit.graph import ModelGraph, _as_tuple


@dataclass
class Calibration:
    """One layer's neurons on a calibration batch, as their consumers read them (after any activation).

    ``activations`` is (batch, width), or (rows, width) with every position of a sequence a row.
    ``gradients``, when asked for, is d(loss)/d(activation), summed over every consumer, where the loss is
    the task's own (``loss(outputs, inputs)``, e.g. next-token cross-entropy) or, when it gives none,
    ``0.5 * mean(sum(output**2))`` over the model's outputs: the output energy, a label-free stand-in.
    """

    activations: torch.Tensor
    gradients: torch.Tensor | None = None


def _flat_outputs(out) -> list[torch.Tensor]:
    if torch.is_tensor(out):
        return [out]
    if isinstance(out, dict):
        out = list(out.values())
    return [t for o in out for t in _flat_outputs(o)]


def _energy(out, inputs=None) -> torch.Tensor:
    return sum(0.5 * o.float().pow(2).flatten(1).sum(1).mean() for o in _flat_outputs(out))


# What gradient-based scorers differentiate: ``loss(outputs, inputs) -> scalar`` (None: the output energy)
Loss = Callable[[object, tuple], torch.Tensor]


def fisher_into_grad(model: nn.Module, inputs, chunks: int, loss: Loss | None = None) -> None:
    """Set every parameter's ``.grad`` to the mean over ``chunks`` slices of the calibration batch of the
    squared gradient of that slice's loss (the output energy when ``loss`` is None): a diagonal empirical
    Fisher, the curvature that Optimal Brain Damage style (Hessian) criteria weigh squared weights by."""
    inputs, loss = _as_tuple(inputs), loss or _energy
    n = len(inputs[0])
    params = [p for p in model.parameters() if p.requires_grad]
    total = [torch.zeros_like(p) for p in params]
    bounds = torch.linspace(0, n, min(chunks, n) + 1).long().tolist()
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        model.zero_grad(set_to_none=True)
        part = tuple(x[lo:hi] for x in inputs)
        with torch.enable_grad():
            loss(model(*part), part).backward()
        for t, p in zip(total, params):
            if p.grad is not None:
                t += p.grad.pow(2)
    for t, p in zip(total, params):
        p.grad = t / (len(bounds) - 1)


def calibrate(
    graph: ModelGraph, inputs, gradients: bool = False, fisher_chunks: int = 0, loss: Loss | None = None
) -> dict[str, Calibration]:
    """Run ``inputs`` through the graph's model and collect each prunable layer's activations (and, with
    ``gradients``, d ``loss`` / d activation); with ``fisher_chunks``, the parameters' ``.grad`` then holds
    the diagonal empirical Fisher over that many slices of ``inputs`` (see :func:`fisher_into_grad`)
    instead of the batch's gradient."""
    model, inputs, loss = graph.model, _as_tuple(inputs), loss or _energy
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
            out = model(*inputs)
            if gradients:
                loss(out, inputs).backward()
    finally:
        for h in handles:
            h.remove()
    if gradients:
        missing = [c.name for layer in graph.layers.values() for c in layer.consumers if seen[c.module].grad is None]
        if missing:
            raise BadInput(f"no gradient reaches {', '.join(missing)}: are the model's parameters frozen?")
    # a sequence model's consumers read (batch, time, width): every position is one calibration row
    acts_in = {m: x.detach().reshape(-1, x.shape[-1]) for m, x in seen.items()}
    grads_in = {m: x.grad.reshape(-1, x.shape[-1]) for m, x in seen.items()} if gradients else {}
    result = {}
    for name, layer in graph.layers.items():
        # a neuron's activation as the first consumer that reads it sees it (the parts of a split go to
        # different consumers); its gradient summed over every consumer that reads it
        first = acts_in[layer.consumers[0].module]
        acts = torch.zeros(len(first), layer.width, dtype=first.dtype, device=first.device)
        done = torch.zeros(layer.width, dtype=torch.bool, device=first.device)
        for c in layer.consumers:
            columns = c.columns.to(first.device)
            take = (columns >= 0) & ~done
            acts[:, take] = acts_in[c.module][:, columns[take]].to(acts.dtype)
            done |= take
        grads = None
        if gradients:
            grads = torch.zeros_like(acts)
            for c in layer.consumers:
                columns = c.columns.to(first.device)
                read = columns >= 0
                grads[:, read] += grads_in[c.module][:, columns[read]].to(grads.dtype)
        result[name] = Calibration(acts, grads)
    if fisher_chunks:
        fisher_into_grad(model, inputs, fisher_chunks, loss)
    return result  # with gradients, the parameters keep theirs for the scorers; make_plan clears them
