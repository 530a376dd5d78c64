"""The rules the study's numbers rest on, each checked against an answer worked out by hand: the equal-budget
reference gets exactly the pruned models' retraining (counted from outside the training code), step times
are interleaved within a cell, a collapsed run is counted at the floor and never dropped, and test views are
spread over the whole test set."""

import json

import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_pre_hook

from prunekit.budget import Budget
from prunekit.files import write_json
from prunekit.stages import time_steps
from prunekit.study import write_results
from prunekit.sweep import SweepConfig, run_sweep
from prunekit.target import RunOptions, TaskBase


def test_the_reference_is_retrained_as_the_pruned_models_are_counted_by_the_optimizer(tmp_path):
    """Every optimizer step is counted by a global hook, outside prunekit: which model it trained (by its
    parameter count) and whether its Adam started empty. Budget: 6 dense steps, 5 retraining steps, timing
    blocks of 1 + 3 warm-up = 4 steps."""
    steps: list[dict] = []

    def count(opt, args, kwargs):
        if not hasattr(opt, "counted"):  # tagged on the optimizer itself: ids of dead ones are reused
            opt.counted = {"params": sum(p.numel() for g in opt.param_groups for p in g["params"]), "n": 0}
            opt.counted["fresh"] = not opt.state
            steps.append(opt.counted)
        opt.counted["n"] += 1

    cfg = SweepConfig(
        target="fake",
        scorers=["w_out"],
        selectors=["topk"],
        budgets=[Budget(width=32)],
        retrain=["finetune", "scratch"],
        seeds=[0],
        uniform=False,
        options=RunOptions(preset="smoke", iters=6, retrain_iters=5),
        out=tmp_path / "sweep",
        timing_steps=3,
    )
    handle = register_optimizer_step_pre_hook(count)
    try:
        run_sweep(cfg)
    finally:
        handle.remove()
    dense_params = (8 * 64 + 64 + 64 * 64 + 64 + 64 + 1) + (8 * 32 + 32 + 32 + 1)  # the fake target's a and b
    runs = sorted((e["params"] == dense_params, e["n"], e["fresh"]) for e in steps)
    training = [r for r in runs if r[1] != 4]  # leave out the timing blocks
    assert len(runs) - len(training) == 2 * 2 * 3  # two cells, dense and pruned, three blocks each
    # dense 6 steps; two references of the dense model, 5 steps each from a fresh Adam; two pruned cells
    assert training == [(False, 5, True), (False, 5, True), (True, 5, True), (True, 5, True), (True, 6, True)]
    cells = tmp_path / "sweep" / "cells"
    fine = json.loads((cells / "dense-seed0-finetune5.json").read_text())
    scratch = json.loads((cells / "dense-seed0-scratch5.json").read_text())
    assert (fine["retrain"], fine["retrain_iters"], fine["iters"]) == ("finetune", 5, 11)
    assert (scratch["retrain"], scratch["retrain_iters"], scratch["iters"]) == ("scratch", 5, 5)
    timing = json.loads((cells / "w_out-topk-width32-finetune-seed0.json").read_text())["timing"]
    assert timing["steps"] == 3 and len(timing["block_ratios"]) == 3


class _Clock(TaskBase):
    """A task whose steps take a set time: dense 1 s, pruned 0.5, 0.5 and 0.8 s in its three blocks (the
    last as if another job had shared the machine)."""

    def __init__(self):
        self.calls = []
        self.pruned = iter([0.5, 0.5, 0.8])

    def train(self, models, iters, state_path, resume, label, phase="dense"):
        from prunekit.training import TrainStats

        self.calls.append((label, iters, phase))
        sec = 1.0 if label.endswith("dense") else next(self.pruned)
        return TrainStats(iters, sec, 0.0)


def test_step_times_are_taken_in_alternating_blocks_in_one_measurement():
    clock = _Clock()
    net = {"m": torch.nn.Linear(2, 2)}
    timing = time_steps(clock, net, net, steps=30)
    labels = [label for label, _, _ in clock.calls]
    assert labels == ["timing dense", "timing pruned"] * 3
    assert all(iters == 10 + 3 and phase == "finetune" for _, iters, phase in clock.calls)  # 10 timed + warm-up
    assert timing["steps"] == 30
    assert timing["ratio"] == pytest.approx(0.5)  # the median round: 0.8 (a disturbed round) does not move it
    assert timing["block_ratios"] == pytest.approx([0.5, 0.5, 0.8])


def _cell(seed, selector, psnr, collapsed=False, at_cut=None):
    """test_sweep's hand-written cell, with a floor of 10 dB, a collapse flag and an in-cell timing."""
    from test_sweep import _cell as plain

    row = plain(seed, "w_out", selector, psnr)
    row["pruned"] = {**row["pruned"], "collapsed": collapsed, "floor": 10.0}
    row["dense"] = {**row["dense"], "floor": 10.0}
    row["timing"] = {"ratio": 0.5, "block_ratios": [0.4, 0.5, 0.6], "dense_sec_per_iter": 0.2}
    row["collapsed"] = collapsed
    if at_cut is not None:
        row["pruned_before_retrain"] = {"psnr": at_cut[0], "collapsed": at_cut[1], "floor": 10.0}
    return row


def test_a_collapsed_run_counts_at_the_floor_and_is_named(tmp_path):
    """References 20, 21, 22 dB. Top-k 19, 20 and a collapsed run at 12 dB (floor 10) → Δ −1, −1, −12:
    mean −4.667, never the survivors' −1. Right after surgery the coreset's cuts are collapsed at 11 dB
    and top-k's at 8.5 dB: both count at the floor, so the cut difference is 0, not +2.5."""
    (tmp_path / "cells").mkdir()
    for seed in range(3):
        write_json(
            tmp_path / "cells" / f"dense-seed{seed}-finetune5.json",
            {"seed": seed, "retrain": "finetune", "retrain_iters": 5, "iters": 10, "psnr": 20.0 + seed},
        )
    rows = [
        _cell(0, "topk", 19.0, at_cut=(8.5, True)),
        _cell(1, "topk", 20.0, at_cut=(8.5, True)),
        _cell(2, "topk", 12.0, collapsed=True, at_cut=(8.5, True)),
        _cell(0, "coreset", 19.5, at_cut=(11.0, True)),
        _cell(1, "coreset", 20.5, at_cut=(11.0, True)),
        _cell(2, "coreset", 21.5, at_cut=(11.0, True)),
    ]
    write_results(tmp_path, rows)
    md = (tmp_path / "results.md").read_text()
    topk = next(line for line in md.splitlines() if line.startswith("| w_out/topk | width 8"))
    assert "-4.667 [" in topk and topk.rstrip(" |").endswith("1/3")
    summary = md.split("## Every setting")[0]
    assert "1/3 collapsed" in summary
    versus = next(
        line for line in md.splitlines() if line.startswith("| width 8 | finetune | w_out/coreset − w_out/topk")
    )
    cells = [c.strip() for c in versus.strip("|").split("|")]
    assert cells[3].startswith("+0.000") and cells[4] == "6/6"


def test_target_options_are_checked_before_any_work(tmp_path):
    from cli import assert_one_line_error, prunekit

    out = tmp_path / "r"
    assert_one_line_error(
        prunekit("run", "fake", "--preset", "smoke", "--out", out, "-O", "bogus=1"),
        "-O bogus: the fake target has no such option (its options: none)",
    )
    assert_one_line_error(
        prunekit("sweep", "fake", "--widths", "8", "--out", tmp_path / "s", "-O", "factor"), "-O expects KEY=VALUE"
    )
    assert not out.exists() and not (tmp_path / "s").exists()


def test_a_lower_is_better_headline_is_counted_and_ranked_in_its_direction(tmp_path):
    """A loss headline (lower is better). References 1.50, 1.60, 1.70. Top-k 1.55, 1.66, 1.75 (Δ +0.05,
    +0.06, +0.05); the coreset 1.52, 1.61, 1.72 (Δ +0.02, +0.01, +0.02): the coreset is better on 3/3 seeds
    and has the best mean Δ (+0.017, not top-k's +0.053)."""
    from test_sweep import _cell as plain

    (tmp_path / "cells").mkdir()
    for seed in range(3):
        write_json(
            tmp_path / "cells" / f"dense-seed{seed}-finetune5.json",
            {"seed": seed, "retrain": "finetune", "retrain_iters": 5, "iters": 10, "loss": 1.5 + seed / 10},
        )
    rows = []
    for selector, losses in (("topk", (1.55, 1.66, 1.75)), ("coreset", (1.52, 1.61, 1.72))):
        for seed, loss in enumerate(losses):
            row = plain(seed, "w_out", selector, 0.0)
            row["headline"], row["higher_is_better"] = "loss", False
            row["pruned"] = {**row["pruned"], "loss": loss}
            row["dense"] = {**row["dense"], "loss": 1.45}
            rows.append(row)
    write_results(tmp_path, rows)
    md = (tmp_path / "results.md").read_text()
    summary = next(line for line in md.splitlines() if line.startswith("| width 8 | finetune |"))
    cells = [c.strip() for c in summary.strip("|").split("|")]
    assert cells[-2] == "w_out/coreset"  # the best mean Δ of a loss is the lowest
    assert "lower is better" in md
    versus = next(
        line for line in md.splitlines() if line.startswith("| width 8 | finetune | w_out/coreset | w_out/topk |")
    )
    assert versus.strip(" |").endswith("3/3")  # better on every seed: lower loss
