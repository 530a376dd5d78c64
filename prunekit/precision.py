"""``--precision auto``: bf16 autocast where this device runs it clearly faster than fp32, else fp32.

Instruction sets alone do not settle it: on one Intel Xeon with AVX-512 BF16 (no AMX) bf16 autocast ran
a training step 1.6x *slower* than fp32, on an AMD EPYC with the same instruction set about 2x faster, and
with AMX 2.5x faster. So a device that computes bf16 natively (a CUDA GPU that supports it, a CPU with
AVX-512 BF16 or AMX) is measured: a linear layer's forward and backward under bf16 autocast against
fp32, in alternating pairs; bf16 is picked if it takes at most ``GAIN`` of the fp32 time. Elsewhere
(AVX2) bf16 is emulated and slow, and nothing is measured. The answer is remembered per device
(:mod:`prunekit.measured`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from prunekit.errors import BadInput
from prunekit.measured import interleaved_ratio, remembered
from prunekit.runtime import cpu_flags, resolve_device

PRECISIONS = ("fp32", "bf16", "auto")
GAIN = 0.8  # bf16 rounds every product: worth it only for a clear gain (1.25x or more)


def bf16_native(device: torch.device, flags: set[str] | None = None) -> bool:
    """Whether ``device`` computes bf16 in hardware. ``flags`` stands in for the CPU's own (tests)."""
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    return bool({"avx512_bf16", "amx_bf16"} & (cpu_flags() if flags is None else flags))


def measure(device: torch.device, timer: Callable[[str, torch.device], float] | None = None) -> dict:
    """bf16 autocast ÷ fp32 seconds of a 256-wide linear layer's forward and backward on 16,384 rows (the
    shape of a wide layer on a large batch), and the precision preferred. ``timer(precision, device)``
    stands in for the interleaved measurement (tests)."""
    if timer is not None:
        ratio = timer("bf16", device) / timer("fp32", device)
    else:
        layer = torch.nn.Linear(256, 256, device=device)
        x = torch.randn(16384, 256, device=device, requires_grad=True)

        def fp32() -> None:
            layer(x).relu().sum().backward()

        def bf16() -> None:
            with torch.autocast(device.type, dtype=torch.bfloat16):
                out = layer(x).relu().sum()
            out.backward()

        ratio = interleaved_ratio(fp32, bf16, device)
    return {"bf16_over_fp32": ratio, "preferred": "bf16" if ratio <= GAIN else "fp32"}


def preferred_precision(device: torch.device, flags: set[str] | None = None) -> str:
    """What ``--precision auto`` runs on ``device``: fp32 without native bf16, else measured once."""
    if not bf16_native(device, flags):
        return "fp32"
    found = remembered(device, "precision", lambda: measure(device), lambda r: r.get("preferred") in ("fp32", "bf16"))
    return str(found["preferred"])


def resolve_precision(name: str, device: str, flags: set[str] | None = None) -> str:
    """``--precision`` as a run records it: fp32 or bf16, ``auto`` resolved for the device."""
    if name not in PRECISIONS:
        raise BadInput(f"--precision must be one of {', '.join(PRECISIONS)}, got {name!r}")
    return preferred_precision(resolve_device(device), flags) if name == "auto" else name
