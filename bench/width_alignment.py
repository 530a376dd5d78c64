"""Time per weight of a linear layer's forward + backward as its width varies around the study's budget.

Pruning to an arbitrary width (175 at the study's "288K" budget) can land on shapes the matrix kernels
handle badly; this prints each width's time per weight relative to the dense 256-wide layer, measured
in this one run, which is what ``--round-to`` is for.

    python bench/width_alignment.py [--points 16384] [--device auto] [--out bench/results/width_alignment.json]

The raw seconds go to ``--out`` as JSON, with the machine they were measured on.
"""

from __future__ import annotations

import argparse

import torch
from common import add_out, device_name, median_time, save
from torch import nn

from prunekit.runtime import resolve_device


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=16384)
    ap.add_argument("--device", default="auto")
    add_out(ap, "width_alignment")
    args = ap.parse_args()
    device = resolve_device(args.device)

    def per_weight(width: int) -> float:
        layer = nn.Linear(width, width, device=device)
        x = torch.randn(args.points, width, device=device, requires_grad=True)
        return median_time(lambda: layer(x).relu().sum().backward(), 5, 2, device) / width**2

    print(f"device: {device_name(device)}; {args.points} points, Linear(w, w) + ReLU forward and backward")
    seconds = {width: per_weight(width) for width in (256, 160, 168, 172, 175, 176, 177, 180, 181, 184, 188, 192,
                                                      128, 127, 120, 96, 88, 80)}  # fmt: skip
    for width, sec in seconds.items():
        print(f"width {width:>3}: time per weight ÷ width 256's {sec / seconds[256]:.3f}")
    save(args.out, {"points": args.points, "device": str(device)}, seconds_per_weight=seconds,
         relative_to_256={w: s / seconds[256] for w, s in seconds.items()})  # fmt: skip


if __name__ == "__main__":
    main()
