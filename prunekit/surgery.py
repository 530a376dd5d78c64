"""Apply a Plan to a model through the dependency graph, and check that the result is what it claims.

The check is independent of the graph: the pruned model's outputs must equal the dense model's with
the dropped neurons zeroed and the kept ones scaled at their pre-activation (by hooks on the dense
layers themselves), on the example inputs and on random inputs of the same shape. A mis-mapped
concatenation, a missed consumer or a wrong scale fails it loudly.
"""

from __future__ import annotations

import torch
from torch import nn

from prunekit.calibration import _flat_outputs
from prunekit.errors import VerificationError
from prunekit.graph import ModelGraph, _as_tuple
from prunekit.plan import Plan

TOLERANCE = {torch.float64: 1e-9, torch.float32: 1e-5}


def cut(graph: ModelGraph, plan: Plan) -> None:
    """Remove the dropped neurons of every planned layer and fold the kept ones' scales into their rows."""
    for name, lp in plan.layers.items():
        layer = graph.layers.get(name)
        if layer is None:
            raise VerificationError(f"the plan prunes {name!r}, which is not a prunable layer of this model")
        if layer.width != lp.width:
            raise VerificationError(f"the plan gives {name!r} width {lp.width}, the model has {layer.width}")
    for name, lp in plan.layers.items():
        graph.remove(name, lp.dropped)
        if lp.scales is not None:
            with torch.no_grad():
                for member in graph.layers[name].members:
                    s = torch.tensor(lp.scales, dtype=member.module.weight.dtype, device=member.module.weight.device)
                    member.module.weight.mul_(s[:, None])
                    if member.module.bias is not None:
                        member.module.bias.mul_(s)


def _reference_hooks(dense: nn.Module, plan: Plan) -> list:
    """Hooks that make ``dense`` compute what the plan says the pruned model computes."""
    modules = dict(dense.named_modules())
    handles = []
    for lp in plan.layers.values():
        w = modules[lp.members[0]].weight
        factor = torch.zeros(lp.width, dtype=w.dtype, device=w.device)
        factor[lp.kept] = 1.0 if lp.scales is None else torch.tensor(lp.scales, dtype=w.dtype, device=w.device)
        for member in lp.members:
            handles.append(modules[member].register_forward_hook(lambda m, a, out, f=factor: out * f))
    return handles


def _with_random_rows(inputs: tuple) -> tuple:
    """The inputs with as many random rows appended (one forward pass checks both); only when every
    input is a float tensor, since random integers or other objects may not be valid inputs."""
    if not all(torch.is_tensor(x) and x.is_floating_point() for x in inputs):
        return inputs
    state = torch.random.get_rng_state()
    torch.manual_seed(0)
    out = tuple(
        torch.cat([x, torch.randn_like(x)]) if torch.is_tensor(x) and x.is_floating_point() else x for x in inputs
    )
    torch.random.set_rng_state(state)
    return out


def output_error(reference: nn.Module, model: nn.Module, inputs) -> float:
    """max |model - reference| / max |reference| over every output tensor."""
    inputs = _as_tuple(inputs)
    with torch.no_grad():
        ref, out = _flat_outputs(reference(*inputs)), _flat_outputs(model(*inputs))
    err = 0.0
    for r, o in zip(ref, out):
        err = max(err, float((o.double() - r.double()).abs().max() / r.double().abs().max().clamp_min(1e-12)))
    return err


def verify(dense: nn.Module, pruned: nn.Module, plan: Plan, example_inputs) -> float:
    """Raise VerificationError unless pruned == dense with dropped neurons zeroed; returns the error."""
    inputs = _with_random_rows(_as_tuple(example_inputs))
    dtype = next(dense.parameters()).dtype
    tol = TOLERANCE.get(dtype, 1e-2)
    handles = _reference_hooks(dense, plan)
    was = dense.training, pruned.training
    dense.eval(), pruned.eval()
    try:
        err = output_error(dense, pruned, inputs)
    finally:
        for h in handles:
            h.remove()
        dense.train(was[0]), pruned.train(was[1])
    if not err <= tol:
        raise VerificationError(
            f"pruned model differs from the dense model with dropped neurons zeroed "
            f"(relative error {err:.2e} > {tol:.0e}); "
            "the surgery mis-mapped a layer, or a pruned layer feeds an activation with f(0) != 0"
        )
    return err
