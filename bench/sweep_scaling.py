"""Wall time of one small sweep with the local executor and with Ray (1 and 2 workers) on this machine.

Each run is the real `prunekit sweep` command in a fresh folder: 2 seeds × (uniform, w_out top-k) at
width 64, smoke preset with longer training, so there is work to spread. Prints seconds and ratios to
the local executor, measured in one run.

    python bench/sweep_scaling.py [--iters 150] [--retrain-iters 100] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import add_out, cpu_model, save


def sweep(out: Path, iters: int, retrain: int, *extra: str) -> float:
    exe = shutil.which("prunekit") or str(Path(sys.executable).parent / "prunekit")
    cmd = [exe, "sweep", "nerf", "--scorers", "w_out", "--selectors", "topk", "--widths", "64", "--seeds", "0,1"]
    cmd += ["--preset", "smoke", "--iters", str(iters), "--retrain-iters", str(retrain), "--out", str(out), *extra]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=dict(os.environ, PRUNEKIT_PROGRESS="0"), capture_output=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--iters", type=int, default=150)
    ap.add_argument("--retrain-iters", type=int, default=100)
    add_out(ap, "sweep_scaling")
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    print(f"# {cpu_model()}, {cores} cores; 2 seeds x 2 cells, smoke preset, {args.iters} + {args.retrain_iters} it.")
    with tempfile.TemporaryDirectory() as tmp:
        runs = {
            "local (1 process, all cores)": (),
            "ray, 1 worker (all cores per task)": ("--executor", "ray", "--cpus-per-cell", str(cores)),
            "ray, 2 workers (half the cores each)": ("--executor", "ray", "--cpus-per-cell", str(max(1, cores // 2))),
        }
        seconds = {name: sweep(Path(tmp) / str(i), args.iters, args.retrain_iters, *extra) for i, (name, extra) in
                   enumerate(runs.items())}  # fmt: skip
    base = seconds["local (1 process, all cores)"]
    print("| executor | wall s | ÷ local |\n|---|---|---|")
    for name, sec in seconds.items():
        print(f"| {name} | {sec:.1f} | {sec / base:.2f} |")
    save(args.out, {"iters": args.iters, "retrain_iters": args.retrain_iters, "cores": cores}, wall_seconds=seconds)


if __name__ == "__main__":
    main()
