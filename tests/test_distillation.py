"""Retraining against the dense model (``--distill``): the NeRF point-wise loss and the digits soft targets."""

import copy

import pytest
from cli import assert_one_line_error, prunekit, report
from prunekit_nerf.render import render_rays
from prunekit_nerf.task import NerfTask

from prunekit.target import RunOptions


def _nerf_batch(task: NerfTask, models):
    idx, g = task._batch(100, "finetune")
    o, d, v = task.rays[0][idx], task.rays[1][idx], task.rays[2][idx]
    return o, d, v, render_rays(models, o, d, task.scene.near, task.scene.far, task.render, True, g, viewdirs=v)


def test_nerf_distillation_matches_the_teacher_pointwise():
    task = NerfTask(RunOptions(preset="smoke", distill=0.5))
    student = task.build(0)
    o, d, v, out = _nerf_batch(task, student)
    assert set(out["samples"]) == {"coarse", "fine"}
    assert task._distillation(copy.deepcopy(student), out["samples"], o, d, v).item() == 0.0
    teacher = task.build(1)
    loss = task._distillation(teacher, out["samples"], o, d, v)
    assert loss.item() > 0
    loss.backward()
    assert all(p.grad is None for m in teacher.values() for p in m.parameters())  # the teacher stays frozen
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in student["fine"].parameters())


def test_distill_changes_retraining_and_is_reported(tmp_path):
    common = ("run", "digits", "--selector", "topk", "--width", "16", "--iters", "20")
    plain = prunekit(*common, "--out", tmp_path / "plain")
    taught = prunekit(*common, "--distill", "0.7", "--out", tmp_path / "taught")
    assert plain.returncode == 0 and taught.returncode == 0, taught.stderr
    a, b = report(tmp_path / "plain"), report(tmp_path / "taught")
    assert a["distill"] == 0 and b["distill"] == 0.7
    assert a["dense"]["accuracy"] == b["dense"]["accuracy"]  # same dense model and the same cut
    assert a["pruned_before_retrain"]["test_loss"] == b["pruned_before_retrain"]["test_loss"]
    assert a["pruned"]["test_loss"] != b["pruned"]["test_loss"]  # only the retraining loss differs
    assert "distill 0.7" in (tmp_path / "taught" / "report.md").read_text()


@pytest.mark.parametrize("value", ["1.5", "-0.1"])
def test_distill_out_of_range(tmp_path, value):
    assert_one_line_error(
        prunekit("run", "digits", "--distill", value, "--out", tmp_path / "r"), "--distill must be in [0, 1]"
    )
