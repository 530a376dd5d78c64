"""Budgets: how many neurons each prunable layer keeps, and what that costs in parameters."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from prunekit.errors import BadInput
from prunekit.graph import ModelGraph


@dataclass(frozen=True)
class Budget:
    """Either ``width`` (the widest prunable layer's new width; the others shrink by the same ratio) or
    ``keep`` (a fraction of the model's parameters to keep)."""

    width: int | None = None
    keep: float | None = None

    def __post_init__(self) -> None:
        if (self.width is None) == (self.keep is None):
            raise BadInput("give exactly one of --width or --keep")
        if self.width is not None and self.width < 1:
            raise BadInput(f"--width must be a positive integer, got {self.width}")
        if self.keep is not None and not 0 < self.keep <= 1:
            raise BadInput(f"--keep must be in (0, 1], got {self.keep}")

    def as_dict(self) -> dict:
        return {"width": self.width} if self.width is not None else {"keep": self.keep}


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


def widths_for_ratio(graph: ModelGraph, ratio: float) -> dict[str, int]:
    return {n: max(1, min(layer.width, round(layer.width * ratio))) for n, layer in graph.layers.items()}


def allocate(graph: ModelGraph, budget: Budget) -> dict[str, int]:
    """Neurons to keep per prunable layer. Every layer shrinks by one common ratio."""
    if not graph.layers:
        raise BadInput("the model has no prunable layer (every linear layer feeds an output)")
    widest = max(layer.width for layer in graph.layers.values())
    if budget.width is not None:
        if budget.width > widest:
            raise BadInput(f"--width {budget.width} is larger than the model's widest prunable layer ({widest})")
        return widths_for_ratio(graph, budget.width / widest)
    target = budget.keep * count_params(graph.model)
    lo, hi = 0.0, 1.0  # params_after grows with the ratio: bisect for the closest count
    for _ in range(40):
        mid = (lo + hi) / 2
        if params_after(graph, widths_for_ratio(graph, mid)) < target:
            lo = mid
        else:
            hi = mid
    best = min((lo, hi), key=lambda r: abs(params_after(graph, widths_for_ratio(graph, r)) - target))
    return widths_for_ratio(graph, best)
