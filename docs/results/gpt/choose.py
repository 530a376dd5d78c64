"""The held-out-text (val) loss right after the cut, for every built-in one-shot arm at FFN 256, from a
sweep's saved dense models: the choice of "best built-in configuration" is made on it, never on the
validation split the headline reports. The cuts are the sweep's own (same scorer, selector, seed and
calibration batch), so they are the models whose test loss the cells hold.

    python docs/results/gpt/choose.py runs/gpt-a runs/gpt-b > docs/results/gpt/choice.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import prunekit
from prunekit import plugins
from prunekit.stages import load_models
from prunekit.target import RunOptions

ARMS = [(s, "topk", False) for s in ("w_in", "w_out", "product", "activation")]
ARMS += [(s, "coreset", False) for s in ("w_out", "product")] + [(s, "topk", True) for s in ("product", "activation")]
TEXT = Path("../shared/data/text/tinyshakespeare/input.txt")


def main(roots: list[Path]) -> None:
    found: dict[str, dict[str, float]] = {}
    for root in roots:
        for dense in sorted((root / "main").glob("dense-seed*")):
            seed = int(dense.name.removeprefix("dense-seed"))
            task = plugins.get_target("gpt").setup(RunOptions(data=TEXT, preset="study", seed=seed))
            model = load_models(task, dense, seed)["gpt"]
            for scorer, selector, refit in ARMS:
                pruned = prunekit.prune(
                    model, task.example_inputs("gpt"), scorer=scorer, selector=selector, width=256, seed=seed,
                    calibration=task.calibration_inputs("gpt"), refit=refit, prunable=task.prunable("gpt"),
                    loss=task.calibration_loss("gpt"),
                )  # fmt: skip
                label = f"{scorer}/{selector}" + (", refit" if refit else "")
                found.setdefault(label, {})[str(seed)] = task.evaluate({"gpt": pruned}, split="val").metrics["loss"]
    json.dump({"val_loss_at_cut": found}, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main([Path(a) for a in sys.argv[1:]])
