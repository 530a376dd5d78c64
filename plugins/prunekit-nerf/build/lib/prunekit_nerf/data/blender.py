"""The NeRF synthetic (Blender) layout: transforms_{train,val,test}.json with camera_angle_x."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from prunekit.plugin import BadInput, read_json
from prunekit_nerf.data.images import read_images, resolve
from prunekit_nerf.data.scene import Scene, Split, pose_matrix


def frames_of(meta, where: str) -> list[dict]:
    if not isinstance(meta, dict) or not isinstance(meta.get("frames"), list):
        raise BadInput(f"{where}: expected an object with a 'frames' list")
    for i, f in enumerate(meta["frames"]):
        if not isinstance(f, dict) or "file_path" not in f or "transform_matrix" not in f:
            raise BadInput(f"{where}: frame {i} needs 'file_path' and 'transform_matrix'")
    return meta["frames"]


def load(root: Path, white_background: bool = True) -> Scene:
    splits = {}
    for name in ("train", "val", "test"):
        path = root / f"transforms_{name}.json"
        if not path.exists():
            continue
        meta = read_json(path, "scene description")
        frames = frames_of(meta, str(path))
        angle = meta.get("camera_angle_x")
        if not isinstance(angle, (int, float)) or not 0 < angle < math.pi:
            raise BadInput(f"{path}: camera_angle_x missing or not an angle in (0, pi)")
        paths = [resolve(root, f["file_path"], f"{path} frame {i}") for i, f in enumerate(frames)]
        poses = [pose_matrix(f["transform_matrix"], f"{path} frame {i}") for i, f in enumerate(frames)]
        images = read_images(paths, white_background, name)
        h, w = images.shape[1:3]
        focal = 0.5 * w / math.tan(0.5 * angle)
        intr = torch.tensor([[focal, focal, w / 2, h / 2]] * len(frames), dtype=torch.float32).reshape(-1, 4)
        splits[name] = Split(
            images, torch.stack(poses) if poses else torch.zeros(0, 4, 4), intr, [p.name for p in paths]
        )
    if "train" not in splits:
        raise BadInput(f"{root}: no transforms_train.json")
    splits.setdefault("test", splits.get("val", splits["train"]))
    splits.setdefault("val", splits["test"])
    return Scene(root.name, splits, near=2.0, far=6.0, white_background=white_background)
