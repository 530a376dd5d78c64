"""What pruning the hash-grid field's MLPs buys in parameters, training step and rendering time.

The hash-grid field (coarse + fine, ``-O field=hashgrid``) with the ``study`` preset's rays and samples on
the built-in scene, dense and with its MLPs pruned to half (width 32) and a quarter (width 16) of their
neurons by w_out top-k (timings do not depend on which neurons are kept). Training steps are timed in
alternating blocks (dense, half, quarter, dense, …) so that a change in the machine's load falls on all
alike; one test view of the built-in scene (48×48, 24 + 24 samples per ray) is rendered by each. Prints
the parameters split into hash tables and MLPs, and every time ÷ the dense model's.

    python bench/hashgrid_speed.py [--steps 10] [--rounds 3] [--device auto] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import statistics
import time

from common import add_out, device_name, interleaved_step_seconds, save, sync
from prunekit_nerf.task import NerfTask

import prunekit
from prunekit.target import RunOptions


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=10, help="timed steps per block")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--device", default="auto")
    add_out(ap, "hashgrid_speed")
    args = ap.parse_args()
    task = NerfTask(RunOptions(preset="study", device=args.device, target_options={"field": "hashgrid"}))
    task.precrop = 0  # whole images' rays, as after the warm-up
    dense = task.build(0)
    variants = {"dense (64)": dense}
    for label, width in (("half (32)", 32), ("quarter (16)", 16)):
        variants[label] = {
            n: prunekit.prune(m, task.example_inputs(n), scorer="w_out", selector="topk", width=width)
            for n, m in dense.items()
        }
    runs = {label: (task, models) for label, models in variants.items()}
    seconds = interleaved_step_seconds(runs, args.steps, args.rounds)
    pose, intr = task.test.poses[0], task.test.intrinsics[0]
    h, w = task.test.hw
    print(f"device: {device_name(task.device)}; 256 rays, 24 + 24 samples; render: one {h}x{w} view")
    print("| model | hash tables | MLPs | step s | step ÷ dense | render s | render ÷ dense |")
    print("|---|---|---|---|---|---|---|")
    base_step = base_render = None
    rows = {}
    for label, models in variants.items():
        tables = sum(m.table.weight.numel() for m in models.values())
        mlps = sum(prunekit.count_params(m) for m in models.values()) - tables
        step = statistics.median(seconds[label])
        task.render_view(models, pose, intr, h, w)  # warm-up
        sync(task.device)
        t0 = time.perf_counter()
        task.render_view(models, pose, intr, h, w)
        sync(task.device)
        render = time.perf_counter() - t0
        base_step, base_render = base_step or step, base_render or render
        rows[label] = {"hash_tables": tables, "mlps": mlps, "step_seconds": seconds[label], "render_seconds": render}
        print(
            f"| {label} | {tables:,} | {mlps:,} | {step:.4f} | {step / base_step:.3f} | {render:.2f} | "
            f"{render / base_render:.3f} |"
        )
    settings = {"steps": args.steps, "rounds": args.rounds, "device": str(task.device), "rays": 256,
                "samples": [24, 24], "view": [w, h]}  # fmt: skip
    save(args.out, settings, models=rows)


if __name__ == "__main__":
    main()
