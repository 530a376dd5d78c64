"""The NeRF task: rays from a scene, seeded batches, the NeRF schedule, evaluation and renders."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from prunekit import training
from prunekit.checkpoint import atomic_write
from prunekit.errors import BadInput
from prunekit.pipeline import Evaluation, RunOptions, resolve_device
from prunekit_nerf.data import Scene, Split, load_scene
from prunekit_nerf.field import NeRFField
from prunekit_nerf.metrics import psnr, ssim
from prunekit_nerf.presets import PRESETS
from prunekit_nerf.rays import camera_rays, ndc_rays
from prunekit_nerf.render import RenderConfig, alphas, query, render_image, render_rays
from prunekit_nerf.sampling import stratified

COLLAPSE_MARGIN_DB = 1.0  # a model no better than a constant colour (+ this) has collapsed


def bf16_supported(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def split_rays(scene: Scene, split: Split) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Origins, directions and colours of every pixel of a split, each (N·H·W, 3)."""
    h, w = split.hw
    origins, dirs = [], []
    for pose, intr in zip(split.poses, split.intrinsics):
        o, d = camera_rays(h, w, intr, pose, split.distortion)
        if scene.ndc:
            o, d = ndc_rays(h, w, float(intr[0]), 1.0, o, d)
        origins.append(o)
        dirs.append(d)
    return torch.cat(origins), torch.cat(dirs), split.images.reshape(-1, 3)


def centre_pixels(n_images: int, h: int, w: int, frac: float) -> torch.Tensor:
    """Indices of the central ``frac`` crop of every image: the NeRF authors' warm-up against collapse."""
    dh, dw = int(h // 2 * frac), int(w // 2 * frac)
    rows = torch.arange(h // 2 - dh, h // 2 + dh)
    cols = torch.arange(w // 2 - dw, w // 2 + dw)
    pix = (rows[:, None] * w + cols[None, :]).reshape(-1)
    return (torch.arange(n_images)[:, None] * (h * w) + pix[None, :]).reshape(-1)


class NerfTask:
    headline = "psnr"

    def __init__(self, options: RunOptions) -> None:
        self.p = dict(PRESETS[options.preset])
        self.iters = options.iters or self.p["iters"]
        self.seed = options.seed
        self.device = resolve_device(options.device)
        self.autocast = options.precision == "bf16"
        self.distill = options.distill
        if self.autocast and not bf16_supported(self.device):
            raise BadInput(f"--precision bf16: this {self.device.type} has no bf16 support")
        self.scene = load_scene(options.data, self.p["resolution"], self.p["views"], self.p["test_views"])
        self.render = RenderConfig(self.p["coarse_samples"], self.p["fine_samples"], self.scene.white_background)
        train = self.scene.splits["train"]
        self.rays = tuple(t.to(self.device) for t in split_rays(self.scene, train))
        h, w = train.hw
        self.crop = centre_pixels(len(train.images), h, w, self.p["precrop_frac"]).to(self.device)
        self.precrop = self.p["precrop_iters"] if self.scene.white_background else 0
        test = self.scene.splits["test"]
        n_test = (
            len(test.images) if self.p["max_test_views"] is None else min(len(test.images), self.p["max_test_views"])
        )
        self.test = Split(
            test.images[:n_test], test.poses[:n_test], test.intrinsics[:n_test], test.names[:n_test], test.distortion
        )
        mean_colour = train.images.reshape(-1, 3).mean(0)
        self.constant_psnr = float(np.mean([psnr(mean_colour.expand_as(im), im) for im in self.test.images]))

    # --- models -------------------------------------------------------------------------------------
    def build(self, seed: int) -> dict[str, nn.Module]:
        torch.manual_seed(seed)
        return {"coarse": NeRFField().to(self.device), "fine": NeRFField().to(self.device)}

    def config(self, name: str) -> dict:
        return NeRFField().config_dict()

    def _points(self, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        g = torch.Generator(device=self.device).manual_seed(seed)
        idx = torch.randint(0, len(self.rays[0]), (n,), device=self.device, generator=g)
        o, d = self.rays[0][idx], self.rays[1][idx]
        near = torch.full((n, 1), self.scene.near, device=self.device)
        z = stratified(near, near - self.scene.near + self.scene.far, 1, True, g)
        return o + d * z, d / d.norm(dim=-1, keepdim=True)

    def example_inputs(self, name: str) -> tuple:
        return self._points(64, self.seed)

    def calibration_inputs(self, name: str) -> tuple:
        return self._points(4096, self.seed + 1)

    # --- training -----------------------------------------------------------------------------------
    def _batch(self, step: int) -> torch.Tensor:
        g = torch.Generator(device=self.device).manual_seed(self.seed * 1_000_003 + step)
        if step < self.precrop:
            pick = torch.randint(0, len(self.crop), (self.p["batch"],), device=self.device, generator=g)
            return self.crop[pick], g
        return torch.randint(0, len(self.rays[0]), (self.p["batch"],), device=self.device, generator=g), g

    def train(
        self, models, iters, state_path: Path | None, resume: bool, label: str, teacher=None
    ) -> training.TrainStats:
        def loss_at(step: int) -> torch.Tensor:
            idx, g = self._batch(step)
            o, d = self.rays[0][idx], self.rays[1][idx]
            out = render_rays(models, o, d, self.scene.near, self.scene.far, self.render, True, g, self.autocast)
            target = self.rays[2][idx]
            photometric = sum(torch.mean((out[k] - target) ** 2) for k in ("coarse", "fine") if k in out)
            if teacher is None:
                return photometric
            return (1 - self.distill) * photometric + self.distill * self._distillation(teacher, out["samples"], o, d)

        lr, decay = self.p["lr"], self.p["lr_decay_steps"]
        return training.train(
            models,
            loss_at,
            iters,
            lambda s: lr * 0.1 ** (s / decay),
            state_path,
            resume,
            checkpoint_every=max(10, min(500, iters // 10)),
            label=f"nerf {label}",
        )

    def _distillation(self, teacher, samples, origins, dirs) -> torch.Tensor:
        """Point-wise distillation: each field matches the dense one's colour and opacity at its own samples.

        Colour and per-segment opacity are both in [0, 1], so neither term dwarfs the other (raw densities
        span orders of magnitude); supervising every sample gives far more signal than a ray's colour.
        """
        loss = 0.0
        for name, (z, rgb, alpha) in samples.items():
            with torch.no_grad():
                t_rgb, t_sigma = query(teacher[name], origins, dirs, z, self.autocast)
                t_alpha = alphas(t_sigma, z, dirs)
            loss = loss + torch.mean((rgb - t_rgb) ** 2) + torch.mean((alpha - t_alpha) ** 2)
        return loss

    # --- evaluation ---------------------------------------------------------------------------------
    def evaluate(self, models) -> Evaluation:
        for m in models.values():
            m.eval()
        h, w = self.test.hw
        preds, seconds = [], 0.0
        for pose, intr in zip(self.test.poses, self.test.intrinsics):
            o, d = camera_rays(h, w, intr, pose, self.test.distortion)
            if self.scene.ndc:
                o, d = ndc_rays(h, w, float(intr[0]), 1.0, o, d)
            t0 = time.perf_counter()
            img = render_image(
                models,
                o.to(self.device),
                d.to(self.device),
                self.scene.near,
                self.scene.far,
                self.render,
                self.autocast,
            )
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
            seconds += time.perf_counter() - t0
            preds.append(img.reshape(h, w, 3).cpu())
        p = float(np.mean([psnr(a, b) for a, b in zip(preds, self.test.images)]))
        s = float(np.mean([ssim(a, b) for a, b in zip(preds, self.test.images)]))
        metrics = {
            "psnr": p,
            "ssim": s,
            "render_seconds": seconds / len(preds),
            "collapsed": p < self.constant_psnr + COLLAPSE_MARGIN_DB,
            "constant_colour_psnr": self.constant_psnr,
        }
        return Evaluation(metrics, preds)

    def write_visuals(self, out: Path, dense: Evaluation, pruned: Evaluation) -> list[str]:
        (out / "renders").mkdir(exist_ok=True)
        files = []
        for i, (gt, a, b) in enumerate(zip(self.test.images, dense.outputs, pruned.outputs)):
            strip = torch.cat([gt, a, b], dim=1).clamp(0, 1).mul(255).round().byte().numpy()
            rel = f"renders/test_{i:03d}_gt_dense_pruned.png"
            atomic_write(out / rel, lambda tmp, s=strip: Image.fromarray(s).save(tmp, format="PNG"))
            files.append(rel)
        return files

    def preview(self, evaluation: Evaluation):
        return evaluation.outputs[0].numpy()
