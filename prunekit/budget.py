"""Budgets: how many neurons each prunable layer keeps, and what that costs in parameters."""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn

from prunekit.errors import BadInput
from prunekit.graph import ModelGraph

ALLOCATIONS = ("uniform", "global")


@dataclass(frozen=True)
class Budget:
    """Either ``width`` (the widest prunable layer's new width; the others shrink by the same ratio) or
    ``keep`` (a fraction of the model's parameters to keep).

    ``allocation`` says how the budget is spread: ``uniform`` shrinks every layer by one ratio;
    ``global`` spends the same number of parameters where the scores are highest (see
    :func:`global_allocation`). ``round_to`` makes every kept width a multiple of it: matrix-multiply
    kernels run about a third slower per weight on odd widths than on multiples of 16 (``bench/width_alignment.py``).
    ``round_to="auto"`` rounds to the multiple this device's kernels prefer (:mod:`prunekit.alignment`),
    or a smaller one where that would move the parameter count more than 1 % (:func:`settle`)."""

    width: int | None = None
    keep: float | None = None
    allocation: str = "uniform"
    round_to: int | str = 1  # or "auto"

    def __post_init__(self) -> None:
        if self.allocation not in ALLOCATIONS:
            raise BadInput(f"--allocation must be one of {', '.join(ALLOCATIONS)}, got {self.allocation!r}")
        if (self.width is None) == (self.keep is None):
            raise BadInput("give exactly one of --width or --keep")
        if self.width is not None and self.width < 1:
            raise BadInput(f"--width must be a positive integer, got {self.width}")
        if self.keep is not None and not 0 < self.keep <= 1:
            raise BadInput(f"--keep must be in (0, 1], got {self.keep}")
        if self.round_to != "auto" and (not isinstance(self.round_to, int) or self.round_to < 1):
            raise BadInput(f"--round-to must be a positive integer or auto, got {self.round_to}")
        if self.width is not None and self.round_to != "auto" and self.round_to > self.width:
            asked = f"--round-to {self.round_to} is larger than --width {self.width}"
            raise BadInput(f"{asked}: every width would become {self.round_to}")

    def as_dict(self) -> dict:
        size = {"width": self.width} if self.width is not None else {"keep": self.keep}
        if self.allocation != "uniform":
            size["allocation"] = self.allocation
        if self.round_to != 1:
            size["round_to"] = self.round_to
        return size


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def params_after(graph: ModelGraph, kept: dict[str, int]) -> int:
    """Parameter count of the model once each layer keeps ``kept[name]`` neurons, without pruning it."""
    total = count_params(graph.model)
    for name, k in kept.items():
        layer = graph.layers[name]
        dropped = layer.width - k
        for m in layer.members:
            total -= dropped * (m.module.in_features + (m.module.bias is not None))
        for c in layer.consumers:
            total -= dropped * c.module.out_features
    # a consumer that is itself pruned lost those columns in rows that are gone anyway: add them back
    for name, k in kept.items():
        for c in graph.layers[name].consumers:
            for other, k2 in kept.items():
                if any(m.module is c.module for m in graph.layers[other].members):
                    total += (graph.layers[name].width - k) * (graph.layers[other].width - k2)
    return total


def aligned(k: float, width: int, round_to: int) -> int:
    """``k`` neurons rounded to the nearest multiple of ``round_to``, within [min(round_to, width), width]."""
    return max(min(round_to, width), min(width, round_to * round(k / round_to)), 1)


def widths_for_ratio(graph: ModelGraph, ratio: float, round_to: int = 1) -> dict[str, int]:
    return {n: aligned(round(layer.width * ratio), layer.width, round_to) for n, layer in graph.layers.items()}


TOLERANCE = 0.01  # what --round-to auto may move the parameter count, relative to exact widths


def settle(graph: ModelGraph, budget: Budget, scores: dict[str, torch.Tensor] | None = None) -> Budget:
    """``budget`` with ``round_to="auto"`` resolved for ``graph``'s device: the preferred multiple, else
    the largest smaller power of two whose widths keep the parameter count within 1 % of the exact
    widths' (rounding is to the nearest multiple, so it may add or remove a few neurons); 1 when none
    does. Any other budget is returned as it is."""
    if budget.round_to != "auto":
        return budget
    from prunekit.alignment import preferred_multiple

    exact = replace(budget, round_to=1)
    if not graph.layers:
        return exact
    device = next(graph.model.parameters()).device
    target = params_after(graph, allocate(graph, exact, scores))
    multiple = preferred_multiple(device)
    while multiple > 1:
        if budget.width is None or multiple <= budget.width:
            rounded = replace(budget, round_to=multiple)
            if abs(params_after(graph, allocate(graph, rounded, scores)) - target) <= TOLERANCE * target:
                return rounded
        multiple //= 2
    return exact


def allocate(graph: ModelGraph, budget: Budget, scores: dict[str, torch.Tensor] | None = None) -> dict[str, int]:
    """Neurons to keep per prunable layer."""
    budget = settle(graph, budget, scores)
    if not graph.layers:
        raise BadInput("the model has no prunable layer (every linear layer feeds an output)")
    widest = max(layer.width for layer in graph.layers.values())
    if budget.width is not None:
        if budget.width > widest:
            raise BadInput(f"--width {budget.width} is larger than the model's widest prunable layer ({widest})")
        uniform = widths_for_ratio(graph, budget.width / widest, budget.round_to)
    else:
        target = budget.keep * count_params(graph.model)

        # parameters grow with the widest layer's width k: binary search the last k within the target,
        # then take whichever of it and the next k (the next set of widths, rounding included) is closer
        def widths(k: int) -> dict[str, int]:
            return widths_for_ratio(graph, k / widest, budget.round_to)

        lo, hi = 1, widest
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if params_after(graph, widths(mid)) <= target:
                lo = mid
            else:
                hi = mid - 1
        candidates = [k for k in (lo, lo + 1) if k <= widest]
        uniform = widths(min(candidates, key=lambda k: abs(params_after(graph, widths(k)) - target)))
    asked = budget.width < widest if budget.width is not None else budget.keep < 1
    if asked and all(k == graph.layers[n].width for n, k in uniform.items()):
        rounding = f" (--round-to {budget.round_to} rounds every width back up)" if budget.round_to > 1 else ""
        raise BadInput(f"the budget {budget.as_dict()} prunes nothing{rounding}; ask for fewer neurons")
    if budget.allocation == "uniform":
        return uniform
    if scores is None:
        raise BadInput("global allocation needs the layers' scores")
    kept = global_allocation(graph, scores, params_after(graph, uniform), budget.round_to)
    share, wanted = (
        params_after(graph, kept) / count_params(graph.model),
        params_after(graph, uniform) / count_params(graph.model),
    )
    if share > 1.5 * wanted:
        from prunekit.progress import console

        console.log(
            f"warning: --allocation global keeps {share:.2%} of the parameters, not {wanted:.2%}: every layer keeps "
            "at least 1/16 of its neurons"
        )
    return kept


def min_width(width: int) -> int:
    """The narrowest a layer may become under a global allocation: 1/16 of its width, at least 1."""
    return max(1, width // 16)


def global_allocation(
    graph: ModelGraph, scores: dict[str, torch.Tensor], target: int, round_to: int = 1
) -> dict[str, int]:
    """Widths chosen by ranking every neuron of every layer on one scale, within ``target`` parameters.

    Scores are normalised by their layer's mean (scores of different layers are not comparable in
    absolute terms: fan-in and fan-out differ), then one threshold is found such that the neurons above
    it, with every layer kept between :func:`min_width` and its width, cost at most ``target``
    parameters (each width rounded to a multiple of ``round_to``). A layer whose neurons all look alike
    keeps a share like the others'; a layer with a few dominant neurons gives up the rest.
    """
    normed = {n: s / s.mean().clamp_min(1e-12) for n, s in scores.items()}
    thresholds = torch.cat(list(normed.values())).sort(descending=True).values

    def widths_at(t: float) -> dict[str, int]:
        return {
            n: aligned(max(min_width(graph.layers[n].width), int((s >= t).sum())), graph.layers[n].width, round_to)
            for n, s in normed.items()
        }

    lo, hi = 0, len(thresholds) - 1  # more neurons (lower threshold) as the index grows
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if params_after(graph, widths_at(float(thresholds[mid]))) <= target:
            lo = mid
        else:
            hi = mid - 1
    return widths_at(float(thresholds[lo]))
