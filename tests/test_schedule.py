"""Gradual pruning: N cuts along a schedule end at the one-shot widths, each cut verified, the composed plan
re-applies to the dense model, and the retraining budget is split without losing or adding a step."""

import json

import pytest
import torch
from cli import assert_one_line_error, prunekit, report
from mlps import TwoHeadField
from torch.optim.optimizer import register_optimizer_step_pre_hook

import prunekit as pk
from prunekit import api
from prunekit.errors import BadInput
from prunekit.pipeline import RunConfig
from prunekit.pipeline import run as run_pipeline
from prunekit.schedule import split_iters, widths_along
from prunekit.spec import PruneSpec
from prunekit.target import RunOptions


def test_widths_along_the_schedules_worked_by_hand():
    # cubic (AGP): after cut 1 of 2 the way done is 1 − (1 − 1/2)³ = 0.875: 256 − 0.875 × 192 = 88
    assert widths_along({"a": 256}, {"a": 64}, 2, "cubic") == [{"a": 88}, {"a": 64}]
    assert widths_along({"a": 256}, {"a": 64}, 2, "linear") == [{"a": 160}, {"a": 64}]
    # 1 − (2/3)³ = 19/27 of 224 is 157.6: 98.4 → 98, rounded to 16: 96; 26/27 of 224: 40.3 → 40, → 48
    assert widths_along({"a": 256}, {"a": 32}, 3, "cubic") == [{"a": 98}, {"a": 40}, {"a": 32}]
    assert widths_along({"a": 256}, {"a": 32}, 3, "cubic", round_to=16) == [{"a": 96}, {"a": 48}, {"a": 32}]
    with pytest.raises(BadInput, match="--schedule must be one of cubic, linear"):
        widths_along({"a": 4}, {"a": 2}, 2, "exponential")


def test_the_retraining_budget_is_split_exactly():
    assert split_iters(300, 3) == [100, 100, 100]
    assert split_iters(31, 3) == [11, 10, 10]
    assert split_iters(5, 1) == [5]
    with pytest.raises(BadInput, match="need at least 3 retraining iterations"):
        split_iters(2, 3)


@pytest.fixture
def field():
    torch.manual_seed(0)
    model = TwoHeadField(width=32)
    inputs = (torch.randn(16, 3), torch.nn.functional.normalize(torch.randn(16, 3), dim=-1))
    return model, inputs


@pytest.mark.parametrize("selector", ["topk", "coreset"])
def test_two_steps_end_at_the_one_shot_widths_and_the_plan_reapplies(field, selector, monkeypatch):
    model, inputs = field
    verified = []
    real_verify = api.verify
    monkeypatch.setattr(api, "verify", lambda *a, **k: verified.append(real_verify(*a, **k)))
    one_shot = pk.prune(model, inputs, selector=selector, width=8)
    verified.clear()
    gradual = pk.prune(model, inputs, selector=selector, width=8, steps=2)
    assert len(verified) == 2  # each cut checked against the model it was cut from
    assert gradual.prunekit_plan.widths == one_shot.prunekit_plan.widths
    assert all(w == 8 for w in gradual.prunekit_plan.widths.values() if w > 4)  # 32 → 8, view 16 → 4
    assert gradual.prunekit_plan.info["schedule"]["widths"][0]["layers.0"] == 11  # 32 − 0.875 × 24
    again = pk.apply(model, gradual.prunekit_plan, inputs)
    with torch.no_grad():
        want, got = gradual(*inputs), again(*inputs)
    for w, g in zip(want, got):
        if selector == "topk":
            assert torch.equal(w, g)  # the same neurons, the same weights, bit for bit
        else:  # coreset scales: s1·s2 folded once instead of s1 then s2, one rounding apart
            assert torch.allclose(w, g, rtol=1e-6, atol=1e-7)


def test_training_between_cuts_is_seen_by_the_next_score(field):
    """Between the cuts (11 → 8 wide) the caller silences the three strongest neurons of layer 2 (zero
    outgoing weights): w_out must drop exactly those at the second cut, which scores of the dense model
    alone could not know."""
    model, inputs = field
    silenced = []

    def between(current, step):
        assert step == 1
        kept = current.prunekit_plan.layers["layers.2"].kept
        with torch.no_grad():
            top = current.layers[3].weight.abs().mean(0).argsort(descending=True)[:3]
            current.layers[3].weight[:, top] = 0.0
        silenced.extend(kept[i] for i in top.tolist())

    pruned = pk.prune(model, inputs, scorer="w_out", selector="topk", width=8, steps=2, between=between)
    assert len(silenced) == 3 and not set(silenced) & set(pruned.prunekit_plan.layers["layers.2"].kept)


def test_a_gradual_run_spends_exactly_the_retraining_budget_counted_by_the_optimizer(tmp_path):
    """Digits MLP 64 → 256 → 256 → 10 (h² + 76h + 10 parameters at hidden width h) cut to width 32 in three
    cubic steps: 98 and 40 on the way (see the hand-worked widths above); 31 retraining steps split 11,
    10, 10. Every optimizer step is counted by a global hook, outside prunekit."""
    runs = []

    def count(opt, args, kwargs):
        if not hasattr(opt, "counted"):
            opt.counted = {"params": sum(p.numel() for g in opt.param_groups for p in g["params"]), "n": 0}
            runs.append(opt.counted)
        opt.counted["n"] += 1

    cfg = RunConfig(
        target="digits",
        spec=PruneSpec(width=32, selector="topk", steps=3),
        options=RunOptions(preset="smoke", iters=20, retrain_iters=31),
        out=tmp_path / "run",
        timing_steps=3,  # blocks of 1 timed + 3 warm-up steps
    )
    handle = register_optimizer_step_pre_hook(count)
    try:
        report = run_pipeline(cfg)
    finally:
        handle.remove()
    params = {h: h * h + 76 * h + 10 for h in (256, 98, 40, 32)}
    training = [(r["params"], r["n"]) for r in runs if r["n"] != 4]
    assert training == [(params[256], 20), (params[98], 11), (params[40], 10), (params[32], 10)]
    assert report["schedule"] == {"steps": 3, "kind": "cubic", "retrain_iters": [11, 10, 10]}
    assert report["pruned"]["params"] == params[32]


def test_steps_from_the_command_line(tmp_path):
    run = tmp_path / "run"
    args = ("--preset", "smoke", "--iters", "20", "--retrain-iters", "10", "--width", "32", "--selector", "topk")
    proc = prunekit("run", "digits", *args, "--steps", "2", "--schedule", "linear", "--out", run)
    assert proc.returncode == 0, proc.stderr
    assert report(run)["schedule"] == {"steps": 2, "kind": "linear", "retrain_iters": [5, 5]}
    assert report(run)["pruned"]["params"] == 32 * 32 + 76 * 32 + 10  # the one-shot widths
    sweep = tmp_path / "sweep"
    proc = prunekit(
        "sweep", "digits", "--scorers", "w_out", "--selectors", "topk", "--widths", "32", "--seeds", "0",
        "--no-uniform", "--preset", "smoke", "--iters", "20", "--retrain-iters", "10", "--steps", "3", "--out", sweep,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    cell = json.loads((sweep / "cells" / "w_out-topk-width32-finetune-seed0.json").read_text())
    assert (cell["steps"], cell["schedule"], cell["retrain_phases"]) == (3, "cubic", [4, 3, 3])
    assert json.loads((sweep / "sweep.json").read_text())["steps"] == 3
    for bad, message in (
        (("--steps", "0"), "--steps must be a positive integer"),
        (("--steps", "2", "--schedule", "exponential"), "--schedule must be one of cubic, linear"),
        (("--steps", "2", "--retrain", "scratch"), "--retrain scratch would discard that"),
        (("--steps", "11"), "11 pruning steps need at least 11 retraining iterations, got 10"),
    ):
        assert_one_line_error(prunekit("run", "digits", *args, *bad, "--out", tmp_path / "bad"), message)
    assert not (tmp_path / "bad" / "dense").exists()  # refused before any training
