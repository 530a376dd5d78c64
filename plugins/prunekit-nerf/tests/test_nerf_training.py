"""NeRF training as the study relies on it: the warm-up only from scratch, a batch stream per phase,
resume after kill -9 and seeded determinism through the real CLI."""

import torch
from cli import prunekit, report
from prunekit_nerf.task import NerfTask

from prunekit import pipeline
from prunekit.pipeline import RunConfig
from prunekit.spec import PruneSpec
from prunekit.target import RunOptions


def _in_crop(task: NerfTask, idx: torch.Tensor) -> bool:
    return bool(torch.isin(idx, task.crop).all())


def test_fine_tuning_has_no_warm_up_and_batches_of_its_own():
    task = NerfTask(RunOptions(preset="smoke"))
    assert task.precrop == 10
    for step in range(task.precrop):
        assert _in_crop(task, task._batch(step, "dense")[0]) and _in_crop(task, task._batch(step, "scratch")[0])
    assert not any(_in_crop(task, task._batch(step, "finetune")[0]) for step in range(task.precrop))
    for step in (0, 50):
        dense, finetune = task._batch(step, "dense")[0], task._batch(step, "finetune")[0]
        assert not torch.equal(dense, finetune)
    assert torch.equal(task._batch(3, "finetune")[0], task._batch(3, "finetune")[0])  # still seeded


def test_the_pipeline_tells_the_task_which_phase_it_trains(tmp_path, monkeypatch):
    phases = []
    original = NerfTask.train

    def spy(self, *args, **kwargs):
        phases.append(kwargs.get("phase"))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(NerfTask, "train", spy)
    for mode in ("finetune", "scratch"):
        phases.clear()
        options = RunOptions(preset="smoke", iters=2)
        pipeline.run(RunConfig("nerf", PruneSpec(width=64), retrain=mode, options=options, out=tmp_path / mode))
        assert phases[:2] == ["dense", mode]  # then the two timing runs, which draw fine-tuning batches


def _quality(r):
    return {s: (r[s]["psnr"], r[s]["ssim"], r[s]["params"]) for s in ("dense", "pruned")}


ARGS = ("run", "nerf", "--preset", "smoke", "--iters", "80", "--width", "64", "--selector", "coreset")


def test_nerf_same_seed_same_result_other_seed_another(tmp_path):
    runs = {}
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        assert prunekit(*ARGS, "--seed", seed, "--iters", "10", "--out", tmp_path / name).returncode == 0
        runs[name] = _quality(report(tmp_path / name))
    assert runs["a"] == runs["b"] and runs["a"] != runs["c"]
