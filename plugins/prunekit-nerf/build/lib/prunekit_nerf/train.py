"""Training a NeRF's fields: rays of the training images, seeded batches, the NeRF schedule, distillation."""

from __future__ import annotations

from pathlib import Path

import torch

from prunekit.plugin import TrainStats, batch_seed, cosine, share, train
from prunekit_nerf.data import Scene, Split
from prunekit_nerf.rays import view_rays
from prunekit_nerf.render import alphas, query, render_rays
from prunekit_nerf.sampling import Draws


def bf16_supported(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def split_rays(scene: Scene, split: Split) -> tuple[torch.Tensor, ...]:
    """Origins, directions, view directions and colours of every pixel of a split, each (N·H·W, 3)."""
    h, w = split.hw
    views = [
        view_rays(h, w, k, pose, split.distortion, scene.ndc_frustum) for pose, k in zip(split.poses, split.intrinsics)
    ]
    origins, dirs, viewdirs = (torch.cat(parts) for parts in zip(*views))
    return origins, dirs, viewdirs, split.images.reshape(-1, 3)


def centre_pixels(n_images: int, h: int, w: int, frac: float) -> torch.Tensor:
    """Indices of the central ``frac`` crop of every image: the NeRF authors' warm-up against collapse."""
    dh, dw = int(h // 2 * frac), int(w // 2 * frac)
    rows = torch.arange(h // 2 - dh, h // 2 + dh)
    cols = torch.arange(w // 2 - dw, w // 2 + dw)
    pix = (rows[:, None] * w + cols[None, :]).reshape(-1)
    return (torch.arange(n_images)[:, None] * (h * w) + pix[None, :]).reshape(-1)


class Trainer:
    """The NeRF task's training. Reads the task's ``rays``, ``crop``, ``precrop``, ``p`` (the preset),
    ``render``, ``scene``, ``field``, ``seed``, ``iters``, ``distill`` and ``finetune_schedule``."""

    def _batch(self, step: int, phase: str) -> tuple[torch.Tensor, torch.Generator]:
        """Ray indices of one step, seeded by (seed, phase, step). Training from scratch (the dense model,
        ``--retrain scratch``) starts on the central crop of the images; fine-tuning never does."""
        g = torch.Generator(device=self.device).manual_seed(batch_seed(self.seed, step, phase))
        if phase != "finetune" and step < self.precrop:
            pick = torch.randint(0, len(self.crop), (self.p.batch,), device=self.device, generator=g)
            return self.crop[pick], g
        return torch.randint(0, len(self.rays[0]), (self.p.batch,), device=self.device, generator=g), g

    def train(
        self,
        models,
        iters,
        state_path: Path | None,
        resume: bool,
        label: str,
        teacher=None,
        phase: str = "dense",
    ) -> TrainStats:
        def loss_at(step: int) -> torch.Tensor:
            idx, g = self._batch(step, phase)
            rows = share(len(idx))  # under torchrun, this process's rays of the step's batch
            idx, noise = idx[rows], Draws(g, rows, len(idx))
            o, d, v = self.rays[0][idx], self.rays[1][idx], self.rays[2][idx]
            out = render_rays(
                models, o, d, self.scene.near, self.scene.far, self.render, True, noise, self.autocast, viewdirs=v
            )
            target = self.rays[3][idx]
            photometric = sum(torch.mean((out[name] - target) ** 2) for name in out["samples"])
            if teacher is None:
                return photometric
            matched = self._distillation(teacher, out["samples"], o, d, v)
            return (1 - self.distill) * photometric + self.distill * matched

        return train(
            models,
            loss_at,
            iters,
            self._schedule(phase, iters),
            state_path,
            resume,
            checkpoint_every=max(10, min(500, iters // 10)),
            label=f"nerf {label}",
        )

    def _schedule(self, phase: str, iters: int):
        """nerf-pytorch's exponential decay, restarted by each phase; with ``--finetune-schedule cosine``
        fine-tuning decays to 0.1x along a cosine instead, and so does a dense run continued past its
        own iterations (the equal-budget baseline), so that both sides of a comparison are annealed."""
        lr, decay = self.field.lr or self.p.lr, self.p.lr_decay_steps
        preset = lambda s: lr * 0.1 ** (s / decay)  # noqa: E731
        if self.finetune_schedule != "cosine":
            return preset
        if phase == "finetune":
            return cosine(lr, iters)
        if phase == "dense" and iters > self.iters:
            tail = cosine(preset(self.iters), iters - self.iters)
            return lambda s: preset(s) if s < self.iters else tail(s - self.iters)
        return preset

    def _distillation(self, teacher, samples, origins, dirs, viewdirs) -> torch.Tensor:
        """Point-wise distillation: each field matches the dense one's colour and opacity at its own samples.

        Colour and per-segment opacity are both in [0, 1], so neither term dwarfs the other (raw densities
        span orders of magnitude); supervising every sample gives far more signal than a ray's colour.
        """
        loss = 0.0
        for name, (z, rgb, alpha) in samples.items():
            with torch.no_grad():
                t_rgb, t_sigma = query(teacher[name], origins, dirs, z, self.autocast, viewdirs)
                t_alpha = alphas(t_sigma, z, dirs)
            loss = loss + torch.mean((rgb - t_rgb) ** 2) + torch.mean((alpha - t_alpha) ** 2)
        return loss
