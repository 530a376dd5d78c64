"""Plan: which neurons each prunable layer keeps, with what scale and why. JSON round-trip.

A plan is to prunekit what ``pruning_history()`` is to torch-pruning: applying it to a fresh copy of the
dense model (:func:`prunekit.apply`) gives the same pruned architecture.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from torch import nn

from prunekit.errors import CheckpointError
from prunekit.files import read_json, write_json

FORMAT = "prunekit.plan/1"


@dataclass
class LayerPlan:
    width: int
    kept: list[int]
    members: list[str]
    scales: list[float] | None = None
    scores: list[float] | None = None

    @property
    def dropped(self) -> list[int]:
        kept = set(self.kept)
        return [i for i in range(self.width) if i not in kept]


@dataclass
class Plan:
    layers: dict[str, LayerPlan]
    info: dict = field(default_factory=dict)  # scorer, selector, budget, seed: how the plan was made

    @property
    def widths(self) -> dict[str, int]:
        return {name: len(lp.kept) for name, lp in self.layers.items()}

    def to_dict(self) -> dict:
        return {
            "format": FORMAT,
            "info": self.info,
            "layers": {
                name: {
                    "width": lp.width,
                    "kept": lp.kept,
                    "members": lp.members,
                    "scales": lp.scales,
                    "scores": lp.scores,
                }
                for name, lp in self.layers.items()
            },
        }

    @classmethod
    def from_dict(cls, data) -> Plan:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise CheckpointError(f"not a prunekit plan ({FORMAT})")
        layers = {}
        for name, d in (data.get("layers") or {}).items():
            try:
                lp = LayerPlan(
                    int(d["width"]),
                    [int(i) for i in d["kept"]],
                    [str(m) for m in d["members"]],
                    None if d.get("scales") is None else [float(s) for s in d["scales"]],
                    None if d.get("scores") is None else [float(s) for s in d["scores"]],
                )
            except (KeyError, TypeError, ValueError) as exc:
                raise CheckpointError(f"plan layer {name!r} is malformed: {exc!r}") from None
            _check_layer(name, lp)
            layers[name] = lp
        if not layers:
            raise CheckpointError("the plan prunes no layer")
        return cls(layers, dict(data.get("info") or {}))

    def save(self, path: Path | str) -> None:
        write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: Path | str) -> Plan:
        return cls.from_dict(read_json(path, "plan"))

    def check_shapes(self, model: nn.Module) -> None:
        """Raise if ``model``'s layers do not have the widths this plan gives them."""
        modules = dict(model.named_modules())
        for lp in self.layers.values():
            for member in lp.members:
                m = modules.get(member)
                if not isinstance(m, nn.Linear) or m.out_features != len(lp.kept):
                    got = getattr(m, "out_features", None)
                    raise CheckpointError(f"layer {member} has width {got}, the plan says {len(lp.kept)}")


def _check_layer(name: str, lp: LayerPlan) -> None:
    if lp.width < 1 or not lp.kept or lp.kept != sorted(set(lp.kept)) or not 0 <= lp.kept[0] <= lp.kept[-1] < lp.width:
        raise CheckpointError(f"plan layer {name!r}: kept must be sorted distinct indices in [0, {lp.width})")
    if lp.scales is not None and (
        len(lp.scales) != len(lp.kept) or not all(math.isfinite(s) and s > 0 for s in lp.scales)
    ):
        raise CheckpointError(f"plan layer {name!r}: scales must be one positive finite number per kept neuron")
    if lp.scores is not None and len(lp.scores) != lp.width:
        raise CheckpointError(f"plan layer {name!r}: scores must have one number per neuron")
    if not lp.members:
        raise CheckpointError(f"plan layer {name!r} names no member layer")
