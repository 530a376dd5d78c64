"""Output error of the coreset selector against top-k on a *trained* model, with and without the refit.

Relative error = ||pruned(x) - dense(x)|| / ||dense(x)|| on held-out inputs, per output head, right after
surgery (no retraining), mean ± std over seeds. Uses a trained NeRF coarse model from a finished run
(``--dense runs/NAME/dense``, with the ``--data`` it was trained on), or trains the digits MLP here.

    python bench/coreset_error.py [--dense DIR [--data PATH]] [--width 128] [--seeds 5] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import torch
from common import add_out, cpu_model, save

import prunekit
from prunekit.target import RunOptions


def relative_errors(dense, pruned, inputs) -> list[float]:
    with torch.no_grad():
        a, b = dense(*inputs), pruned(*inputs)
    a, b = (a, b) if isinstance(a, tuple) else ((a,), (b,))
    return [float((y - x).norm() / x.norm()) for x, y in zip(a, b)]


def setup(args):
    if args.dense is not None:
        from prunekit_nerf.task import NerfTask

        task = NerfTask(RunOptions(preset="demo", data=args.data))
        model = prunekit.load(args.dense / "coarse.safetensors")
        return (
            model,
            task.example_inputs("coarse"),
            task.calibration_inputs("coarse"),
            task._points(4096, 99),
            ["rgb", "density"],
        )
    from prunekit_mlp.tasks import DigitsTask

    task = DigitsTask(RunOptions(preset="demo"))
    models = task.build(0)
    task.train(models, 600, None, False, "digits")
    x = task.x_train
    return models["mlp"], (x[:64],), (x[:1024],), (task.x_test,), ["logits"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dense", type=Path, default=None)
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--width", type=int, default=None)
    ap.add_argument("--seeds", type=int, default=5)
    add_out(ap, "coreset_error")
    args = ap.parse_args()
    model, example, calibration, held_out, heads = setup(args)
    width = args.width or max(m.out_features for m in model.modules() if isinstance(m, torch.nn.Linear)) // 2
    print(f"cpu: {cpu_model()}; model: {type(model).__name__}, width {width}, w_out scores, {args.seeds} seeds")
    rows = []
    for selector in ("topk", "coreset"):
        for refit in (False, True):
            errs = [
                relative_errors(
                    model,
                    prunekit.prune(
                        model,
                        example,
                        scorer="w_out",
                        selector=selector,
                        width=width,
                        calibration=calibration,
                        refit=refit,
                        seed=s,
                    ),
                    held_out,
                )
                for s in range(args.seeds if selector == "coreset" else 1)
            ]
            rows.append({"selector": selector, "refit": refit, "errors": dict(zip(heads, zip(*errs)))})
            cols = []
            for i, head in enumerate(heads):
                vals = [e[i] for e in errs]
                sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
                cols.append(f"{head} {statistics.fmean(vals):.3f} ± {sd:.3f}")
            print(f"{selector:>8} refit={str(refit):<5} relative error: " + ", ".join(cols))
    settings = {"dense": args.dense, "data": args.data, "width": width, "seeds": args.seeds}
    save(args.out, settings, model=type(model).__name__, relative_errors=rows)


if __name__ == "__main__":
    main()
