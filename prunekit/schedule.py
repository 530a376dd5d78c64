"""Gradual pruning: from the dense widths to the budget's in several cuts, re-scoring before each.

One-shot pruning to a small fraction then fine-tuning is the weakest schedule; Torch-Pruning's
``iterative_steps`` and AGP (Zhu & Gupta 2017) cut a slice at a time with training in between. Here the
widths a one-shot cut would end at are computed first, so N steps end exactly there, and the training
budget is split over the phases, so the total stays the one-shot fine-tuning's.
"""

from __future__ import annotations

from collections.abc import Sequence

from prunekit.budget import aligned
from prunekit.errors import BadInput
from prunekit.plans import LayerPlan, Plan

SCHEDULES = ("cubic", "linear")


def check(steps: int, schedule: str, retrain: Sequence[str] = ()) -> None:
    """Refuse a schedule that is not one, and gradual pruning with retraining from scratch (which would
    throw away what was trained between the cuts)."""
    if not isinstance(steps, int) or steps < 1:
        raise BadInput(f"--steps must be a positive integer, got {steps!r}")
    if schedule not in SCHEDULES:
        raise BadInput(f"--schedule must be one of {', '.join(SCHEDULES)}, got {schedule!r}")
    if steps > 1 and "scratch" in retrain:
        raise BadInput("--steps prunes gradually, fine-tuning between cuts; --retrain scratch would discard that")


def progress(step: int, steps: int, schedule: str) -> float:
    """How far (0 → 1) from the dense widths to the target after cut ``step`` of ``steps``: linear
    ``step/steps``, or AGP's cubic ``1 − (1 − step/steps)³`` — large cuts while the network still has
    redundancy to spare, small ones near the end."""
    f = step / steps
    return f if schedule == "linear" else 1.0 - (1.0 - f) ** 3


def widths_along(
    dense: dict[str, int], target: dict[str, int], steps: int, schedule: str, round_to: int = 1
) -> list[dict[str, int]]:
    """Each layer's width after each cut: never below the target, multiples of ``round_to`` on the way,
    exactly the target after the last."""
    check(steps, schedule)
    return [
        {
            n: target[n]
            if i == steps
            else max(
                target[n],
                aligned(dense[n] - progress(i, steps, schedule) * (dense[n] - target[n]), dense[n], round_to),
            )
            for n in dense
        }
        for i in range(1, steps + 1)
    ]


def split_iters(total: int, steps: int) -> list[int]:
    """The training steps after each cut (the last entry is the final fine-tuning): equal shares of
    ``total`` that add up to it exactly."""
    if total < steps:
        raise BadInput(f"{steps} pruning steps need at least {steps} retraining iterations, got {total}")
    return [total // steps + (i < total % steps) for i in range(steps)]


def compose(first: Plan, then: Plan) -> Plan:
    """``then`` (made on the model ``first`` produced) expressed on the model ``first`` was made on: kept
    indices mapped back to the original neurons, scales multiplied, the first plan's scores and info."""
    layers = {}
    for name, a in first.layers.items():
        b = then.layers.get(name)
        if b is None:
            layers[name] = a
            continue
        scales = None
        if a.scales is not None or b.scales is not None:
            sa = a.scales or [1.0] * len(a.kept)
            sb = b.scales or [1.0] * len(b.kept)
            scales = [sa[j] * sb[i] for i, j in enumerate(b.kept)]
        layers[name] = LayerPlan(a.width, [a.kept[j] for j in b.kept], a.members, scales, a.scores)
    return Plan(layers, dict(first.info))
