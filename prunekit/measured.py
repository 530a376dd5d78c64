"""What the ``auto`` settings need to know about a device, measured once and remembered.

``--round-to auto`` (:mod:`prunekit.alignment`) and ``--precision auto`` (:mod:`prunekit.precision`) time
small kernels on a device the first time they meet it. The answers are kept per device, thread count and
torch version in ``$XDG_CACHE_HOME/prunekit/measured.json`` (default ``~/.cache``), so a resumed run, or
the next one, picks alike without measuring again.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

from prunekit.errors import PrunekitError
from prunekit.files import read_json, write_json
from prunekit.runtime import cpu_model


def key(device: torch.device) -> str:
    """The cache's name for ``device`` as this process runs it."""
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_model()
    return f"{device.type}: {name}, {torch.get_num_threads()} threads, torch {torch.__version__}"


def cache_path() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "prunekit" / "measured.json"


def remembered(device: torch.device, name: str, measure: Callable[[], dict], valid: Callable[[dict], bool]) -> dict:
    """The record ``name`` for ``device``: read from the cache if ``valid`` accepts it, else ``measure()``d
    and stored. A damaged cache is measured anew; a read-only one only means measuring again next time."""
    path, k = cache_path(), key(device)
    try:
        known = read_json(path, "measurement cache") if path.is_file() else {}
    except PrunekitError:
        known = {}
    known = known if isinstance(known, dict) else {}
    entry = known.get(k) if isinstance(known.get(k), dict) else {}
    record = entry.get(name)
    if isinstance(record, dict) and valid(record):
        return record
    # the random layers and inputs it times must not move the run's own random stream
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        record = measure()
    known[k] = {**entry, name: record}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, known)
    except (OSError, PrunekitError):
        pass
    return record


def interleaved_ratio(a: Callable[[], object], b: Callable[[], object], device: torch.device, rounds: int = 9) -> float:
    """Seconds of ``b()`` ÷ seconds of ``a()``, timed in alternating pairs (a, b, a, b, …) after one
    warm-up each, the median of the pairs' ratios: a change in the machine's load during the measurement
    falls on both alike."""

    def seconds(fn: Callable[[], object]) -> float:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - t0

    seconds(a), seconds(b)
    return statistics.median(seconds(b) / seconds(a) for _ in range(rounds))
