"""Distillation on NeRF: the student's point-wise loss against the teacher's renders."""

import copy

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
