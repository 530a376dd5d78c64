"""The Python API: score → select → surgery → verify (→ refit), on any model with linear layers."""

from __future__ import annotations

import copy

import torch
from torch import nn

from prunekit import plugins
from prunekit.budget import Budget, allocate
from prunekit.calibration import calibrate
from prunekit.errors import PluginError
from prunekit.graph import ModelGraph
from prunekit.plan import LayerPlan, Plan
from prunekit.refit import refit as refit_layers
from prunekit.surgery import cut, verify


def make_plan(
    graph: ModelGraph,
    scorer: str = "w_out",
    selector: str = "coreset",
    width: int | None = None,
    keep: float | None = None,
    calibration=None,
    seed: int = 0,
    allocation: str = "uniform",
    round_to: int = 1,
) -> Plan:
    """Score every prunable layer of ``graph``, and select the neurons it keeps within the budget."""
    score_fn, select_fn = plugins.get_scorer(scorer), plugins.get_selector(selector)
    budget = Budget(width=width, keep=keep, allocation=allocation, round_to=round_to)
    calib = (
        calibrate(graph, calibration, gradients=getattr(score_fn, "needs_gradients", False))
        if getattr(score_fn, "needs_calibration", False)
        else {}
    )
    generator = torch.Generator().manual_seed(seed)
    layers, all_scores = {}, {}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for name, layer in graph.layers.items():
            scores = torch.as_tensor(score_fn.score(layer, calib.get(name))).detach().float().cpu().reshape(-1)
            if scores.numel() != layer.width or not torch.isfinite(scores).all():
                raise PluginError(
                    f"scorer {scorer!r} gave {scores.numel()} scores (finite: "
                    f"{bool(torch.isfinite(scores).all())}) for {name} of width {layer.width}"
                )
            all_scores[name] = scores
        kept_counts = allocate(graph, budget, all_scores)
        for name, layer in graph.layers.items():
            scores = all_scores[name]
            k = kept_counts[name]
            idx, scales = select_fn.select(scores, k, layer, generator)
            idx = torch.as_tensor(idx).long().cpu()
            if idx.numel() != k or len(set(idx.tolist())) != k:
                raise PluginError(
                    f"selector {selector!r} returned {idx.numel()} indices for {name}, expected {k} distinct"
                )
            order = idx.argsort()
            layers[name] = LayerPlan(
                width=layer.width,
                kept=idx[order].tolist(),
                members=[m.name for m in layer.members],
                scales=None if scales is None else torch.as_tensor(scales).float().cpu()[order].tolist(),
                scores=scores.tolist(),
            )
    info = {"scorer": scorer, "selector": selector, "budget": budget.as_dict(), "seed": seed, "allocation": allocation}
    return Plan(layers, info)


def plan(model: nn.Module, example_inputs, **kwargs) -> Plan:
    """The Plan that :func:`prune` would apply, without changing ``model``."""
    return make_plan(
        ModelGraph(copy.deepcopy(model), example_inputs),
        calibration=kwargs.pop("calibration", example_inputs),
        **kwargs,
    )


def apply(model: nn.Module, plan: Plan, example_inputs) -> nn.Module:
    """A pruned copy of ``model`` built from ``plan``, verified against the dense model."""
    pruned = copy.deepcopy(model)
    cut(ModelGraph(pruned, example_inputs), plan)
    verify(model, pruned, plan, example_inputs)
    pruned.prunekit_plan = plan
    return pruned


def prune(
    model: nn.Module,
    example_inputs,
    scorer: str = "w_out",
    selector: str = "coreset",
    width: int | None = None,
    keep: float | None = None,
    calibration=None,
    refit: bool = False,
    seed: int = 0,
    allocation: str = "uniform",
    round_to: int = 1,
) -> nn.Module:
    """A pruned, verified copy of ``model``; its plan is ``result.prunekit_plan``.

    ``example_inputs`` is a tensor or tuple of tensors (batch first) that ``model(*example_inputs)``
    accepts. ``calibration`` (same form, more rows) feeds data-aware scorers and the refit; it defaults to
    ``example_inputs``. ``refit=True`` re-solves every layer that lost inputs by least squares so the
    pruned model tracks the dense one on the calibration data. ``round_to=16`` keeps every width a
    multiple of 16, which matrix-multiply kernels run faster.
    """
    calibration = example_inputs if calibration is None else calibration
    pruned = copy.deepcopy(model)
    graph = ModelGraph(pruned, example_inputs)
    the_plan = make_plan(graph, scorer, selector, width, keep, calibration, seed, allocation, round_to)
    cut(graph, the_plan)
    verify(model, pruned, the_plan, example_inputs)
    if refit:
        refit_layers(model, pruned, the_plan, calibration)
        the_plan.info["refit"] = True
    pruned.prunekit_plan = the_plan
    return pruned
