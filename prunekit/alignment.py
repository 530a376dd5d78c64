"""``--round-to auto``: the width multiple this device's matrix kernels prefer, measured, not guessed.

Pruning lands on arbitrary widths (the study's half budget: 175), and matrix kernels can run such shapes
far slower per weight than a multiple of 16 (``bench/width_alignment.py``). The measurement times a
linear layer's forward and backward at a few such widths and at the same widths rounded to each
candidate multiple; a multiple is preferred only when it makes a weight at least 5 % cheaper, else 1
(rounding does not help). It runs once per device and is remembered (:mod:`prunekit.measured`).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable

import torch

from prunekit.measured import interleaved_ratio, remembered

CANDIDATES = (64, 32, 16, 8)
PROBES = (88, 120, 175, 200)  # widths of the kind a pruning budget lands on
GAIN = 0.95  # a multiple must make a weight at least 5 % cheaper to be preferred


def _layer_step(width: int, device: torch.device, rows: int = 16384) -> Callable[[], None]:
    """One forward and backward of ``Linear(width, width)`` + ReLU on ``rows`` rows."""
    layer = torch.nn.Linear(width, width, device=device)
    x = torch.randn(rows, width, device=device, requires_grad=True)
    return lambda: layer(x).relu().sum().backward()


def nearest(width: int, multiple: int) -> int:
    return max(multiple, multiple * round(width / multiple))


def measure(device: torch.device, timer: Callable[[int, torch.device], float] | None = None) -> dict:
    """For each candidate multiple, the geometric mean over the probe widths of (time per weight at the
    width rounded to it) ÷ (time per weight at the width itself), and the multiple preferred: the
    smallest within 0.02 of the best, if that is at most ``GAIN``, else 1. ``timer(width, device)``, the
    seconds per weight of one width, stands in for the interleaved measurement (tests)."""
    if timer is None:
        steps: dict[int, Callable[[], None]] = {}

        def ratio(a: int, b: int) -> float:
            for w in (a, b):
                steps.setdefault(w, _layer_step(w, device))
            return interleaved_ratio(steps[a], steps[b], device) * a**2 / b**2
    else:

        def ratio(a: int, b: int) -> float:
            return timer(b, device) / timer(a, device)

    ratios = {m: math.exp(statistics.fmean(math.log(ratio(w, nearest(w, m))) for w in PROBES)) for m in CANDIDATES}
    best = min(ratios.values())
    helpful = [m for m, r in ratios.items() if r <= GAIN and r <= best + 0.02]
    return {"ratios": ratios, "preferred": min(helpful) if helpful else 1}


def preferred_multiple(device: torch.device) -> int:
    """The multiple ``--round-to auto`` rounds to on ``device``: measured once, then remembered."""
    found = remembered(device, "round_to", lambda: measure(device), lambda r: r.get("preferred") in (1, *CANDIDATES))
    return int(found["preferred"])
