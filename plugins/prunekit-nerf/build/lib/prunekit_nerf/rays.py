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


def view_rays(
    height: int,
    width: int,
    intrinsics: torch.Tensor,
    c2w: torch.Tensor,
    distortion: tuple[float, float, float, float] | None = None,
    ndc: tuple[int, int, float] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Origins, directions and unit view directions of one camera's rays, each (H·W, 3).

    ``ndc``: the (height, width, focal) of the frustum that defines a forward-facing scene's NDC warp
    (its training cameras', see ``Scene.ndc_frustum``), so a novel camera of another size or focal
    lands in the same space. The view directions stay the world-space ones (as in nerf-pytorch): the
    warp would bend them by the ray's position on screen.
    """
    origins, dirs = camera_rays(height, width, intrinsics, c2w, distortion)
    viewdirs = dirs / dirs.norm(dim=-1, keepdim=True)
    if ndc is not None:
        origins, dirs = ndc_rays(*ndc, 1.0, origins, dirs)
    return origins, dirs, viewdirs


def look_at(eye: torch.Tensor, target: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
    """The camera-to-world matrix (OpenGL: x right, y up, looking down −z) of a camera at ``eye``. (The
    built-in scene's cameras are made here too: the order of operations is theirs, so its images stay
    bit for bit what they were.)"""
    forward = (target - eye) / (target - eye).norm()
    right = torch.linalg.cross(forward, up)
    right = right / right.norm()
    m = torch.eye(4)
    m[:3, 0], m[:3, 1], m[:3, 2], m[:3, 3] = right, torch.linalg.cross(right, forward), -forward, eye
    return m


def orbit(poses: torch.Tensor, frames: int, ndc: bool = False) -> list[torch.Tensor]:
    """Camera poses for a turntable video, fitted to a scene's training cameras.

    Inward-facing scenes: a circle around the world origin about the cameras' mean up vector, at their
    mean distance and height. Forward-facing (NDC) scenes: a small circle in the mean camera's plane,
    keeping its orientation.
    """
    poses = poses.float()
    centres = poses[:, :3, 3]
    angles = torch.arange(frames, dtype=torch.float32) * (2 * torch.pi / frames)
    if ndc:
        radius = 0.5 * float((centres - centres.mean(0)).norm(dim=-1).mean().clamp_min(1e-3))
        base = poses[0].clone()
        base[:3, 3] = centres.mean(0)
        out = []
        for a in angles:
            pose = base.clone()
            pose[:3, 3] += radius * (torch.cos(a) * base[:3, 0] + torch.sin(a) * base[:3, 1])
            out.append(pose)
        return out
    up = poses[:, :3, 1].mean(0)
    up = up / up.norm()
    height = float((centres @ up).mean())
    ground = (float(centres.norm(dim=-1).mean()) ** 2 - height**2) ** 0.5
    e1 = torch.linalg.cross(
        up, torch.tensor([1.0, 0.0, 0.0]) if abs(float(up[0])) < 0.9 else torch.tensor([0.0, 1.0, 0.0])
    )
    e1 = e1 / e1.norm()
    e2 = torch.linalg.cross(up, e1)
    eyes = [height * up + ground * (torch.cos(a) * e1 + torch.sin(a) * e2) for a in angles]
    return [look_at(eye, torch.zeros(3), up) for eye in eyes]
