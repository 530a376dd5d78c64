"""Volume rendering of a batch of rays through a list of sampling stages, and chunked full images.

A stage names the model it queries and how many depths it adds per ray: the first draws stratified
depths between near and far, each later one draws from the previous stage's weights (hierarchical
sampling) and queries its model at all depths so far. The NeRF paper's coarse + fine pair is
``two_stage(64, 128)``; a proposal network or a third pass is another entry, not another code path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from prunekit_nerf.field import Field
from prunekit_nerf.sampling import Draws, draws, hierarchical, stratified


@dataclass(frozen=True)
class Stage:
    model: str  # the key of the field it queries in the models dict
    samples: int  # depths it adds per ray


def two_stage(coarse: int, fine: int) -> tuple[Stage, ...]:
    """The NeRF paper's passes: ``coarse`` stratified depths, then ``fine`` more drawn from its weights."""
    return (Stage("coarse", coarse), Stage("fine", fine))


@dataclass(frozen=True)
class RenderConfig:
    stages: tuple[Stage, ...] = two_stage(64, 128)
    white_background: bool = True
    chunk: int | None = None  # rays per forward pass when rendering whole images (None: rays_per_pass)
    density_noise: float = 0.0  # std of Gaussian noise on raw density while training (nerf-pytorch: 1 for LLFF)


def rays_per_pass(cfg: RenderConfig, device: torch.device) -> int:
    """How many rays one forward pass renders: ``cfg.chunk``, else by device. On a CPU a few dozen rays
    keep a layer's activations (rays × samples × width floats) in cache: 64 rays a pass rendered 1.6× (256
    wide) to 2× (64 wide) faster than 8192 on one Xeon core (bench/render_chunk.py); a GPU wants thousands."""
    return cfg.chunk or (8192 if device.type == "cuda" else 64)


def alphas(sigma: torch.Tensor, z: torch.Tensor, dirs: torch.Tensor) -> torch.Tensor:
    """Opacity of each sample's segment (R, S), in [0, 1]; the last segment reaches infinity."""
    deltas = torch.cat([z[:, 1:] - z[:, :-1], torch.full_like(z[:, :1], 1e10)], dim=-1) * dirs.norm(
        dim=-1, keepdim=True
    )
    return 1.0 - torch.exp(-torch.relu(sigma) * deltas)


def composite(rgb: torch.Tensor, alpha: torch.Tensor, white: bool):
    """Alpha-composite samples along each ray: returns (colour (R, 3), weights (R, S), opacity (R,))."""
    transmittance = torch.cumprod(torch.cat([torch.ones_like(alpha[:, :1]), 1.0 - alpha + 1e-10], -1), -1)[:, :-1]
    weights = alpha * transmittance
    colour = (weights[..., None] * rgb).sum(dim=1)
    opacity = weights.sum(dim=1)
    if white:
        colour = colour + (1.0 - opacity[:, None])
    return colour, weights, opacity


def query(field: Field, origins, dirs, z, autocast: bool, viewdirs=None) -> tuple[torch.Tensor, torch.Tensor]:
    """The field's raw colour (R, S, 3) and density (R, S) at depths ``z`` (R, S) along each ray.

    ``viewdirs`` (R, 3), unit vectors, are what the field sees as the view direction; by default the rays'
    own directions. NDC scenes pass the world-space directions, as the reference does.
    """
    points = origins[:, None, :] + dirs[:, None, :] * z[..., None]
    if viewdirs is None:
        viewdirs = dirs / dirs.norm(dim=-1, keepdim=True)
    viewdirs = viewdirs[:, None, :].expand_as(points)
    with torch.autocast(points.device.type, dtype=torch.bfloat16, enabled=autocast):
        rgb, sigma = field(points.reshape(-1, 3), viewdirs.reshape(-1, 3))
    shape = z.shape
    return rgb.float().reshape(*shape, 3), sigma.float().reshape(shape)


def _noisy(sigma: torch.Tensor, std: float, generator) -> torch.Tensor:
    """Raw density plus N(0, std²) noise: the reference's regulariser against floaters on real scenes."""
    if std == 0:
        return sigma
    return sigma + std * draws(generator).randn(sigma.shape[0], sigma.shape[1], sigma.device)


def render_rays(
    models: dict[str, Field],
    origins: torch.Tensor,
    dirs: torch.Tensor,
    near: float,
    far: float,
    cfg: RenderConfig,
    perturb: bool,
    generator: torch.Generator | Draws | None = None,
    autocast: bool = False,
    viewdirs: torch.Tensor | None = None,
):
    """Colours of rays (R, 3) after each stage whose model is given, under that model's name, and the
    last stage's accumulated ``'opacity'``; ``out['final']`` names the last stage rendered.

    ``out['samples'][name]`` holds each field's depths, colours and segment opacities, for distillation.
    With ``perturb`` (training), depths are jittered and ``cfg.density_noise`` is added to raw densities.
    """
    n = origins.shape[0]
    noise = cfg.density_noise if perturb else 0.0
    out: dict = {"samples": {}}
    z = weights = None
    for stage in cfg.stages:
        if stage.model not in models or stage.samples == 0:
            continue
        if z is None:
            z = stratified(
                torch.full((n, 1), near, device=origins.device),
                torch.full((n, 1), far, device=origins.device),
                stage.samples,
                perturb,
                generator,
            )
        else:
            z, _ = torch.sort(torch.cat([z, hierarchical(z, weights, stage.samples, perturb, generator)], -1), -1)
        rgb, sigma = query(models[stage.model], origins, dirs, z, autocast, viewdirs)
        alpha = alphas(_noisy(sigma, noise, generator), z, dirs)
        out[stage.model], weights, out["opacity"] = composite(rgb, alpha, cfg.white_background)
        out["samples"][stage.model] = (z, rgb, alpha)
        out["final"] = stage.model
    return out


@torch.no_grad()
def render_image(
    models: dict[str, Field],
    origins: torch.Tensor,
    dirs: torch.Tensor,
    near: float,
    far: float,
    cfg: RenderConfig,
    autocast: bool = False,
    viewdirs: torch.Tensor | None = None,
    advance: Callable[[], None] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The final colour (R, 3) and accumulated opacity (R,) of every ray, ``rays_per_pass`` rays at a
    time; ``advance()`` is called after each chunk (a progress bar)."""
    colours, opacities = [], []
    chunk = rays_per_pass(cfg, origins.device)
    for s in range(0, origins.shape[0], chunk):
        part = slice(s, s + chunk)
        out = render_rays(
            models,
            origins[part],
            dirs[part],
            near,
            far,
            cfg,
            False,
            autocast=autocast,
            viewdirs=None if viewdirs is None else viewdirs[part],
        )
        colours.append(out[out["final"]])
        opacities.append(out["opacity"])
        if advance is not None:
            advance()
    return torch.cat(colours).clamp(0, 1), torch.cat(opacities)
