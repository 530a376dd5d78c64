"""Camera rays (OpenGL convention: camera looks down -z, y up) and NDC rays for forward-facing scenes."""

from __future__ import annotations

import torch


def undistort(u: torch.Tensor, v: torch.Tensor, k1: float, k2: float, p1: float, p2: float, iters: int = 10):
    """Invert the radial-tangential (OpenCV) distortion of normalised image coordinates by fixed point."""
    x, y = u.clone(), v.clone()
    for _ in range(iters):
        r2 = x * x + y * y
        radial = 1 + k1 * r2 + k2 * r2 * r2
        dx = 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
        dy = p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
        x, y = (u - dx) / radial, (v - dy) / radial
    return x, y


def camera_rays(
    height: int,
    width: int,
    intrinsics: torch.Tensor,
    c2w: torch.Tensor,
    distortion: tuple[float, float, float, float] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Origins and (unnormalised) directions of every pixel's ray, each (H·W, 3), pixel centres at +0.5."""
    fx, fy, cx, cy = (float(v) for v in intrinsics)
    j, i = torch.meshgrid(
        torch.arange(height, dtype=torch.float32) + 0.5, torch.arange(width, dtype=torch.float32) + 0.5, indexing="ij"
    )
    u, v = (i - cx) / fx, (j - cy) / fy
    if distortion is not None and any(distortion):
        u, v = undistort(u, v, *distortion)
    dirs_cam = torch.stack([u, -v, -torch.ones_like(u)], dim=-1).reshape(-1, 3)
    c2w = c2w.float()
    dirs = dirs_cam @ c2w[:3, :3].T
    origins = c2w[:3, 3].expand_as(dirs)
    return origins.contiguous(), dirs.contiguous()


def ndc_rays(height: int, width: int, focal: float, near: float, origins: torch.Tensor, dirs: torch.Tensor):
    """Map rays into normalised device coordinates (LLFF): the frustum from ``near`` to infinity → [-1, 1]^3."""
    t = -(near + origins[..., 2]) / dirs[..., 2]
    origins = origins + t[..., None] * dirs
    ox, oy, oz = origins.unbind(-1)
    dx, dy, dz = dirs.unbind(-1)
    o = torch.stack([-focal / (width / 2) * ox / oz, -focal / (height / 2) * oy / oz, 1 + 2 * near / oz], -1)
    d = torch.stack(
        [-focal / (width / 2) * (dx / dz - ox / oz), -focal / (height / 2) * (dy / dz - oy / oz), -2 * near / oz], -1
    )
    return o, d
