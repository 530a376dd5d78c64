"""Process-wide settings that make CPU training faster."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys


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
