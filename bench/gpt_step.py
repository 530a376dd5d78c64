"""Seconds per training step and per generated batch of the gpt target's demo model, dense against its
feed-forward pruned to 0.75, 0.5 and 0.25 of its width, interleaved in one run; raw seconds to JSON.

    python bench/gpt_step.py [--steps 40] [--rounds 5] [--round-to 1] [--out bench/results/gpt_step.json]

The model is nanoGPT's CPU configuration (4 layers, 4 heads, 128 wide, context 64, batch 12); weights
do not change the step time, so the models are freshly initialised and cut by w_out top-k. Run it on a
quiet machine: the ratio is the median over rounds of pruned ÷ dense within each round.
"""

from __future__ import annotations

import argparse
import statistics
import time

from common import add_out, interleaved_step_seconds, save

import prunekit
from prunekit import plugins
from prunekit.target import RunOptions


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--round-to", type=int, default=1)
    add_out(ap, "gpt_step")
    args = ap.parse_args()
    task = plugins.get_target("gpt").setup(RunOptions(preset="demo"))
    dense = task.build(0)
    runs = {"dense": (task, dense)}
    for keep in (0.75, 0.5, 0.25):
        width = round(512 * keep)
        pruned = prunekit.prune(
            dense["gpt"], task.example_inputs("gpt"), scorer="w_out", selector="topk", width=width,
            round_to=args.round_to, prunable=task.prunable("gpt"),
        )  # fmt: skip
        runs[f"ffn {keep:g}"] = (task, {"gpt": pruned})
    steps = interleaved_step_seconds(runs, args.steps, args.rounds)
    generate = {label: [] for label in runs}
    for _ in range(args.rounds):
        for label, (_, models) in runs.items():
            t0 = time.perf_counter()
            task.infer(models)
            generate[label].append(time.perf_counter() - t0)
    result = {
        "params": {label: prunekit.count_params(m["gpt"]) for label, (_, m) in runs.items()},
        "step_seconds": steps,
        "generate_seconds": generate,
        "step_ratio": {k: statistics.median(p / d for p, d in zip(v, steps["dense"])) for k, v in steps.items()},
        "generate_ratio": {
            k: statistics.median(p / d for p, d in zip(v, generate["dense"])) for k, v in generate.items()
        },
    }  # fmt: skip
    save(args.out, vars(args) | {"out": str(args.out)}, **result)
    for label in runs:
        print(f"{label:9s} step ÷ dense {result['step_ratio'][label]:.3f}  generate ÷ dense "
              f"{result['generate_ratio'][label]:.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
