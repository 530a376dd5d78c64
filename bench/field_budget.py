"""The vanilla NeRF MLP against the hash-grid field at an equal wall-clock budget on this machine.

Both fields' training steps are first timed in alternating blocks (so a change in the machine's load
falls on both); each field is then given, for every seed, the iterations that fill ``--seconds`` at its
own step time, trained dense with the ``study`` preset's rays, samples and schedule, and scored on the
preset's spread test views. Resumable in pieces: ``--out`` holds ``timing.json`` (measured once, reused
by later invocations so every seed gets the same iteration counts) and one ``seed{S}-{field}.json`` per
finished run; each invocation runs what is missing for its ``--seeds`` and rewrites ``field_budget.md``
from every result in the folder: iterations, seconds actually spent, PSNR per seed, and the paired
Δ (hash grid − vanilla) with its 95 % CI.

    python bench/field_budget.py --data ../shared/data/nerf_synthetic/lego_official_100 --seconds 240 \
        --seeds 0,1,2 --out runs/field_budget/lego
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from common import device_name, interleaved_step_seconds
from prunekit_nerf.task import NerfTask

from prunekit.files import write_json, write_text
from prunekit.study import paired_ci
from prunekit.target import RunOptions

FIELDS = ("vanilla", "hashgrid")


def task_for(field: str, args, seed: int, iters: int = 1) -> NerfTask:
    options = RunOptions(
        data=args.data, preset="study", iters=iters, seed=seed, device=args.device,
        target_options={"field": field, **({"factor": args.factor} if args.factor else {})},
    )  # fmt: skip
    return NerfTask(options)


def step_times(args) -> dict:
    """Seconds per step of each field, timed interleaved once and kept in ``timing.json``."""
    path = args.out / "timing.json"
    if path.exists():
        timing = json.loads(path.read_text())
        if timing["data"] != str(args.data) or timing["seconds"] != args.seconds:
            raise SystemExit(f"{path} was made for other --data/--seconds; choose another --out")
        return timing
    tasks = {f: task_for(f, args, 0) for f in FIELDS}
    runs = {f: (task, task.build(0)) for f, task in tasks.items()}
    per_step = {f: statistics.fmean(s) for f, s in interleaved_step_seconds(runs, steps=10).items()}
    timing = {
        "data": str(args.data), "seconds": args.seconds, "machine": device_name(tasks["vanilla"].device),
        "step_seconds": per_step, "iters": {f: max(1, round(args.seconds / t)) for f, t in per_step.items()},
    }  # fmt: skip
    write_json(path, timing)
    return timing


def run_one(args, field: str, seed: int, iters: int) -> dict:
    task = task_for(field, args, seed, iters)
    models = task.build(seed)
    t0 = time.perf_counter()
    task.train(models, iters, None, False, f"{field} seed {seed}")
    spent = time.perf_counter() - t0
    return {"seed": seed, "field": field, "iters": iters, "seconds": spent, **task.evaluate(models).metrics}


def report(args, timing: dict) -> str:
    results = [json.loads(p.read_text()) for p in sorted(args.out.glob("seed*-*.json"))]
    by = {(r["seed"], r["field"]): r for r in results}
    seeds = sorted({r["seed"] for r in results})
    rows = [
        f"| {r['seed']} | {r['field']} | {r['iters']:,} | {r['seconds']:.0f} | {r['psnr']:.2f} |"
        for r in sorted(results, key=lambda r: (r["seed"], FIELDS.index(r["field"])))
    ]
    paired = [s for s in seeds if all((s, f) in by for f in FIELDS)]
    delta = [by[s, "hashgrid"]["psnr"] - by[s, "vanilla"]["psnr"] for s in paired]
    step = timing["step_seconds"]
    lines = [
        f"Equal wall-clock budget: {args.seconds:.0f} s of training per field and seed on {timing['machine']}; "
        f"`study` preset (256 rays, 24 + 24 samples), {args.data.name}, the preset's test views.",
        f"Step time, timed interleaved: vanilla {step['vanilla']:.3f} s, hash grid {step['hashgrid']:.3f} s "
        f"({step['hashgrid'] / step['vanilla']:.2f}×).",
        "",
        "| seed | field | iterations | seconds | PSNR (dB) |",
        "|---|---|---|---|---|",
        *rows,
        "",
    ]
    if len(delta) >= 2:
        lines.append(
            f"Hash grid − vanilla, paired by seed: **{paired_ci(delta).text()} dB** (95 % paired-t CI, "
            f"{len(delta)} seeds; * excludes 0)."
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--seconds", type=float, default=240.0, help="training budget per field and seed")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--factor", type=int, default=0, help="LLFF: images_N (0: the target's default)")
    ap.add_argument("--fields", default=",".join(FIELDS), help="which fields to run (to split one seed over two cores)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--out", type=Path, required=True, help="folder for timing, per-run results and field_budget.md")
    args = ap.parse_args()
    if unknown := set(args.fields.split(",")) - set(FIELDS):
        ap.error(f"--fields: unknown {', '.join(sorted(unknown))} (choose from {', '.join(FIELDS)})")
    args.out.mkdir(parents=True, exist_ok=True)
    timing = step_times(args)
    for seed in (int(s) for s in args.seeds.split(",")):
        for field in args.fields.split(","):
            path = args.out / f"seed{seed}-{field}.json"
            if not path.exists():
                write_json(path, run_one(args, field, seed, timing["iters"][field]))
    text = report(args, timing)
    print(text)
    write_text(args.out / "field_budget.md", text)


if __name__ == "__main__":
    main()
