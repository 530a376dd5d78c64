"""A single transforms.json as written by instant-ngp or nerfstudio for real captures.

Intrinsics ``fl_x``/``fl_y`` (or ``camera_angle_x``), ``cx``/``cy``, ``w``/``h`` at the top level or per
frame, optional ``k1 k2 p1 p2`` distortion. Images may have been downsampled relative to ``w``/``h``:
intrinsics are scaled to the size actually read. Camera centres are moved into the unit cube around
the origin; every 8th frame is held out for testing when the file names no split.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from prunekit.plugin import BadInput, read_json
from prunekit_nerf.data.blender import frames_of
from prunekit_nerf.data.images import read_images, resolve
from prunekit_nerf.data.scene import Scene, Split, pose_matrix

HOLDOUT = 8


def _intrinsics(meta: dict, frame: dict, w_img: int, h_img: int, where: str) -> list[float]:
    get = lambda k: frame.get(k, meta.get(k))  # noqa: E731  (per-frame values override the global ones)
    w, h = get("w") or w_img, get("h") or h_img
    fx, fy = get("fl_x"), get("fl_y")
    if fx is None and get("camera_angle_x") is not None:
        fx = 0.5 * w / math.tan(0.5 * float(get("camera_angle_x")))
    if fy is None and get("camera_angle_y") is not None:
        fy = 0.5 * h / math.tan(0.5 * float(get("camera_angle_y")))
    fy = fy if fy is not None else fx
    if fx is None:
        raise BadInput(f"{where}: missing camera intrinsics (fl_x / fl_y or camera_angle_x)")
    cx, cy = get("cx"), get("cy")
    cx = w / 2 if cx is None else cx
    cy = h / 2 if cy is None else cy
    try:
        sx, sy = w_img / float(w), h_img / float(h)
        return [float(fx) * sx, float(fy) * sy, float(cx) * sx, float(cy) * sy]
    except (TypeError, ValueError, ZeroDivisionError):
        raise BadInput(f"{where}: camera intrinsics must be numbers") from None


def load(path: Path, white_background: bool = False) -> Scene:
    root = path.parent
    meta = read_json(path, "scene description")
    frames = frames_of(meta, str(path))
    if not frames:
        raise BadInput(f"{path}: no frames")
    paths = [resolve(root, f["file_path"], f"{path} frame {i}") for i, f in enumerate(frames)]
    poses = torch.stack([pose_matrix(f["transform_matrix"], f"{path} frame {i}") for i, f in enumerate(frames)])
    images = read_images(paths, white_background, "all")
    h, w = images.shape[1:3]
    intr = torch.tensor([_intrinsics(meta, f, w, h, f"{path} frame {i}") for i, f in enumerate(frames)])
    k = [float(meta.get(key, 0.0) or 0.0) for key in ("k1", "k2", "p1", "p2")]
    distortion = tuple(k) if any(k) else None
    # into the unit cube: centre the cameras on their mean and scale the farthest to 1
    centres = poses[:, :3, 3]
    shift = centres.mean(0)
    scale = 1.0 / float((centres - shift).abs().max().clamp_min(1e-8))
    poses = poses.clone()
    poses[:, :3, 3] = (centres - shift) * scale
    test = [i for i in range(len(frames)) if i % HOLDOUT == 0] if len(frames) > 1 else [0]
    train = [i for i in range(len(frames)) if i not in test] or test

    def split(idx: list[int]) -> Split:
        return Split(images[idx], poses[idx], intr[idx], [paths[i].name for i in idx], distortion)

    splits = {"train": split(train), "test": split(test)}
    splits["val"] = splits["test"]
    return Scene(root.name, splits, near=0.05, far=3.5, white_background=white_background)
