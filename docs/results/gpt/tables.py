"""The transformer study's tables, recomputed from the committed cells (docs/results/gpt/{main,refit}).

    python docs/results/gpt/tables.py > docs/results/gpt/tables.md

Protocol 1 (one-shot, FLAP's and Wanda's setting): the loss right after the cut, no retraining, against
the dense model it was cut from. Protocol 2: after 200 fine-tuning steps, against the equal-budget dense
model (the dense model fine-tuned the same 200 steps). Every Δ is paired by seed, mean [95 % paired-t CI],
* where the interval excludes zero; loss in nats per character, lower is better. Choices (the best
built-in configuration) are made on the held-out slice of the training text ("val"), the headline is on
nanoGPT's validation split ("test").
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

from prunekit.cells import equal_budget_baselines, read_cells
from prunekit.intervals import paired_ci

HERE = Path(__file__).resolve().parent
BUILT_IN = ("w_in", "w_out", "product", "activation")
WIDTHS = (384, 256, 128)


def _arms() -> dict[tuple, dict[int, dict]]:
    """(scorer, selector, width, allocation, refit) → seed → cell."""
    arms: dict[tuple, dict[int, dict]] = {}
    for folder in ("main", "refit"):
        for r in read_cells(HERE / folder):
            key = (r["scorer"], r["selector"], r["width"], r.get("allocation", "uniform"), bool(r["refit"]))
            arms.setdefault(key, {})[r["seed"]] = r
    return arms


def _delta(a: dict[int, float], b: dict[int, float]) -> str:
    ci = paired_ci(a[s] - b[s] for s in sorted(a) if s in b)
    return f"{ci.text(3)} (n={ci.n})"


def _label(key: tuple) -> str:
    scorer, selector, width, allocation, refit = key
    extra = ("" if allocation == "uniform" else f", {allocation}") + (", refit" if refit else "")
    return f"{scorer}/{selector}{extra}"


def one_shot(arms: dict) -> str:
    lines = ["## Protocol 1: one-shot, no retraining (loss right after the cut − dense loss)\n",
             "| arm | FFN 384 (0.75) | FFN 256 (0.5) | FFN 128 (0.25) |", "|---|---|---|---|"]  # fmt: skip
    names = sorted({k[:2] + k[3:] for k in arms}, key=lambda k: (k[2] != "uniform", k[3], k[0], k[1]))
    for scorer, selector, allocation, refit in names:
        cells = []
        for width in WIDTHS:
            arm = arms.get((scorer, selector, width, allocation, refit))
            if not arm:
                cells.append("")
                continue
            cut = {s: c["pruned_before_retrain"]["loss"] for s, c in arm.items()}
            dense = {s: c["dense"]["loss"] for s, c in arm.items()}
            cells.append(_delta(cut, dense))
        lines.append(f"| {_label((scorer, selector, 0, allocation, refit))} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def fine_tuned(arms: dict) -> str:
    refs = {r["seed"]: r["loss"] for r in equal_budget_baselines(HERE / "main" / "cells") if r["retrain"] == "finetune"}
    lines = ["## Protocol 2: after 200 fine-tuning steps, Δ vs the equal-budget dense model\n",
             "| arm | FFN 384 (0.75) | FFN 256 (0.5) | FFN 128 (0.25) | step ÷ dense at 256 (median, range) |",
             "|---|---|---|---|---|"]  # fmt: skip
    names = sorted({k[:2] + k[3:] for k in arms}, key=lambda k: (k[2] != "uniform", k[3], k[0], k[1]))
    for scorer, selector, allocation, refit in names:
        cells = []
        for width in WIDTHS:
            arm = arms.get((scorer, selector, width, allocation, refit))
            cells.append(_delta({s: c["pruned"]["loss"] for s, c in arm.items()}, refs) if arm else "")
        half = arms.get((scorer, selector, 256, allocation, refit)) or {}
        ratios = [statistics.median(c["timing"]["block_ratios"]) for c in half.values()]
        ratio = f"{statistics.median(ratios):.2f} ({min(ratios):.2f}–{max(ratios):.2f})" if ratios else ""
        lines.append(f"| {_label((scorer, selector, 0, allocation, refit))} | " + " | ".join(cells) + f" | {ratio} |")
    dense = [r["loss"] for r in equal_budget_baselines(HERE / "main" / "cells") if r["retrain"] == "finetune"]
    lines.append(f"\nEqual-budget dense reference: {statistics.fmean(dense):.4f} ± {statistics.stdev(dense):.4f} "
                 f"(n={len(dense)}).\n")  # fmt: skip
    return "\n".join(lines) + "\n"


def goals(arms: dict) -> str:
    """The one-shot goal at FFN 256: the best built-in configuration, chosen by its mean loss right after
    the cut on the held-out training text (choice.json, from choose.py), against every other scorer."""
    choice = json.loads((HERE / "choice.json").read_text())["val_loss_at_cut"]
    candidates = [k for k in arms if k[0] in BUILT_IN and k[2] == 256 and k[3] == "uniform" and _label(k) in choice]
    best_key = min(candidates, key=lambda k: statistics.fmean(choice[_label(k)].values()))
    best = {s: c["pruned_before_retrain"]["loss"] for s, c in arms[best_key].items()}
    lines = [
        "## Goals at FFN 256 (keep 0.5 of the feed-forward)\n",
        "Best built-in configuration, chosen on the held-out training text (its loss right after the cut): "
        f"**{_label(best_key)}**.\n",
        "| one-shot: best built-in − rival, loss at the cut (test) | Δ |",
        "|---|---|",
    ]
    rivals = sorted(k for k in arms if k[2] == 256 and k[3] == "uniform" and k[0] not in (*BUILT_IN, "random"))
    for key in rivals:
        rival = {s: c["pruned_before_retrain"]["loss"] for s, c in arms[key].items()}
        lines.append(f"| − {_label(key)} | {_delta(best, rival)} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    a = _arms()
    sys.stdout.write("# Transformer study: tables from the cells\n\n" + __doc__.split("\n\n", 1)[1] + "\n")
    sys.stdout.write(one_shot(a) + "\n" + fine_tuned(a) + "\n" + goals(a))
