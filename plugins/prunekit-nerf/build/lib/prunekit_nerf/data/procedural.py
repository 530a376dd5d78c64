"""The built-in scene: coloured spheres rendered analytically, so `prunekit run nerf` needs no download.

Cameras sit on the upper hemisphere at radius 4 looking at the origin, as in the Blender scenes (near 2,
far 6, white background, camera_angle_x of the lego scene). Shading is Lambertian under a fixed light and
baked into the colour, so the scene is view-independent but not flat.
"""

from __future__ import annotations

import math

import torch

from prunekit_nerf.data.scene import Scene, Split
from prunekit_nerf.rays import camera_rays, look_at

ANGLE_X = 0.6911112070083618
SPHERES = torch.tensor(
    [  # x, y, z, radius, r, g, b
        [0.0, 0.0, 0.0, 0.8, 0.85, 0.25, 0.2],
        [0.9, 0.5, 0.3, 0.45, 0.2, 0.6, 0.9],
        [-0.7, -0.6, 0.5, 0.4, 0.95, 0.8, 0.2],
        [-0.3, 0.8, -0.6, 0.35, 0.3, 0.8, 0.35],
    ]
)
LIGHT = torch.tensor([0.4, 0.5, 0.77])


def shade(origins: torch.Tensor, dirs: torch.Tensor) -> torch.Tensor:
    d = dirs / dirs.norm(dim=-1, keepdim=True)
    best_t = torch.full(d.shape[:1], math.inf)
    colour = torch.ones_like(d)
    light = LIGHT / LIGHT.norm()
    for cx, cy, cz, r, *rgb in SPHERES.tolist():
        oc = origins - torch.tensor([cx, cy, cz])
        b = (oc * d).sum(-1)
        disc = b * b - (oc * oc).sum(-1) + r * r
        t = -b - disc.clamp_min(0).sqrt()
        hit = (disc > 0) & (t > 0) & (t < best_t)
        normal = (oc + t[:, None] * d) / r
        lambert = 0.35 + 0.65 * (normal @ light).clamp_min(0)
        colour = torch.where(hit[:, None], torch.tensor(rgb) * lambert[:, None], colour)
        best_t = torch.where(hit, t, best_t)
    return colour


def load(resolution: int = 32, views: int = 24, test_views: int = 4, seed: int = 0) -> Scene:
    g = torch.Generator().manual_seed(seed)
    focal = 0.5 * resolution / math.tan(0.5 * ANGLE_X)
    intr = torch.tensor([focal, focal, resolution / 2, resolution / 2])
    splits = {}
    for name, n in (("train", views), ("test", test_views)):
        azimuth = torch.rand(n, generator=g) * 2 * math.pi
        elevation = torch.rand(n, generator=g) * 1.2 + 0.1
        poses, images = [], []
        for a, e in zip(azimuth.tolist(), elevation.tolist()):
            eye = 4.0 * torch.tensor([math.cos(a) * math.cos(e), math.sin(a) * math.cos(e), math.sin(e)])
            pose = look_at(eye, torch.zeros(3), torch.tensor([0.0, 0.0, 1.0]))
            o, d = camera_rays(resolution, resolution, intr, pose)
            images.append(shade(o, d).reshape(resolution, resolution, 3))
            poses.append(pose)
        splits[name] = Split(
            torch.stack(images), torch.stack(poses), intr.expand(n, 4).clone(), [f"{name}_{i}" for i in range(n)]
        )
    splits["val"] = splits["test"]
    return Scene("spheres", splits, near=2.0, far=6.0, white_background=True)
