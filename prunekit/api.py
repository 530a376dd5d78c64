"""The Python API: score → select → surgery → verify (→ refit), on any model with linear layers.

Scorers and selectors are given by name (any registered plug-in) or as objects that follow
:class:`Scorer` and :class:`Selector`, as Torch-Pruning takes importance objects.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import replace

import torch
from torch import nn

from prunekit import plugins
from prunekit.budget import allocate, settle
from prunekit.calibration import Loss, calibrate
from prunekit.errors import PluginError
from prunekit.graph import ModelGraph, PrunableLayer, prunable_names
from prunekit.plans import LayerPlan, Plan
from prunekit.protocols import Scorer, Selector
from prunekit.refit import refit as refit_layers
from prunekit.schedule import compose, widths_along
from prunekit.spec import PruneSpec, name_of, request
from prunekit.surgery import cut, verify


def _scorer(scorer: str | Scorer) -> Scorer:
    if isinstance(scorer, str):
        return plugins.get_scorer(scorer)
    if not isinstance(scorer, Scorer):
        raise PluginError(
            f"scorer {scorer!r} is neither a registered name nor a Scorer (subclass prunekit.plugin.ScorerBase: "
            "it gives every optional capability its default)"
        )
    return scorer


def _selector(selector: str | Selector) -> Selector:
    if isinstance(selector, str):
        return plugins.get_selector(selector)
    if not isinstance(selector, Selector):
        raise PluginError(
            f"selector {selector!r} is neither a registered name nor a Selector (subclass prunekit.plugin.SelectorBase)"
        )
    return selector


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def _scores(score_fn, scorer, layer: PrunableLayer, name: str, calibration) -> torch.Tensor:
    """The scorer's scores for one layer, checked: a plug-in's failure names the plug-in."""
    try:
        scores = torch.as_tensor(score_fn.score(layer, calibration)).detach().float().cpu().reshape(-1)
    except Exception as exc:  # a plug-in's bug, or a value that is not an array of numbers
        raise PluginError(f"scorer {name_of(scorer)!r} failed on layer {name}: {_first_line(exc)}") from None
    if scores.numel() != layer.width or not torch.isfinite(scores).all():
        raise PluginError(
            f"scorer {name_of(scorer)!r} gave {scores.numel()} scores (finite: "
            f"{bool(torch.isfinite(scores).all())}) for {name} of width {layer.width}"
        )
    return scores


def _selection(select_fn, selector, scores, k: int, layer: PrunableLayer, name: str, generator):
    """The selector's kept indices (sorted) and scales for one layer, checked: exactly ``k`` distinct
    indices within the layer, and scales (if any) one per index, finite and positive."""
    try:
        idx, scales = select_fn.select(scores, k, layer, generator)
        idx = torch.as_tensor(idx).cpu()
        scales = None if scales is None else torch.as_tensor(scales).float().cpu().reshape(-1)
    except Exception as exc:
        raise PluginError(f"selector {name_of(selector)!r} failed on layer {name}: {_first_line(exc)}") from None
    where = f"selector {name_of(selector)!r} on layer {name}"
    if idx.dtype.is_floating_point or idx.dtype == torch.bool or idx.dim() != 1:
        raise PluginError(
            f"{where} returned {idx.dtype} indices of shape {list(idx.shape)}, expected a 1-D integer tensor"
        )
    idx = idx.long()
    if idx.numel() != k or len(set(idx.tolist())) != k:
        raise PluginError(f"{where} returned {idx.numel()} indices, expected {k} distinct")
    if idx.numel() and (idx.min() < 0 or idx.max() >= layer.width):
        raise PluginError(f"{where} returned indices outside [0, {layer.width}): {idx.min()}..{idx.max()}")
    if scales is not None and (scales.numel() != k or not torch.isfinite(scales).all() or (scales <= 0).any()):
        raise PluginError(f"{where} returned {scales.numel()} scales for {k} neurons; each must be finite and positive")
    order = idx.argsort()
    return idx[order], None if scales is None else scales[order]


def make_plan(
    graph: ModelGraph,
    spec: PruneSpec,
    calibration=None,
    counts: dict[str, int] | None = None,
    loss: Loss | None = None,
) -> Plan:
    """Score every prunable layer of ``graph``, and select the neurons it keeps within ``spec``'s budget
    (or exactly ``counts`` per layer: a step of a gradual schedule). ``loss`` is what gradient-based
    scorers differentiate (default: the output energy)."""
    score_fn, select_fn = _scorer(spec.scorer), _selector(spec.selector)
    budget = spec.budget
    calib = (
        calibrate(
            graph, calibration, gradients=score_fn.needs_gradients, fisher_chunks=score_fn.fisher_chunks, loss=loss
        )
        if score_fn.needs_calibration
        else {}
    )
    generator = torch.Generator().manual_seed(spec.seed)
    layers, all_scores = {}, {}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec.seed)
        for name, layer in graph.layers.items():
            all_scores[name] = _scores(score_fn, spec.scorer, layer, name, calib.get(name))
        graph.model.zero_grad(set_to_none=True)  # what calibration left for gradient-based scorers
        settled = settle(graph, budget, all_scores) if counts is None else budget
        kept_counts = allocate(graph, settled, all_scores) if counts is None else counts
        for name, layer in graph.layers.items():
            scores = all_scores[name]
            idx, scales = _selection(select_fn, spec.selector, scores, kept_counts[name], layer, name, generator)
            layers[name] = LayerPlan(
                width=layer.width,
                kept=idx.tolist(),
                members=[m.name for m in layer.members],
                scales=None if scales is None else scales.tolist(),
                scores=scores.tolist(),
            )
    info = {
        "scorer": name_of(spec.scorer),
        "selector": name_of(spec.selector),
        "budget": budget.as_dict(),
        "seed": spec.seed,
        "allocation": spec.allocation,
    }
    if counts is None and budget.round_to != 1:  # the widths asked for, and the multiple they were rounded to
        info["round_to"] = settled.round_to
        info["exact_widths"] = allocate(graph, replace(settled, round_to=1), all_scores)
    return Plan(layers, info)


def plan(
    model: nn.Module,
    example_inputs,
    spec: PruneSpec | None = None,
    *,
    calibration=None,
    prunable=None,
    loss: Loss | None = None,
    **options,
) -> Plan:
    """The Plan that :func:`prune` would apply, without changing ``model``; same arguments."""
    spec = request(spec, options)
    calibration = example_inputs if calibration is None else calibration
    graph = ModelGraph(copy.deepcopy(model), example_inputs, prunable_names(prunable, model))
    return make_plan(graph, spec, calibration, loss=loss)


def apply(
    model: nn.Module, the_plan: Plan, example_inputs, *, calibration=None, refit: bool | None = None
) -> nn.Module:
    """A pruned copy of ``model`` built from ``the_plan``, verified against the dense model.

    ``refit`` defaults to what the plan records (a plan made by ``prune(..., refit=True)`` refits again,
    on ``calibration``, which defaults to ``example_inputs``)."""
    the_plan = copy.deepcopy(the_plan)  # the result's own record; the caller's plan stays as it was
    pruned = copy.deepcopy(model)
    graph = ModelGraph(pruned, example_inputs, _planned(the_plan))
    again = the_plan.info.get("refit", False) if refit is None else refit
    return _cut(model, graph, the_plan, example_inputs, example_inputs if calibration is None else calibration, again)


def _planned(the_plan: Plan) -> list[str]:
    """Every layer a plan cuts: each group's root and the layers coupled to it (a residual sum)."""
    return [name for lp in the_plan.layers.values() for name in lp.members]


def _cut(dense: nn.Module, graph: ModelGraph, the_plan: Plan, example_inputs, calibration, refit: bool) -> nn.Module:
    """The one cut → verify → (refit) sequence: ``graph`` (over a copy of ``dense``) loses what ``the_plan``
    drops, the result is checked against ``dense``, then optionally refitted; returns the pruned copy."""
    pruned = graph.model
    factors = cut(graph, the_plan)
    verify(dense, pruned, the_plan, example_inputs, factors)
    if refit:
        refit_layers(dense, pruned, the_plan, calibration)
        the_plan.info["refit"] = True
    pruned.prunekit_plan = the_plan
    return pruned


def prune(
    model: nn.Module,
    example_inputs,
    spec: PruneSpec | None = None,
    *,
    calibration=None,
    prunable=None,
    loss: Loss | None = None,
    between: Callable[[nn.Module, int], None] | None = None,
    **options,
) -> nn.Module:
    """A pruned, verified copy of ``model``; its plan is ``result.prunekit_plan``.

    What to prune and how is a :class:`PruneSpec` — ``spec``, or its fields as keyword arguments
    (``scorer="product", width=64``), or both (the keywords replace the spec's fields). ``scorer`` and
    ``selector`` are registered names or objects (see :class:`Scorer`, :class:`Selector`).
    ``example_inputs`` is a tensor or tuple of tensors (batch first) that ``model(*example_inputs)``
    accepts. ``calibration`` (same form, more rows) feeds data-aware scorers and the refit; it defaults
    to ``example_inputs``. ``refit=True`` re-solves every layer that lost inputs by least squares so the
    pruned model tracks the dense one on the calibration data. ``round_to=16`` keeps every width a
    multiple of 16, which matrix-multiply kernels run faster.

    ``prunable`` names the layers that may lose output neurons: a list of ``nn.Linear`` modules or their
    names (``[b.mlp.fc for b in model.blocks]`` prunes a transformer's feed-forward units only); None
    prunes every layer the graph can. A layer that cannot be pruned as asked is refused with the reason
    before anything is scored. ``loss(outputs, inputs) -> scalar`` is what gradient-based scorers
    (Taylor, Hessian) differentiate on ``calibration``; default: the output energy 0.5·||f(x)||².

    ``steps=N`` prunes gradually (:func:`prune_steps`): N cuts along ``schedule`` ("cubic" as AGP, or
    "linear") to the same widths as one shot, ``between(model, step)`` called after each cut but the last
    (to train the model in place before it is scored again).
    """
    spec = request(spec, options)
    cuts = prune_steps(model, example_inputs, spec, calibration=calibration, prunable=prunable, loss=loss)
    for step, pruned in enumerate(cuts, 1):
        if step < spec.steps and between is not None:
            between(pruned, step)
    return pruned


def _cut_once(current: nn.Module, example_inputs, calibration, spec: PruneSpec, prunable, loss, counts=None):
    graph = ModelGraph(copy.deepcopy(current), example_inputs, prunable)
    the_plan = make_plan(graph, spec, calibration, counts=counts, loss=loss)
    return _cut(current, graph, the_plan, example_inputs, calibration, spec.refit)


def prune_steps(
    model: nn.Module,
    example_inputs,
    spec: PruneSpec | None = None,
    *,
    calibration=None,
    prunable=None,
    loss: Loss | None = None,
    **options,
) -> Iterator[nn.Module]:
    """Prune in ``spec.steps`` cuts, yielding the model after each; same arguments as :func:`prune`.

    The widths a one-shot cut would give are computed on the dense model first; each cut moves every
    layer along ``schedule`` towards them (:func:`prunekit.schedule.widths_along`) and ends exactly there.
    Before each cut the current model is scored again, so a caller that trains the yielded model in
    place between cuts gets scores of the trained weights. Every cut is verified against the model it
    was cut from. The yielded model's plan maps its neurons to the dense model's (scales multiplied), so
    :func:`apply` on the dense model rebuilds the same architecture, and the same weights when nothing
    trained in between and nothing was refitted.
    """
    spec = request(spec, options)
    calibration = example_inputs if calibration is None else calibration
    prunable = prunable_names(prunable, model)  # modules of the caller's model, named before any copy
    if spec.steps == 1:
        yield _cut_once(model, example_inputs, calibration, spec, prunable, loss)
        return
    final = plan(model, example_inputs, spec, calibration=calibration, prunable=prunable, loss=loss)
    dense = {name: lp.width for name, lp in final.layers.items()}
    target = {name: len(lp.kept) for name, lp in final.layers.items()}
    widths = widths_along(dense, target, spec.steps, spec.schedule, final.info.get("round_to", spec.round_to))
    current, composed = model, None
    for step, counts in enumerate(widths, 1):
        at_step = replace(spec, seed=spec.seed + step - 1)
        current = _cut_once(current, example_inputs, calibration, at_step, _planned(final), loss, counts)
        composed = current.prunekit_plan if composed is None else compose(composed, current.prunekit_plan)
        composed.info["schedule"] = {"kind": spec.schedule, "steps": spec.steps, "widths": widths[:step]}
        current.prunekit_plan = composed
        yield current
