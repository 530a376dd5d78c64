"""Where and how computation runs: the device a run asks for, and process-wide CPU settings."""

from __future__ import annotations

import ctypes
import ctypes.util
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
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name not in ("cpu", "cuda") and not name.startswith("cuda:"):
        raise BadInput(f"--device must be auto, cpu or cuda[:N], got {name!r}")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise BadInput("--device cuda asked for, but no CUDA device is available")
    return torch.device(name)
