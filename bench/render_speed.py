"""Seconds per rendered test image, pruned ÷ dense, in each engine a pruned field can be deployed on:
torch fp32, torch bf16 (where the CPU or GPU computes it natively), onnxruntime fp32 and onnxruntime int8.

python bench/render_speed.py [--data PATH] [--dense DIR] [--device auto] [--out bench/results/render_speed.json]

``--dense`` takes trained dense weights (a run's dense/ folder or a sweep's dense-seedN/); the PSNR column
is then against the test image (the pruned fields are cut without fine-tuning, so it shows what int8
costs beside fp32 of the same field, not what pruning costs). onnxruntime needs the deploy extra.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from common import add_out, cpu_model, device_name, median_time, save
from prunekit_nerf.metrics import psnr
from prunekit_nerf.rays import camera_rays
from prunekit_nerf.render import RenderConfig, render_image, two_stage
from prunekit_nerf.task import NerfTask

import prunekit
from prunekit.deploy import OnnxModule, quantize_int8
from prunekit.precision import bf16_native
from prunekit.runtime import resolve_device
from prunekit.stages import load_models
from prunekit.target import RunOptions


def engines(models: dict, inputs, folder: Path) -> dict[str, dict]:
    """The same fields exported and run by onnxruntime, in fp32 and dynamic int8."""
    fp32, int8 = {}, {}
    for name, m in models.items():
        path = folder / f"{name}.onnx"
        prunekit.export(m, inputs, path)
        fp32[name] = OnnxModule(path)
        int8[name] = OnnxModule(quantize_int8(path, folder / f"{name}.int8.onnx"))
    return {"onnxruntime fp32": fp32, "onnxruntime int8": int8}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--dense", type=Path, default=None, help="trained dense weights (a dense/ folder)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--repeats", type=int, default=3, help="timed renders per model and engine (median)")
    add_out(ap, "render_speed")
    args = ap.parse_args()
    device = resolve_device(args.device)
    task = NerfTask(RunOptions(preset="demo", data=args.data, device=str(device)))
    cfg = RenderConfig(two_stage(64, 128), task.scene.white_background)  # the paper's sampling
    h, w = task.test.hw
    o, d = camera_rays(h, w, task.test.intrinsics[0], task.test.poses[0])
    o, d = o.to(device), d.to(device)
    truth = task.test.images[0]
    dense = load_models(task, args.dense) if args.dense else task.build(0)
    inputs = task.example_inputs("coarse")
    bf16 = bf16_native(device)
    print(f"device: {device_name(device)}; image {w}x{h}, 64 coarse + 128 fine samples per ray")
    print(f"bf16: {'native, measured' if bf16 else f'not native on {cpu_model()}, not measured'}")
    print("| model | params | engine | s/image | ÷ dense torch fp32 | PSNR dB |\n|---|---|---|---|---|---|")
    base = None
    rows = []
    for label, kw in (("dense 256", None), ("keep 0.483", {"keep": 0.483}), ("width 64", {"width": 64})):
        models = (
            dense if kw is None else {n: prunekit.prune(m, inputs, selector="topk", **kw) for n, m in dense.items()}
        )
        params = sum(prunekit.count_params(m) for m in models.values())
        runs = {"torch fp32": (models, False)}
        if bf16:
            runs["torch bf16"] = (models, True)
        with tempfile.TemporaryDirectory() as tmp:
            if device.type == "cpu":
                runs.update({k: (v, False) for k, v in engines(models, inputs, Path(tmp)).items()})
            for engine, (fields, autocast) in runs.items():

                def render(fields=fields, autocast=autocast):
                    return render_image(fields, o, d, task.scene.near, task.scene.far, cfg, autocast)[0]

                quality = psnr(render().reshape(h, w, 3).cpu(), truth)  # also the warm-up
                sec = median_time(render, args.repeats, 0, device)
                base = base or sec
                rows.append({"model": label, "params": params, "engine": engine, "seconds": sec, "psnr": quality})
                print(f"| {label} | {params:,} | {engine} | {sec:.3f} | {sec / base:.3f} | {quality:.2f} |")
    settings = {"data": args.data, "dense": args.dense, "device": str(device), "repeats": args.repeats,
                "image": [w, h], "samples": [64, 128], "bf16_native": bf16}  # fmt: skip
    save(args.out, settings, renders=rows)


if __name__ == "__main__":
    main()
