"""The NeRF task: rays from a scene, seeded batches, the NeRF schedule, evaluation and renders."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from prunekit import training
from prunekit.errors import BadInput
from prunekit.files import atomic_write
from prunekit.runtime import resolve_device, share
from prunekit.target import Evaluation, RunOptions, iterations, parse_options
from prunekit_nerf.data import Scene, Split, load_scene
from prunekit_nerf.fields import field_spec
from prunekit_nerf.metrics import psnr, ssim
from prunekit_nerf.presets import PRESETS, NerfOptions
from prunekit_nerf.rays import orbit, view_rays
from prunekit_nerf.render import RenderConfig, alphas, query, render_image, render_rays, two_stage
from prunekit_nerf.sampling import Draws, stratified

# A collapsed model renders (almost) nothing: its test rays are (almost) transparent, or its renders are
# near-flat where the ground truth is not. No better than a constant colour (+ 1 dB) is a second signal.
COLLAPSE_OPACITY = 0.01  # mean accumulated opacity of the test rays
COLLAPSE_SPREAD = 0.2  # std of the render ÷ std of the ground truth, per image, averaged
COLLAPSE_MARGIN_DB = 1.0


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


def spread_indices(total: int, n: int | None) -> list[int]:
    """``n`` of ``total`` view indices spread evenly over the whole split (every ``total/n``-th view), never
    the first ``n``: test cameras often follow a path (Blender's official test views circle the object), so
    the first views cover only an arc of it."""
    if n is None or n >= total:
        return list(range(total))
    return [i * total // n for i in range(n)]


def spread(split: Split, n: int | None) -> Split:
    idx = spread_indices(len(split.images), n)
    names = [split.names[i] for i in idx] if split.names else [f"view {i}" for i in idx]
    return Split(split.images[idx], split.poses[idx], split.intrinsics[idx], names, split.distortion)


def collapsed(metrics: dict) -> bool:
    """True when a model renders (almost) nothing, or nothing better than one constant colour."""
    return (
        metrics["opacity"] < COLLAPSE_OPACITY
        or metrics["spread_ratio"] < COLLAPSE_SPREAD
        or metrics["psnr"] < metrics["floor"] + COLLAPSE_MARGIN_DB
    )


class NerfTask:
    headline = "psnr"

    def __init__(self, options: RunOptions) -> None:
        self.p = dict(PRESETS[options.preset])
        self.iters, self.retrain_iters = iterations(options, self.p)
        self.seed = options.seed
        self.device = resolve_device(options.device)
        self.autocast = options.precision == "bf16"
        self.distill = options.distill
        if self.autocast and not bf16_supported(self.device):
            raise BadInput(f"--precision bf16: this {self.device.type} has no bf16 support")
        own = parse_options(NerfOptions, options.target_options, "nerf")
        self.field = field_spec(own.field)
        self.scene = load_scene(
            options.data, self.p["resolution"], self.p["views"], self.p["test_views"], factor=own.factor
        )
        self.field_configs = self.field.configs(self.scene)
        self.finetune_schedule = options.finetune_schedule
        self.render = RenderConfig(
            two_stage(self.p["coarse_samples"], self.p["fine_samples"]),
            self.scene.white_background,
            density_noise=self.scene.density_noise,
        )
        train = self.scene.splits["train"]
        self.rays = tuple(t.to(self.device) for t in split_rays(self.scene, train))
        h, w = train.hw
        self.crop = centre_pixels(len(train.images), h, w, self.p["precrop_frac"]).to(self.device)
        self.precrop = self.p["precrop_iters"] if self.scene.white_background else 0
        cap = self.p["max_test_views"]
        self.views = {name: spread(self.scene.splits[name], cap) for name in ("test", "val")}
        self.test = self.views["test"]
        mean_colour = train.images.reshape(-1, 3).mean(0)
        self.constant_psnr = {
            name: float(np.mean([psnr(mean_colour.expand_as(im), im) for im in views.images]))
            for name, views in self.views.items()
        }

    # --- models -------------------------------------------------------------------------------------
    def build(self, seed: int) -> dict[str, nn.Module]:
        torch.manual_seed(seed)
        return {name: self.field.cls(**kw).to(self.device) for name, kw in self.field_configs.items()}

    def config(self, name: str) -> dict:
        return self.field.cls(**self.field_configs[name]).config_dict()

    def _points(self, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        g = torch.Generator(device=self.device).manual_seed(seed)
        idx = torch.randint(0, len(self.rays[0]), (n,), device=self.device, generator=g)
        o, d, v = self.rays[0][idx], self.rays[1][idx], self.rays[2][idx]
        near = torch.full((n, 1), self.scene.near, device=self.device)
        z = stratified(near, near - self.scene.near + self.scene.far, 1, True, g)
        return o + d * z, v

    def example_inputs(self, name: str) -> tuple:
        return self._points(64, self.seed)

    def calibration_inputs(self, name: str) -> tuple:
        return self._points(4096, self.seed + 1)

    # --- training -----------------------------------------------------------------------------------
    def _batch(self, step: int, phase: str) -> tuple[torch.Tensor, torch.Generator]:
        """Ray indices of one step, seeded by (seed, phase, step). Training from scratch (the dense model,
        ``--retrain scratch``) starts on the central crop of the images; fine-tuning never does."""
        g = torch.Generator(device=self.device).manual_seed(training.batch_seed(self.seed, step, phase))
        if phase != "finetune" and step < self.precrop:
            pick = torch.randint(0, len(self.crop), (self.p["batch"],), device=self.device, generator=g)
            return self.crop[pick], g
        return torch.randint(0, len(self.rays[0]), (self.p["batch"],), device=self.device, generator=g), g

    def train(
        self,
        models,
        iters,
        state_path: Path | None,
        resume: bool,
        label: str,
        teacher=None,
        phase: str = "dense",
    ) -> training.TrainStats:
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

        return training.train(
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
        lr, decay = self.field.lr or self.p["lr"], self.p["lr_decay_steps"]
        preset = lambda s: lr * 0.1 ** (s / decay)  # noqa: E731
        if self.finetune_schedule != "cosine":
            return preset
        if phase == "finetune":
            return training.cosine(lr, iters)
        if phase == "dense" and iters > self.iters:
            tail = training.cosine(preset(self.iters), iters - self.iters)
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

    # --- evaluation ---------------------------------------------------------------------------------
    def camera_rays(self, pose, intr, h: int, w: int, distortion=None) -> tuple[torch.Tensor, ...]:
        """Origins, directions and view directions (each (H·W, 3), on the task's device) of any camera."""
        rays = view_rays(h, w, intr, pose, distortion, self.scene.ndc_frustum)
        return tuple(t.to(self.device) for t in rays)

    def shade(self, models, origins, dirs, viewdirs) -> tuple[torch.Tensor, torch.Tensor, float]:
        """Colours (R, 3) and opacities (R,) of rays, on the CPU, and the seconds the models took."""
        t0 = time.perf_counter()
        rgb, acc = render_image(
            models, origins, dirs, self.scene.near, self.scene.far, self.render, self.autocast, viewdirs=viewdirs
        )
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return rgb.cpu(), acc.cpu(), time.perf_counter() - t0

    def render_view(self, models, pose, intr, h: int, w: int, distortion=None) -> tuple[torch.Tensor, float, float]:
        """One view's image (H, W, 3) on the CPU, its mean opacity and the seconds it took."""
        rgb, acc, seconds = self.shade(models, *self.camera_rays(pose, intr, h, w, distortion))
        return rgb.reshape(h, w, 3), float(acc.mean()), seconds

    def evaluate(self, models, split: str = "test") -> Evaluation:
        if split not in self.views:
            raise BadInput(f"split must be test or val, got {split!r}")
        views = self.views[split]
        for m in models.values():
            m.eval()
        h, w = views.hw
        rendered = [
            self.render_view(models, p, k, h, w, views.distortion) for p, k in zip(views.poses, views.intrinsics)
        ]
        preds = [img for img, _, _ in rendered]
        p = float(np.mean([psnr(a, b) for a, b in zip(preds, views.images)]))
        s = float(np.mean([ssim(a, b) for a, b in zip(preds, views.images)]))
        spread = float(np.mean([float(a.std() / b.std().clamp_min(1e-6)) for a, b in zip(preds, views.images)]))
        opacity = [acc for _, acc, _ in rendered]
        seconds = sum(sec for _, _, sec in rendered)
        metrics = {
            "psnr": p,
            "ssim": s,
            "render_seconds": seconds / len(preds),
            "opacity": float(np.mean(opacity)),
            "spread_ratio": spread,
            "floor": self.constant_psnr[split],  # the PSNR of the training images' mean colour everywhere
        }
        metrics["collapsed"] = collapsed(metrics)
        metrics["views"] = list(views.names)  # which views every figure above was computed on
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

    def turntable(self, models, frames: int) -> list[np.ndarray]:
        """Renders from cameras circling the scene (see :func:`prunekit_nerf.rays.orbit`)."""
        for m in models.values():
            m.eval()
        train = self.scene.splits["train"]
        h, w = self.test.hw
        return [
            self.render_view(models, pose, self.test.intrinsics[0], h, w)[0].numpy()
            for pose in orbit(train.poses, frames, self.scene.ndc)
        ]
