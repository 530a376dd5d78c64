"""Scoring a NeRF: test and validation views spread over their split, PSNR and SSIM, and the collapse rule."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np
import torch

from prunekit.plugin import BadInput, Evaluation, progress_bar
from prunekit_nerf.data import Split
from prunekit_nerf.metrics import psnr, ssim
from prunekit_nerf.rays import view_rays
from prunekit_nerf.render import rays_per_pass, render_image

# A collapsed model renders (almost) nothing: its test rays are (almost) transparent, or its renders are
# near-flat where the ground truth is not. No better than a constant colour (+ 1 dB) is a second signal.
COLLAPSE_OPACITY = 0.01  # mean accumulated opacity of the test rays
COLLAPSE_SPREAD = 0.2  # std of the render ÷ std of the ground truth, per image, averaged
COLLAPSE_MARGIN_DB = 1.0


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


class Evaluator:
    """The NeRF task's renders of any camera and scores of a split's views. Reads the task's ``scene``,
    ``device``, ``render``, ``autocast``, ``views`` and ``constant_psnr``."""

    def camera_rays(self, pose, intr, h: int, w: int, distortion=None) -> tuple[torch.Tensor, ...]:
        """Origins, directions and view directions (each (H·W, 3), on the task's device) of any camera."""
        rays = view_rays(h, w, intr, pose, distortion, self.scene.ndc_frustum)
        return tuple(t.to(self.device) for t in rays)

    def shade(
        self, models, origins, dirs, viewdirs, advance: Callable[[], None] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, float]:
        """Colours (R, 3) and opacities (R,) of rays, on the CPU, and the seconds the models took;
        ``advance()`` after each chunk of rays."""
        t0 = time.perf_counter()
        rgb, acc = render_image(
            models, origins, dirs, self.scene.near, self.scene.far, self.render, self.autocast, viewdirs, advance
        )
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return rgb.cpu(), acc.cpu(), time.perf_counter() - t0

    def render_view(
        self, models, pose, intr, h: int, w: int, distortion=None, advance: Callable[[], None] | None = None
    ) -> tuple[torch.Tensor, float, float]:
        """One view's image (H, W, 3) on the CPU, its mean opacity and the seconds it took."""
        rgb, acc, seconds = self.shade(models, *self.camera_rays(pose, intr, h, w, distortion), advance)
        return rgb.reshape(h, w, 3), float(acc.mean()), seconds

    def evaluate(self, models, split: str = "test") -> Evaluation:
        if split not in self.views:
            raise BadInput(f"split must be test or val, got {split!r}")
        views = self.views[split]
        for m in models.values():
            m.eval()
        h, w = views.hw
        chunks = len(views.poses) * math.ceil(h * w / rays_per_pass(self.render, self.device))  # minutes a view
        with progress_bar(f"nerf evaluate {split}", chunks) as advance:
            rendered = [
                self.render_view(models, p, k, h, w, views.distortion, advance)
                for p, k in zip(views.poses, views.intrinsics)
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
