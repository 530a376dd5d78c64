"""The NeRF task: what `prunekit run nerf` trains, prunes and scores. It holds the scene, its rays and
views, and builds the fields; training (``train``), scoring (``evaluation``) and pictures (``outputs``)
live in their own modules, as mixins of one task object."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from prunekit.plugin import BadInput, RunOptions, TaskBase, iterations, parse_options, resolve_device
from prunekit_nerf.data import detect, load_scene
from prunekit_nerf.evaluation import Evaluator, spread
from prunekit_nerf.fields import field_spec
from prunekit_nerf.metrics import psnr
from prunekit_nerf.outputs import Outputs
from prunekit_nerf.presets import PRESETS, NerfOptions
from prunekit_nerf.render import RenderConfig, two_stage
from prunekit_nerf.sampling import stratified
from prunekit_nerf.train import Trainer, bf16_supported, centre_pixels, split_rays


class NerfTask(Trainer, Evaluator, Outputs, TaskBase):
    headline = "psnr"
    ratios = ("render_seconds",)

    def __init__(self, options: RunOptions) -> None:
        self.p = PRESETS[options.preset]
        self.iters, self.retrain_iters = iterations(options, self.p)
        self.seed = options.seed
        self.device = resolve_device(options.device)
        self.autocast = options.precision == "bf16"
        self.distill = options.distill
        if self.autocast and not bf16_supported(self.device):
            raise BadInput(f"--precision bf16: this {self.device.type} has no bf16 support")
        own = parse_options(NerfOptions, options.target_options, "nerf")
        self.field = field_spec(own.field)
        if own.factor < 1:
            raise BadInput(f"-O factor={own.factor}: an LLFF downscaling factor is a positive integer (images_8: 8)")
        if "factor" in options.target_options and (options.data is None or detect(Path(options.data)) != "llff"):
            what = (
                "the built-in scene"
                if options.data is None
                else f"{options.data}, a {detect(Path(options.data))} scene"
            )
            raise BadInput(f"-O factor applies to LLFF captures only, not to {what}")
        self.scene = load_scene(options.data, self.p.resolution, self.p.views, self.p.test_views, factor=own.factor)
        self.field_configs = self.field.configs(self.scene)
        self.finetune_schedule = options.finetune_schedule
        self.render = RenderConfig(
            two_stage(self.p.coarse_samples, self.p.fine_samples),
            self.scene.white_background,
            density_noise=self.scene.density_noise,
        )
        train = self.scene.splits["train"]
        self.rays = tuple(t.to(self.device) for t in split_rays(self.scene, train))
        h, w = train.hw
        self.crop = centre_pixels(len(train.images), h, w, self.p.precrop_frac).to(self.device)
        self.precrop = self.p.precrop_iters if self.scene.white_background else 0
        cap = self.p.max_test_views
        self.views = {name: spread(self.scene.splits[name], cap) for name in ("test", "val")}
        self.test = self.views["test"]
        mean_colour = train.images.reshape(-1, 3).mean(0)
        self.constant_psnr = {
            name: float(np.mean([psnr(mean_colour.expand_as(im), im) for im in views.images]))
            for name, views in self.views.items()
        }

    def build(self, seed: int) -> dict[str, nn.Module]:
        torch.manual_seed(seed)
        return {name: self.field.cls(**kw).to(self.device) for name, kw in self.field_configs.items()}

    def config(self, name: str) -> dict:
        with torch.device("meta"):  # the field's full config, without allocating its weights (hash tables)
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
