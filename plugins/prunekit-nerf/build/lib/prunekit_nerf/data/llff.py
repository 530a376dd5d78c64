"""LLFF forward-facing captures: poses_bounds.npy beside images/, images_4/, images_8/.

Each row of poses_bounds.npy is a 3x5 matrix [R | t | (h, w, f)] in LLFF's (down, right, back) axes,
then near and far depths. Poses are recentred on their average and scaled so the nearest depth is
about 1/0.75; rays are rendered in NDC; every 8th view is held out for test (views 0, 8, 16, …, as in the
NeRF paper). Training adds noise of std 1 to raw densities, as nerf-pytorch's LLFF configurations do.

Settings are chosen on a validation split that is not the test split: the views halfway between two test
views (4, 12, 20, …) are held out of training as well, so a 20-view capture trains on 15 views.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from prunekit.plugin import BadInput
from prunekit_nerf.data.images import EXTENSIONS, read_images
from prunekit_nerf.data.scene import Scene, Split

HOLDOUT = 8
FACTOR = 8  # the NeRF paper's LLFF resolution (images_8/)


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


def _check_cameras(raw: np.ndarray, where: Path) -> None:
    """Rotations that are rotations, positive focal lengths and image sizes, 0 < near < far: all-zero rows
    or a negative near bound are bad data, named here rather than ending in a NaN loss."""
    mats = raw[:, :15].reshape(-1, 3, 5)
    for i, m in enumerate(mats):
        det = float(np.linalg.det(m[:, :3]))
        if not 0.5 < abs(det) < 2.0:
            raise BadInput(f"{where}: row {i} has no rotation matrix (determinant {det:.3g}; all zeros?)")
        if (m[:, 4] <= 0).any():
            raise BadInput(f"{where}: row {i} needs a positive height, width and focal length, got {m[:, 4].tolist()}")
    near, far = raw[:, 15], raw[:, 16]
    bad = np.nonzero(~((near > 0) & (far > near)))[0]
    if len(bad):
        i = int(bad[0])
        raise BadInput(f"{where}: row {i} needs 0 < near < far, got near {near[i]:.3g}, far {far[i]:.3g}")


def load(root: Path, factor: int = FACTOR) -> Scene:
    """The capture at ``root``, its images downscaled ``factor`` times (from ``images_{factor}/``, or
    ``images/`` for 1); a missing folder is an error, never a silent switch to another resolution."""
    if not (root / "poses_bounds.npy").is_file():  # a FIFO under that name would block the reader
        raise BadInput(f"{root / 'poses_bounds.npy'} is not a regular file")
    try:
        raw = np.load(root / "poses_bounds.npy", allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise BadInput(f"{root / 'poses_bounds.npy'} cannot be read: {exc}") from None
    if raw.ndim != 2 or raw.shape[1] != 17 or len(raw) == 0:
        raise BadInput(f"{root / 'poses_bounds.npy'} must be an (N, 17) array, got {list(raw.shape)}")
    if not np.isfinite(raw).all():
        row = int(np.nonzero(~np.isfinite(raw).all(1))[0][0])
        raise BadInput(f"{root / 'poses_bounds.npy'}: row {row} has NaN or Inf")
    _check_cameras(raw, root / "poses_bounds.npy")
    folder = root / (f"images_{factor}" if factor > 1 else "images")
    if not folder.is_dir():
        found = sorted(p.name for p in root.iterdir() if p.is_dir() and p.name.startswith("images"))
        raise BadInput(
            f"{root}: no {folder.name}/ folder for factor {factor}"
            + (f" (found {', '.join(found)}; choose it with -O factor=N)" if found else "")
        )
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
    val = [i for i in range(HOLDOUT // 2, len(raw), HOLDOUT)]
    train = [i for i in range(len(raw)) if i not in test and i not in val]
    if not train:
        raise BadInput(f"{root}: {len(raw)} views leave none to train on after holding out test and val views")

    def split(idx: list[int]) -> Split:
        return Split(images[idx], poses_t[idx], intr[idx], [paths[i].name for i in idx])

    splits = {"train": split(train), "test": split(test), "val": split(val or test)}
    return Scene(root.name, splits, near=0.0, far=1.0, white_background=False, ndc=True, density_noise=1.0)
