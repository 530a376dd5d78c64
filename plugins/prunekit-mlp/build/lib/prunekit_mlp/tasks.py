"""Supervised tasks on in-memory arrays: the digits classifier and the photograph regressor."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.nn import functional as F

from prunekit.plugin import (
    BadInput,
    Evaluation,
    Preset,
    RunOptions,
    TaskBase,
    TrainStats,
    atomic_write,
    batch_seed,
    cosine,
    iterations,
    resolve_device,
    share,
    train,
)
from prunekit_mlp.models import MLP


@dataclass(frozen=True, kw_only=True)
class ArrayPreset(Preset):
    batch: int
    lr: float


PRESETS = {
    "smoke": ArrayPreset(iters=30, batch=128, lr=3e-3, timing_steps=3),
    "demo": ArrayPreset(iters=600, batch=256, lr=2e-3),
    "paper": ArrayPreset(iters=3000, batch=256, lr=1e-3),
}


class ArrayTask(TaskBase):
    """Mini-batch Adam on (x, y) tensors; subclasses say what the data, model, loss and metric are."""

    headline = "accuracy"

    def __init__(self, options: RunOptions) -> None:
        if options.data is not None:
            raise BadInput(f"--data is not used by this target; it ships its own data ({options.data})")
        if options.precision != "fp32":
            raise BadInput("this target trains in fp32 only")
        self.p = PRESETS[options.preset]
        self.iters, self.retrain_iters = iterations(options, self.p)
        self.seed = options.seed
        self.distill = options.distill
        self.device = resolve_device(options.device)
        x, y = self.load()
        g = torch.Generator().manual_seed(1234)  # the split is fixed, whatever the run's seed
        order = torch.randperm(len(x), generator=g)
        n_test = len(x) // 4
        test, train = order[:n_test], order[n_test:]
        self.x_train, self.y_train = x[train].to(self.device), y[train].to(self.device)
        self.x_test, self.y_test = x[test].to(self.device), y[test].to(self.device)

    def build(self, seed: int) -> dict[str, nn.Module]:
        torch.manual_seed(seed)
        return {"mlp": MLP(**self.config("mlp")).to(self.device)}

    def example_inputs(self, name: str) -> tuple:
        return (self.x_train[:64],)

    def calibration_inputs(self, name: str) -> tuple:
        return (self.x_train[:2048],)

    def train(
        self, models, iters, state_path: Path | None, resume: bool, label: str, teacher=None, phase: str = "dense"
    ) -> TrainStats:
        """Cosine learning rate over each call, so every phase already has a schedule of its own."""
        (model,) = models.values()

        def loss_at(step: int) -> torch.Tensor:
            g = torch.Generator(device=self.device).manual_seed(batch_seed(self.seed, step, phase))
            idx = torch.randint(0, len(self.x_train), (self.p.batch,), device=self.device, generator=g)
            idx = idx[share(len(idx))]  # under torchrun, this process's share of the batch
            x = self.x_train[idx]
            out = model(x)
            loss = self.loss(out, self.y_train[idx])
            if teacher is None:
                return loss
            with torch.no_grad():
                soft = next(iter(teacher.values()))(x)
            return (1 - self.distill) * loss + self.distill * self.distillation(out, soft)

        return train(
            models,
            loss_at,
            iters,
            cosine(self.p.lr, iters, final=0.0),
            state_path,
            resume,
            checkpoint_every=max(10, min(500, iters // 10)),
            label=f"{label}",
        )

    def evaluate(self, models, split: str = "test") -> Evaluation:
        if split != "test":
            raise BadInput(f"this target holds out one test split only, not {split!r}")
        (model,) = models.values()
        model.eval()
        with torch.no_grad():
            t0 = time.perf_counter()
            pred = model(self.x_test)
            seconds = time.perf_counter() - t0
        return Evaluation({**self.metrics(pred, self.y_test), "inference_seconds": seconds}, pred.cpu())


class DigitsTask(ArrayTask):
    """scikit-learn's 1,797 handwritten 8x8 digits; an MLP 64 → 256 → 256 → 10; accuracy on a held-out quarter."""

    headline = "accuracy"

    def load(self):
        from sklearn.datasets import load_digits

        digits = load_digits()
        x = torch.tensor(digits.data, dtype=torch.float32) / 16.0
        return (x - 0.5) / 0.5, torch.tensor(digits.target)

    def config(self, name: str) -> dict:
        return {"d_in": 64, "hidden": [256, 256], "d_out": 10, "fourier": 0}

    def loss(self, out, y):
        return F.cross_entropy(out, y)

    def distillation(self, out, teacher_out, temperature: float = 2.0):
        """Hinton et al.'s soft targets: KL divergence at temperature T, scaled by T² to keep gradients comparable."""
        t = temperature
        return (
            F.kl_div(
                F.log_softmax(out / t, -1), F.log_softmax(teacher_out / t, -1), log_target=True, reduction="batchmean"
            )
            * t
            * t
        )

    def metrics(self, out, y) -> dict:
        pred = out.argmax(-1)
        # collapsed: one class predicted for (almost) every test digit, whatever the input
        majority = float(pred.bincount(minlength=out.shape[-1]).max()) / len(pred)
        return {
            "accuracy": float((pred == y).float().mean()),
            "test_loss": float(F.cross_entropy(out, y)),
            "majority_share": majority,
            "collapsed": majority >= 0.9,
        }

    def write_visuals(self, out: Path, dense: Evaluation, pruned: Evaluation) -> list[str]:
        return []

    def preview(self, evaluation: Evaluation):
        return None


class PhotoTask(ArrayTask):
    """scikit-image's 'astronaut' photograph at 64x64 as a coordinate MLP (x, y) → rgb; PSNR on held-out pixels."""

    headline = "psnr"
    SIZE = 64

    def load(self):
        from skimage import data
        from skimage.transform import resize

        img = resize(data.astronaut(), (self.SIZE, self.SIZE), anti_aliasing=True).astype(np.float32)
        self.image = torch.from_numpy(img)
        ys, xs = torch.meshgrid(torch.linspace(-1, 1, self.SIZE), torch.linspace(-1, 1, self.SIZE), indexing="ij")
        self.coords = torch.stack([xs, ys], -1).reshape(-1, 2)
        return self.coords, self.image.reshape(-1, 3)

    def config(self, name: str) -> dict:
        return {"d_in": 2, "hidden": [256, 256, 256, 256], "d_out": 3, "fourier": 8}

    def loss(self, out, y):
        return F.mse_loss(out, y)

    def distillation(self, out, teacher_out):
        return F.mse_loss(out, teacher_out)

    def metrics(self, out, y) -> dict:
        mse = float(F.mse_loss(out.clamp(0, 1), y))
        spread = float(out.clamp(0, 1).std() / y.std().clamp_min(1e-6))
        # collapsed: a near-flat image where the photograph is not
        return {"psnr": -10.0 * np.log10(max(mse, 1e-12)), "spread_ratio": spread, "collapsed": spread < 0.2}

    def write_visuals(self, out: Path, dense: Evaluation, pruned: Evaluation) -> list[str]:
        (out / "renders").mkdir(exist_ok=True)
        panels = [self.image]
        for stage in (dense, pruned):
            with torch.no_grad():
                panels.append(stage.full.clamp(0, 1))
        strip = (torch.cat(panels, dim=1).numpy() * 255).round().astype(np.uint8)
        rel = "renders/photo_gt_dense_pruned.png"
        atomic_write(out / rel, lambda tmp: Image.fromarray(strip).save(tmp, format="PNG"))
        return [rel]

    def preview(self, evaluation: Evaluation):
        return evaluation.full.numpy()

    def evaluate(self, models, split: str = "test") -> Evaluation:
        result = super().evaluate(models, split)
        (model,) = models.values()
        with torch.no_grad():
            result.full = model(self.coords.to(self.device)).reshape(self.SIZE, self.SIZE, 3).cpu()
        return result
