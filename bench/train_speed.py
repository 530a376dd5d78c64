"""Seconds per NeRF training iteration, dense vs pruned, against this machine's own matmul rate.

Configuration of the reference comparison: 256 rays per batch, 32 coarse + 32 fine samples (the fine
net evaluates 64 per ray), the vanilla 256-wide MLPs, on the built-in scene (the step time does not
depend on the images). Prints s/iter per width, pruned ÷ dense, achieved FLOP rate ÷ GEMM rate,
bf16 autocast ÷ fp32 and torch.compile on ÷ off, all measured in this one run.

    python bench/train_speed.py [--steps 6] [--samples 32,32] [--no-compile] [--device auto] [--out FILE.json]

``--samples 24,24`` is the lego study's (``study`` preset) configuration. The raw seconds go to ``--out``
(JSON), with the machine they were measured on.
"""

from __future__ import annotations

import argparse
import copy

import torch
from common import add_out, device_name, gemm_rate, save
from prunekit_nerf.render import RenderConfig, two_stage
from prunekit_nerf.task import NerfTask
from prunekit_nerf.train import bf16_supported

import prunekit
from prunekit.runtime import resolve_device
from prunekit.target import RunOptions


def flops_per_iter(models, rays: int, coarse: int, fine: int) -> float:
    """Multiply-adds ×2 of the linear layers, ×3 for forward + backward."""

    def macs(m):
        return sum(x.in_features * x.out_features for x in m.modules() if isinstance(x, torch.nn.Linear))

    return 6 * rays * (coarse * macs(models["coarse"]) + (coarse + fine) * macs(models["fine"]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--samples", default="32,32", help="coarse,fine samples per ray")
    ap.add_argument("--no-compile", action="store_true")
    add_out(ap, "train_speed")
    args = ap.parse_args()
    coarse, fine = (int(v) for v in args.samples.split(","))
    device = resolve_device(args.device)
    task = NerfTask(RunOptions(preset="study", device=str(device)))
    task.precrop = 0  # time the whole images' rays, as after the warm-up
    task.render = RenderConfig(two_stage(coarse, fine), True)
    dense = task.build(0)
    inputs = task.example_inputs("coarse")
    variants = {"dense 256": dense}
    for label, kw in (
        ("keep 0.483", {"keep": 0.483}),  # the study's "288K" budget: widths 175 / 88
        ("keep 0.483 ×16", {"keep": 0.483, "round_to": 16}),  # the same budget at widths 176 / 80
        ("keep 0.483 auto", {"keep": 0.483, "round_to": "auto"}),  # what prunekit run does by default
        ("width 128", {"width": 128}),
        ("width 64", {"width": 64}),
    ):
        variants[label] = {n: prunekit.prune(m, inputs, selector="topk", **kw) for n, m in dense.items()}

    def step_time(models, autocast=False):
        task.autocast = autocast
        trial = {n: copy.deepcopy(m) for n, m in models.items()}
        return task.train(trial, args.steps + 3, None, False, "bench").seconds_per_iter

    gemm = gemm_rate(device=device)
    print(f"device: {device_name(device)}; 256 rays, {coarse} coarse + {fine} fine samples per ray")
    print(f"GEMM 16384x256x256 fp32: {gemm / 1e9:.1f} GFLOP/s")
    base = None
    rows = {}
    for label, models in variants.items():
        sec = step_time(models)
        base = base or sec
        params = sum(prunekit.count_params(m) for m in models.values())
        rate = flops_per_iter(models, 256, coarse, fine) / sec
        widths = {n: [layer.out_features for layer in m.modules() if isinstance(layer, torch.nn.Linear)]
                  for n, m in models.items()}  # fmt: skip
        rows[label] = {"params": params, "seconds_per_iter": sec, "ratio": sec / base,
                       "flop_rate_over_gemm": rate / gemm, "widths": widths}  # fmt: skip
        print(
            f"{label:>14}: {params:>9,} params  {sec:.4f} s/iter  pruned/dense {sec / base:.3f}  "
            f"FLOP rate / GEMM rate {rate / gemm:.2f}  min / 100k iterations {sec * 1e5 / 60:.0f}"
        )
    extra = {}
    if bf16_supported(device):
        extra["bf16_over_fp32_dense"] = step_time(dense, autocast=True) / base
        print(f"bf16 autocast / fp32 (dense): {extra['bf16_over_fp32_dense']:.3f}")
    else:
        print("bf16 autocast: not supported on this device")
    if not args.no_compile:
        compiled = {n: torch.compile(m) for n, m in dense.items()}
        extra["compile_over_eager_dense"] = step_time(compiled) / base
        print(f"torch.compile on / off (dense, compile time excluded): {extra['compile_over_eager_dense']:.3f}")
    settings = {"steps": args.steps, "samples": [coarse, fine], "rays": 256, "device": str(device)}
    save(args.out, settings, gemm_flops=gemm, models=rows, **extra)


if __name__ == "__main__":
    main()
