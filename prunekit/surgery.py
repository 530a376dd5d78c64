"""Apply a Plan to a model through the dependency graph, and check that the result is what it claims.

A kept neuron's scale (the coreset's Horvitz–Thompson weight 1/π) multiplies its columns in every
consumer: the estimator's own place, Σ_kept (w_i / π_i) a_i, right whatever the activation between.

The check is independent of the graph's surgery: the pruned model's outputs must equal the dense
model's with every consumer reading the dropped neurons as zero and the kept ones scaled (forward
pre-hooks on the dense consumers themselves), on the example inputs and on random inputs of the same
shape. A mis-mapped concatenation or split, a missed consumer or a wrong scale fails it loudly.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from prunekit.calibration import _flat_outputs
from prunekit.errors import VerificationError
from prunekit.graph import ModelGraph, _as_tuple
from prunekit.plans import Plan

TOLERANCE = {torch.float64: 1e-9, torch.float32: 1e-5}

# consumer name → (input width, factor per input column): what each consumer reads of the planned layers
Wiring = dict[str, torch.Tensor]


def wiring(graph: ModelGraph, plan: Plan) -> Wiring:
    """For every consumer of a planned layer, one factor per input column: 0 for a dropped neuron,
    its scale (or 1) for a kept one, 1 for inputs the plan does not touch. Read off the graph before
    the cut."""
    factors: Wiring = {}
    for name, lp in plan.layers.items():
        layer = graph.layers.get(name)
        if layer is None:
            raise VerificationError(f"the plan prunes {name!r}, which is not a prunable layer of this model")
        if layer.width != lp.width:
            raise VerificationError(f"the plan gives {name!r} width {lp.width}, the model has {layer.width}")
        per_neuron = torch.zeros(lp.width, dtype=torch.float64)
        per_neuron[lp.kept] = 1.0 if lp.scales is None else torch.tensor(lp.scales, dtype=torch.float64)
        for c in layer.consumers:
            f = factors.setdefault(c.name, torch.ones(c.module.in_features, dtype=torch.float64))
            read = c.columns >= 0
            f[c.columns[read]] = per_neuron[read]
    return factors


def cut(graph: ModelGraph, plan: Plan) -> Wiring:
    """Fold the kept neurons' scales into their consumers' columns, then remove the dropped neurons.
    Returns the wiring the verification checks against."""
    factors = wiring(graph, plan)
    modules = dict(graph.model.named_modules())
    with torch.no_grad():
        for name, f in factors.items():
            w = modules[name].weight
            w.mul_(f.to(w.dtype).to(w.device)[None, :])  # dropped columns become 0, then go
    for name, lp in plan.layers.items():
        graph.remove(name, lp.dropped)
    return factors


def _reference_hooks(dense: nn.Module, factors: Wiring) -> list:
    """Hooks that make ``dense`` compute what the plan says the pruned model computes."""
    modules = dict(dense.named_modules())
    handles = []
    for name, f in factors.items():
        m = modules[name]
        scale = f.to(m.weight.dtype).to(m.weight.device)
        handles.append(m.register_forward_pre_hook(lambda mod, args, s=scale: (args[0] * s, *args[1:])))
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
        if not torch.isfinite(o).all():  # NaN compares false with everything: max() would skip it
            return math.inf
        err = max(err, float((o.double() - r.double()).abs().max() / r.double().abs().max().clamp_min(1e-12)))
    return err


def _forward_failure(model: nn.Module, inputs: tuple, exc: Exception) -> VerificationError:
    """Run ``model`` again with hooks that note the last layer entered, and name it in the error."""
    entered: list[str] = []
    handles = [
        m.register_forward_pre_hook(lambda mod, args, n=n: entered.append(n))
        for n, m in model.named_modules()
        if n and not list(m.children())
    ]
    try:
        with torch.no_grad():
            model(*inputs)
    except Exception:  # the same failure, now with its layer known
        pass
    finally:
        for h in handles:
            h.remove()
    where = f" (last layer entered: {entered[-1]!r})" if entered else ""
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return VerificationError(f"the pruned model's forward pass failed{where}: {first}")


def verify(dense: nn.Module, pruned: nn.Module, plan: Plan, example_inputs, factors: Wiring | None = None) -> float:
    """Raise VerificationError unless ``pruned`` computes what ``dense`` does with its consumers reading
    the dropped neurons as zero and the kept ones scaled; returns the relative error. ``factors`` (from
    :func:`cut`) saves tracing the dense model again."""
    inputs = _with_random_rows(_as_tuple(example_inputs))
    if factors is None:
        factors = wiring(ModelGraph(dense, example_inputs), plan)
    dtype = next(dense.parameters()).dtype
    tol = TOLERANCE.get(dtype, 1e-2)
    handles = _reference_hooks(dense, factors)
    was = dense.training, pruned.training
    dense.eval(), pruned.eval()
    failure = None
    try:
        err = output_error(dense, pruned, inputs)
    except Exception as exc:  # whatever the model raises: the cut broke it
        failure = exc
    finally:
        for h in handles:
            h.remove()
        dense.train(was[0]), pruned.train(was[1])
    if failure is not None:
        raise _forward_failure(pruned, inputs, failure) from None
    if not math.isfinite(err):
        raise VerificationError("the pruned model computes NaN or Inf on the verification inputs")
    if not err <= tol:
        raise VerificationError(
            f"pruned model differs from the dense model with its dropped neurons read as zero "
            f"(relative error {err:.2e} > {tol:.0e}): the surgery mis-mapped a layer"
        )
    return err
