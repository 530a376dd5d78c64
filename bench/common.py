"""Shared helpers for the benchmarks: the machine's CPU model and its own matrix-multiply rate."""

from __future__ import annotations

import argparse
import copy
import platform
import statistics
import time
from pathlib import Path

import torch

from prunekit.files import write_json
from prunekit.runtime import cpu_flags, cpu_model, keep_large_allocations

keep_large_allocations()


def machine() -> dict:
    """What a benchmark's raw JSON names its machine by: CPU model and instruction sets, threads, torch,
    Python and the date."""
    flags = cpu_flags()
    isa = [name for name, flag in (("AVX2", "avx2"), ("AVX-512", "avx512f"), ("AVX-512 BF16", "avx512_bf16"),
                                   ("AMX", "amx_tile")) if flag in flags]  # fmt: skip
    return {
        "cpu": cpu_model(),
        "instruction_sets": isa,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d"),
    }


def add_out(ap: argparse.ArgumentParser, name: str) -> None:
    """``--out``: where the benchmark's raw output goes (``bench/results/NAME.json`` unless told)."""
    ap.add_argument("--out", type=Path, default=Path(f"bench/results/{name}.json"), help="raw output (JSON)")


def save(out: Path, settings: dict, **figures) -> None:
    """A benchmark's raw output beside the machine it was measured on, written whole or not at all, so a
    table made from it can be recomputed."""
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in settings.items()}
    write_json(out, {"machine": machine(), "settings": settings, **figures})
    print(f"raw output: {out}")


def device_name(device: torch.device) -> str:
    return (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"{cpu_model()}, {torch.get_num_threads()} threads"
    )


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_time(fn, repeats: int = 5, warmup: int = 2, device: torch.device = torch.device("cpu")) -> float:
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def gemm_rate(
    m: int = 16384,
    k: int = 256,
    n: int = 256,
    device: torch.device = torch.device("cpu"),
    dtype: torch.dtype = torch.float32,
) -> float:
    """FLOP/s of this machine's own matmul at the shape of one NeRF layer on a batch of points."""
    a = torch.randn(m, k, device=device, dtype=dtype)
    b = torch.randn(k, n, device=device, dtype=dtype)
    return 2 * m * k * n / median_time(lambda: a @ b, repeats=10, device=device)


def interleaved_step_seconds(runs: dict, steps: int, rounds: int = 3) -> dict[str, list[float]]:
    """Seconds per training step of each ``label: (task, models)``, one timed block of ``steps`` steps
    (after the trainer's warm-up) per label and round, the labels alternating so that a change in the
    machine's load falls on all alike. Each block trains a copy, so every round starts from the same
    weights."""
    from prunekit.training import WARMUP_STEPS

    seconds = {label: [] for label in runs}
    for _ in range(rounds):
        for label, (task, models) in runs.items():
            trial = {n: copy.deepcopy(m) for n, m in models.items()}
            stats = task.train(trial, steps + WARMUP_STEPS, None, False, f"timing {label}")
            seconds[label].append(stats.seconds_per_iter)
    return seconds
