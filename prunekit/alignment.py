"""``--round-to auto``: the width multiple this device's matrix kernels prefer, measured, not guessed.

Pruning lands on arbitrary widths (the study's half budget: 175), and matrix kernels can run such shapes
far slower per weight than a multiple of 16 (``bench/width_alignment.py``). The measurement times a
linear layer's forward and backward at a few such widths and at the same widths rounded to each
candidate multiple; a multiple is preferred only when it makes a weight at least 5 % cheaper, else 1
(rounding does not help). It runs once per machine, device, thread count and torch version, and is kept
in ``$XDG_CACHE_HOME/prunekit/alignment.json`` (default ``~/.cache``), so a resumed run rounds alike.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

from prunekit.errors import PrunekitError
from prunekit.files import read_json, write_json
from prunekit.runtime import cpu_model

CANDIDATES = (64, 32, 16, 8)
PROBES = (88, 120, 175, 200)  # widths of the kind a pruning budget lands on
GAIN = 0.95  # a multiple must make a weight at least 5 % cheaper to be preferred


def _interleaved(device: torch.device, rows: int = 16384, rounds: int = 9) -> Callable[[int, int], float]:
    """``ratio(a, b)``: time per weight at width ``b`` ÷ at width ``a`` of ``Linear(w, w)`` + ReLU, forward
    and backward on ``rows`` rows, timed in alternating pairs (a, b, a, b, …) and the median of the pairs'
    ratios taken, so that the machine's drift during the measurement falls on both widths alike."""
    layers: dict[int, tuple] = {}

    def once(width: int) -> float:
        if width not in layers:
            layers[width] = (
                torch.nn.Linear(width, width, device=device),
                torch.randn(rows, width, device=device, requires_grad=True),
            )
        layer, x = layers[width]
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        layer(x).relu().sum().backward()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return (time.perf_counter() - t0) / width**2

    def ratio(a: int, b: int) -> float:
        once(a), once(b)  # warm-up
        return statistics.median(once(b) / once(a) for _ in range(rounds))

    return ratio


def nearest(width: int, multiple: int) -> int:
    return max(multiple, multiple * round(width / multiple))


def measure(device: torch.device, timer: Callable[[int, torch.device], float] | None = None) -> dict:
    """For each candidate multiple, the geometric mean over the probe widths of (time per weight at the
    width rounded to it) ÷ (time per weight at the width itself), and the multiple preferred: the
    smallest within 0.02 of the best, if that is at most ``GAIN``, else 1. ``timer(width, device)``, the
    seconds per weight of one width, stands in for the interleaved measurement (tests)."""
    if timer is None:
        ratio = _interleaved(device)
    else:

        def ratio(a: int, b: int) -> float:
            return timer(b, device) / timer(a, device)

    ratios = {
        m: math.exp(statistics.fmean(math.log(ratio(w, nearest(w, m))) for w in PROBES)) for m in CANDIDATES
    }
    best = min(ratios.values())
    helpful = [m for m, r in ratios.items() if r <= GAIN and r <= best + 0.02]
    return {"ratios": ratios, "preferred": min(helpful) if helpful else 1}


def _key(device: torch.device) -> str:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_model()
    return f"{device.type}: {name}, {torch.get_num_threads()} threads, torch {torch.__version__}"


def cache_path() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "prunekit" / "alignment.json"


def preferred_multiple(device: torch.device) -> int:
    """The multiple ``--round-to auto`` rounds to on ``device``: measured once, then read from the cache."""
    path, key = cache_path(), _key(device)
    try:
        known = read_json(path, "alignment cache") if path.is_file() else {}
    except PrunekitError:  # a damaged cache is measured anew
        known = {}
    known = known if isinstance(known, dict) else {}
    if not isinstance(known.get(key), dict) or known[key].get("preferred") not in (1, *CANDIDATES):
        # the random layers and inputs it times must not move the run's own random stream
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            known[key] = measure(device)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_json(path, known)
        except (OSError, PrunekitError):  # a read-only home: measured again next time
            pass
    return int(known[key]["preferred"])
