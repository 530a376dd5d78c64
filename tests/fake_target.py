"""``fake``: a small target defined in the tests, so that the core's suite runs the whole pipeline (run,
sweep, resume, signals, export) in seconds with no plug-in installed.

A smooth regression y = sin(0.35·x·w) on 8 inputs, learned by two MLPs trained together (as NeRF's coarse and
fine models are): ``a`` 8 → 64 → 64 → 1 and ``b`` 8 → 32 → 1, their outputs summed. Headline: R² on a
held-out test split (higher is better), with a validation split where settings are chosen. A
``tests/prunekit_fake_target-0.1.dist-info`` beside this file registers it as an installed plug-in does.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from prunekit.plugin import (
    BadInput,
    Evaluation,
    Preset,
    RunOptions,
    TaskBase,
    TrainStats,
    batch_seed,
    cosine,
    hookimpl,
    iterations,
    resolve_device,
    share,
    train,
)


class Net(nn.Module):
    def __init__(self, hidden: list[int]) -> None:
        super().__init__()
        sizes = [8, *hidden]
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))
        self.out = nn.Linear(sizes[-1], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.hidden:
            x = torch.relu(layer(x))
        return self.out(x)


@dataclass(frozen=True, kw_only=True)
class FakePreset(Preset):
    batch: int = 64
    lr: float = 1e-2


PRESETS = {"smoke": FakePreset(iters=30, timing_steps=3), "demo": FakePreset(iters=300)}
CONFIGS = {"a": {"hidden": [64, 64]}, "b": {"hidden": [32]}}


class FakeTask(TaskBase):
    headline = "r2"

    def __init__(self, options: RunOptions) -> None:
        if options.data is not None:
            raise BadInput(f"the fake target makes its own data; --data {options.data} is not used")
        self.p = PRESETS[options.preset]
        self.iters, self.retrain_iters = iterations(options, self.p)
        self.seed = options.seed
        self.distill = options.distill
        self.device = resolve_device(options.device)
        g = torch.Generator().manual_seed(1234)  # the data are fixed, whatever the run's seed
        x = torch.randn(1200, 8, generator=g)
        y = torch.sin(x @ (0.35 * torch.randn(8, 1, generator=g)))  # smooth: learnable in a few steps
        self.split = {
            "train": (x[:800], y[:800]),
            "val": (x[800:1000], y[800:1000]),
            "test": (x[1000:], y[1000:]),
        }

    def build(self, seed: int) -> dict[str, nn.Module]:
        torch.manual_seed(seed)
        return {name: Net(**self.config(name)).to(self.device) for name in CONFIGS}

    def config(self, name: str) -> dict:
        return dict(CONFIGS[name])

    def example_inputs(self, name: str) -> tuple:
        return (self.split["train"][0][:64].to(self.device),)

    def calibration_inputs(self, name: str) -> tuple:
        return (self.split["train"][0][:512].to(self.device),)

    def _predict(self, models, x: torch.Tensor) -> torch.Tensor:
        return sum(m(x) for m in models.values())

    def train(self, models, iters, state_path: Path | None, resume: bool, label: str, teacher=None, phase="dense"):
        x_all, y_all = (t.to(self.device) for t in self.split["train"])

        def loss_at(step: int) -> torch.Tensor:
            g = torch.Generator().manual_seed(batch_seed(self.seed, step, phase))
            idx = torch.randint(0, len(x_all), (self.p.batch,), generator=g)[share(self.p.batch)]
            x, y = x_all[idx], y_all[idx]
            out = self._predict(models, x)
            loss = torch.mean((out - y) ** 2)
            if teacher is not None:
                with torch.no_grad():
                    soft = self._predict(teacher, x)
                loss = (1 - self.distill) * loss + self.distill * torch.mean((out - soft) ** 2)
            return loss

        stats: TrainStats = train(
            models, loss_at, iters, cosine(self.p.lr, iters, final=0.0), state_path, resume,
            checkpoint_every=max(10, iters // 10), label=label,
        )  # fmt: skip
        return stats

    def evaluate(self, models, split: str = "test") -> Evaluation:
        if split not in ("test", "val"):
            raise BadInput(f"the fake target has test and val splits, not {split!r}")
        x, y = (t.to(self.device) for t in self.split[split])
        for m in models.values():
            m.eval()
        with torch.no_grad():
            t0 = time.perf_counter()
            pred = self._predict(models, x)
            seconds = time.perf_counter() - t0
        r2 = 1.0 - float(torch.mean((pred - y) ** 2) / torch.var(y))
        return Evaluation({"r2": r2, "collapsed": r2 < 0.0, "floor": 0.0, "predict_seconds": seconds}, pred.cpu())

    def write_visuals(self, out: Path, dense: Evaluation, pruned: Evaluation) -> list[str]:
        return []

    def preview(self, evaluation: Evaluation):
        return None


class FakeTarget:
    name = "fake"
    description = "a small regression defined in prunekit's tests"
    presets = PRESETS

    def setup(self, options: RunOptions) -> FakeTask:
        return FakeTask(options)


@hookimpl
def register_targets(register):
    register(FakeTarget())


@hookimpl
def register_models(register):
    register(Net)
