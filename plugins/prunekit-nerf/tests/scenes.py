"""Small scenes written to disk in each real format, rendered from the built-in analytic scene."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from prunekit_nerf.data.procedural import ANGLE_X, shade
from prunekit_nerf.rays import camera_rays, look_at


def _views(n: int, size: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    focal = 0.5 * size / math.tan(0.5 * ANGLE_X)
    intr = torch.tensor([focal, focal, size / 2, size / 2])
    for _ in range(n):
        a, e = float(torch.rand((), generator=g)) * 6.28, 0.2 + float(torch.rand((), generator=g))
        eye = 4.0 * torch.tensor([math.cos(a) * math.cos(e), math.sin(a) * math.cos(e), math.sin(e)])
        pose = look_at(eye, torch.zeros(3), torch.tensor([0.0, 0.0, 1.0]))
        o, d = camera_rays(size, size, intr, pose)
        yield pose, shade(o, d).reshape(size, size, 3)


def _png(path: Path, rgb: torch.Tensor, mode: str = "RGBA") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = (rgb.clamp(0, 1).numpy() * 255).round().astype(np.uint8)
    if mode == "RGBA":
        alpha = (np.abs(arr.astype(int) - 255).sum(-1) > 0).astype(np.uint8) * 255
        arr = np.concatenate([arr, alpha[..., None]], -1)
    Image.fromarray(arr, mode=mode).save(path)


def write_blender(root: Path, size: int = 12, counts=(6, 2, 2), with_extension: bool = False) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    views = _views(sum(counts), size)
    for split, n in zip(("train", "val", "test"), counts):
        frames = []
        for i in range(n):
            pose, img = next(views)
            _png(root / split / f"r_{i}.png", img)
            frames.append(
                {
                    "file_path": f"./{split}/r_{i}" + (".png" if with_extension else ""),
                    "transform_matrix": pose.tolist(),
                }
            )
        (root / f"transforms_{split}.json").write_text(json.dumps({"camera_angle_x": ANGLE_X, "frames": frames}))
    return root


def write_transforms(root: Path, size: int = 12, n: int = 9) -> Path:
    """instant-ngp style: fl_x/fl_y/cx/cy/w/h for full-size images, the images downsampled 2x, RGB only."""
    root.mkdir(parents=True, exist_ok=True)
    frames = []
    for i, (pose, img) in enumerate(_views(n, size)):
        _png(root / "images" / f"frame_{i:04d}.jpg".replace(".jpg", ".png"), img, mode="RGB")
        frames.append({"file_path": f"images/frame_{i:04d}.png", "transform_matrix": pose.tolist()})
    focal = 0.5 * size / math.tan(0.5 * ANGLE_X)
    meta = {
        "fl_x": 2 * focal,
        "fl_y": 2 * focal,
        "cx": size,
        "cy": size,
        "w": 2 * size,
        "h": 2 * size,
        "k1": 0.0,
        "k2": 0.0,
        "p1": 0.0,
        "p2": 0.0,
        "frames": frames,
    }
    (root / "transforms.json").write_text(json.dumps(meta))
    return root


def write_llff(root: Path, size: int = 12, n: int = 9) -> Path:
    """Forward-facing cameras on a small grid at z = 4, looking down -z; poses in LLFF's (down, right, back)."""
    (root / "images_8").mkdir(parents=True, exist_ok=True)
    focal = 0.5 * size / math.tan(0.5 * ANGLE_X)
    intr = torch.tensor([focal, focal, size / 2, size / 2])
    rows = []
    for i in range(n):
        pose = torch.eye(4)
        pose[:3, 3] = torch.tensor([(i % 3 - 1) * 0.3, (i // 3 - 1) * 0.3, 4.0])
        o, d = camera_rays(size, size, intr, pose)
        _png(root / "images_8" / f"img_{i:03d}.png", shade(o, d).reshape(size, size, 3), mode="RGB")
        r = pose[:3, :4].numpy()
        llff = np.concatenate([-r[:, 1:2], r[:, 0:1], r[:, 2:4]], 1)
        hwf = np.array([[size * 8], [size * 8], [focal * 8]])
        rows.append(np.concatenate([np.concatenate([llff, hwf], 1).reshape(-1), [2.0, 6.0]]))
    np.save(root / "poses_bounds.npy", np.array(rows, dtype=np.float64))
    return root
