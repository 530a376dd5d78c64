"""Seconds per rendered test image, dense vs pruned: the inference speed-up the paper only claims.

python bench/render_speed.py [--data PATH] [--device auto]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from common import device_name, median_time
from prunekit_nerf.rays import camera_rays
from prunekit_nerf.render import RenderConfig, render_image
from prunekit_nerf.train import NerfTask

import prunekit
from prunekit.runtime import resolve_device
from prunekit.target import RunOptions


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    device = resolve_device(args.device)
    task = NerfTask(RunOptions(preset="demo", data=args.data, device=str(device)))
    cfg = RenderConfig(64, 128, task.scene.white_background)  # the paper's sampling
    h, w = task.test.hw
    o, d = camera_rays(h, w, task.test.intrinsics[0], task.test.poses[0])
    o, d = o.to(device), d.to(device)
    dense = task.build(0)
    inputs = task.example_inputs("coarse")
    print(f"device: {device_name(device)}; image {w}x{h}, 64 coarse + 128 fine samples per ray")
    base = None
    for label, kw in (
        ("dense 256", None),
        ("keep 0.483", {"keep": 0.483}),
        ("keep 0.483 ×16", {"keep": 0.483, "round_to": 16}),
        ("width 128", {"width": 128}),
        ("width 64", {"width": 64}),
    ):
        models = (
            dense if kw is None else {n: prunekit.prune(m, inputs, selector="topk", **kw) for n, m in dense.items()}
        )
        sec = median_time(lambda m=models: render_image(m, o, d, task.scene.near, task.scene.far, cfg), 3, 1, device)
        base = base or sec
        params = sum(prunekit.count_params(m) for m in models.values())
        print(f"{label:>14}: {params:>9,} params  {sec:.3f} s/image  pruned/dense {sec / base:.3f}")


if __name__ == "__main__":
    main()
