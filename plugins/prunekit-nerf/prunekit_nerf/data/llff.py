"""LLFF forward-facing captures: poses_bounds.npy beside images/, images_4/, images_8/.

Each row of poses_bounds.npy is a 3x5 matrix [R | t | (h, w, f)] in LLFF's (down, right, back) axes,
then near and far depths. Poses are recentred on their average and scaled so the nearest depth is
about 1/0.75; rays are rendered in NDC; every 8th view is held out (as in the NeRF paper). Training adds
noise of std 1 to raw densities, as nerf-pytorch's LLFF configurations do.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from prunekit.errors import BadInput
from prunekit_nerf.data.images import EXTENSIONS, read_images
from prunekit_nerf.data.scene import Scene, Split

HOLDOUT = 8


def _average_pose(poses: np.ndarray) -> np.ndarray:
    centre = poses[:, :3, 3].mean(0)
    z = poses[:, :3, 2].sum(0)
    z /= np.linalg.norm(z)
    up = poses[:, :3, 1].sum(0)
    x = np.cross(up, z)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    m = np.eye(4)
    m[:3, :4] = np.stack([x, y, z, centre], 1)
    return m


def load(root: Path, factor: int | None = None) -> Scene:
    try:
        raw = np.load(root / "poses_bounds.npy", allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise BadInput(f"{root / 'poses_bounds.npy'} cannot be read: {exc}") from None
    if raw.ndim != 2 or raw.shape[1] != 17 or len(raw) == 0:
        raise BadInput(f"{root / 'poses_bounds.npy'} must be an (N, 17) array, got {list(raw.shape)}")
    if not np.isfinite(raw).all():
        row = int(np.nonzero(~np.isfinite(raw).all(1))[0][0])
        raise BadInput(f"{root / 'poses_bounds.npy'}: row {row} has NaN or Inf")
    folders = [(f, root / (f"images_{f}" if f > 1 else "images")) for f in ((factor,) if factor else (8, 4, 1))]
    folder = next((d for _, d in folders if d.is_dir()), None)
    if folder is None:
        raise BadInput(f"{root}: no images/, images_4/ or images_8/ folder")
    paths = sorted(p for p in folder.iterdir() if p.suffix in EXTENSIONS)
    if len(paths) != len(raw):
        raise BadInput(f"{folder}: {len(paths)} images but poses_bounds.npy has {len(raw)} rows")
    images = read_images(paths, False, "all")
    h, w = images.shape[1:3]
    mats = raw[:, :15].reshape(-1, 3, 5)
    bounds = raw[:, 15:]
    h0, w0, f0 = mats[0, :, 4]
    focal = float(f0) * w / float(w0)
    # (down, right, back) → (right, up, back)
    mats = np.concatenate([mats[:, :, 1:2], -mats[:, :, 0:1], mats[:, :, 2:4]], axis=2)
    scale = 1.0 / (bounds.min() * 0.75)
    mats[:, :3, 3] *= scale
    poses = np.tile(np.eye(4), (len(mats), 1, 1))
    poses[:, :3, :4] = mats
    poses = np.linalg.inv(_average_pose(poses)) @ poses
    poses_t = torch.tensor(poses, dtype=torch.float32)
    intr = torch.tensor([[focal, focal, w / 2, h / 2]] * len(raw), dtype=torch.float32)
    test = list(range(0, len(raw), HOLDOUT))
    train = [i for i in range(len(raw)) if i not in test] or test

    def split(idx: list[int]) -> Split:
        return Split(images[idx], poses_t[idx], intr[idx], [paths[i].name for i in idx])

    splits = {"train": split(train), "test": split(test)}
    splits["val"] = splits["test"]
    return Scene(root.name, splits, near=0.0, far=1.0, white_background=False, ndc=True, density_noise=1.0)
