"""Seconds to render a batch of rays, by rays per forward pass (``RenderConfig.chunk``), and the field's
rate beside the machine's own matrix multiply: the evidence for ``rays_per_pass``'s default.

python bench/render_chunk.py [--device auto] [--rays 8192] [--samples 24,48] [--width 256] [--out FILE.json]

A layer's activations are rays × samples × 256 floats: 8192 rays × 72 samples is 600 MB, far beyond any
cache, so every layer streams its input from memory; a few hundred rays stay in cache. Random-weight
fields (the cost does not depend on the weights).
"""

from __future__ import annotations

import argparse

import torch
from common import add_out, device_name, gemm_rate, median_time, save
from prunekit_nerf.field import NeRFField
from prunekit_nerf.render import RenderConfig, render_image, two_stage

from prunekit.runtime import resolve_device


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="auto")
    ap.add_argument("--rays", type=int, default=8192)
    ap.add_argument("--samples", default="24,24", help="coarse,fine samples per ray (the study preset's)")
    ap.add_argument("--width", type=int, default=256, help="the fields' width (64: a 64-wide cut's shape)")
    ap.add_argument("--repeats", type=int, default=3)
    add_out(ap, "render_chunk")
    args = ap.parse_args()
    device = resolve_device(args.device)
    coarse, fine = (int(v) for v in args.samples.split(","))
    torch.manual_seed(0)
    models = {n: NeRFField(width=args.width).to(device).eval() for n in ("coarse", "fine")}
    origins = torch.zeros(args.rays, 3, device=device)
    dirs = torch.nn.functional.normalize(torch.randn(args.rays, 3, device=device), dim=-1)
    weights = sum(p.numel() for p in models["coarse"].parameters() if p.dim() == 2)
    flops = 2 * weights * args.rays * (coarse + (coarse + fine))  # coarse at its samples, fine at all of them
    gemm = gemm_rate(device=device)
    print(
        f"device: {device_name(device)}; {args.rays} rays, {coarse} + {fine} samples; matmul {gemm / 1e9:.1f} GFLOP/s"
    )
    print("| rays per pass | s / batch | ÷ largest pass | field GFLOP/s | ÷ matmul rate |\n|---|---|---|---|---|")
    chunks = [c for c in (args.rays, 4096, 1024, 256, 64) if c <= args.rays]
    base = None
    rows = []
    for chunk in chunks:
        cfg = RenderConfig(two_stage(coarse, fine), chunk=chunk)
        sec = median_time(lambda cfg=cfg: render_image(models, origins, dirs, 2.0, 6.0, cfg), args.repeats, 1, device)
        base = base or sec
        rate = flops / sec
        rows.append({"rays_per_pass": chunk, "seconds": sec, "field_flops": rate})
        print(f"| {chunk} | {sec:.3f} | {sec / base:.2f} | {rate / 1e9:.1f} | {rate / gemm:.2f} |")
    settings = {"device": str(device), "rays": args.rays, "samples": [coarse, fine], "width": args.width,
                "repeats": args.repeats}  # fmt: skip
    save(args.out, settings, gemm_flops=gemm, passes=rows)


if __name__ == "__main__":
    main()
