"""Where and how computation runs: the device a run asks for, and process-wide CPU settings."""

from __future__ import annotations

import ctypes
import ctypes.util
import platform
import sys

import torch

from prunekit.errors import BadInput


def keep_large_allocations() -> bool:
    """Ask glibc to serve allocations up to 32 MB from its heap and not hand them back to the system.

    Every training step allocates and frees activations of tens of MB; by default glibc maps and unmaps
    each one, and the page faults of touching fresh pages cost ~10 % of a NeRF step on 2 cores
    (measured in bench/train_speed.py). Returns False where this is not glibc.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3
        return bool(libc.mallopt(m_mmap_threshold, 32 << 20) and libc.mallopt(m_trim_threshold, 1 << 30))
    except (OSError, AttributeError):
        return False


def resolve_device(name: str) -> torch.device:
    if name == "auto":  # under torchrun, each process takes the GPU of its LOCAL_RANK (set at init)
        return torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else torch.device("cpu")
    if name not in ("cpu", "cuda") and not name.startswith("cuda:"):
        raise BadInput(f"--device must be auto, cpu or cuda[:N], got {name!r}")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise BadInput("--device cuda asked for, but no CUDA device is available")
    return torch.device(name)


def cpu_model() -> str:
    """This machine's CPU model as the system names it (Linux), else the architecture."""
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> set[str]:
    """The instruction-set flags of this machine's CPU (Linux; empty elsewhere)."""
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


# --- several processes (torchrun) -------------------------------------------------------------------
def world() -> tuple[int, int]:
    """(rank, number of processes) of a torch.distributed run, or (0, 1)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main() -> bool:
    """True in the process that writes files and reports (rank 0, or the only one)."""
    return world()[0] == 0


def share(batch: int) -> slice:
    """This process's rows of a global batch: contiguous, equal shares (``batch`` must divide evenly)."""
    rank, size = world()
    if batch % size:
        raise BadInput(f"a batch of {batch} does not split evenly across {size} processes")
    step = batch // size
    return slice(rank * step, (rank + 1) * step)


def init_distributed() -> None:
    """Join the process group when started by torchrun (WORLD_SIZE > 1): gloo on CPU, nccl on CUDA, one
    GPU per process (LOCAL_RANK)."""
    import os

    import torch.distributed as dist

    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")


def leave_distributed() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def average_gradients(params: list[torch.nn.Parameter]) -> None:
    """Average every gradient across processes: what DistributedDataParallel does, for models that a
    target calls directly (no wrapper), so N processes × B/N rays take the step one process × B takes."""
    import torch.distributed as dist

    size = world()[1]
    if size == 1:
        return
    grads = [p.grad for p in params if p.grad is not None]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= size
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()


def mean_over_processes(value: float) -> float:
    """The mean of ``value`` over every process (the loss of the whole batch, from each share's)."""
    import torch.distributed as dist

    size = world()[1]
    if size == 1:
        return value
    t = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(t)
    return float(t) / size


def barrier() -> None:
    import torch.distributed as dist

    if world()[1] > 1:
        dist.barrier()
