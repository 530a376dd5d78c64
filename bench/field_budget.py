"""The vanilla NeRF MLP against the hash-grid field at an equal wall-clock budget on this machine.

For each seed, both fields' training steps are first timed in alternating blocks (so a change in the
machine's load falls on both), each field is then given the iterations that fill ``--seconds`` at its
own step time, trained dense with the ``study`` preset's rays, samples and schedule, and scored on the
preset's spread test views. Prints and writes a Markdown table: iterations, seconds actually spent,
PSNR per seed, and the paired Δ (hash grid − vanilla) with its 95 % CI.

    python bench/field_budget.py --data ../shared/data/nerf_synthetic/lego_official_100 --seconds 240 \
        --seeds 0,1,2 --out docs/results/hashgrid/field_budget.md
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from common import device_name, interleaved_step_seconds
from prunekit_nerf.task import NerfTask

from prunekit.files import write_text
from prunekit.study import paired_ci
from prunekit.target import RunOptions

FIELDS = ("vanilla", "hashgrid")


def task_for(field: str, args, seed: int, iters: int = 1) -> NerfTask:
    options = RunOptions(
        data=args.data, preset="study", iters=iters, seed=seed, device=args.device,
        target_options={"field": field, **({"factor": args.factor} if args.factor else {})},
    )  # fmt: skip
    return NerfTask(options)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--seconds", type=float, default=240.0, help="training budget per field and seed")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--factor", type=int, default=0, help="LLFF: images_N (0: the target's default)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--out", type=Path, default=None, help="also write the table to this Markdown file")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    rows, psnr = [], {f: [] for f in FIELDS}
    timing_tasks = {f: task_for(f, args, seeds[0]) for f in FIELDS}
    device = timing_tasks["vanilla"].device
    runs = {f: (task, task.build(0)) for f, task in timing_tasks.items()}
    per_step = {f: statistics.fmean(s) for f, s in interleaved_step_seconds(runs, steps=10).items()}
    for seed in seeds:
        for field in FIELDS:
            iters = max(1, round(args.seconds / per_step[field]))
            task = task_for(field, args, seed, iters)
            models = task.build(seed)
            t0 = time.perf_counter()
            task.train(models, iters, None, False, f"{field} seed {seed}")
            spent = time.perf_counter() - t0
            p = task.evaluate(models).metrics["psnr"]
            psnr[field].append(p)
            rows.append(f"| {seed} | {field} | {iters:,} | {spent:.0f} | {p:.2f} |")
    delta = [h - v for h, v in zip(psnr["hashgrid"], psnr["vanilla"])]
    ci = paired_ci(delta)
    lines = [
        f"Equal wall-clock budget: {args.seconds:.0f} s of training per field and seed on {device_name(device)}; "
        f"`study` preset (256 rays, 24 + 24 samples), {args.data.name}, spread test views.",
        f"Step time, timed interleaved: vanilla {per_step['vanilla']:.3f} s, hash grid {per_step['hashgrid']:.3f} s "
        f"({per_step['hashgrid'] / per_step['vanilla']:.2f}×).",
        "",
        "| seed | field | iterations | seconds | PSNR (dB) |",
        "|---|---|---|---|---|",
        *rows,
        "",
        f"Hash grid − vanilla, paired by seed: **{ci.text()} dB** (95 % paired-t CI, {len(seeds)} seeds; "
        "* excludes 0).",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out is not None:
        write_text(args.out, text)


if __name__ == "__main__":
    main()
