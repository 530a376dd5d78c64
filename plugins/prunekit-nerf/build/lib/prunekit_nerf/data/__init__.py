"""Data parsers. ``load_scene`` tells the format from the path: Blender, instant-ngp/nerfstudio, LLFF."""

from __future__ import annotations

from pathlib import Path

from prunekit.plugin import BadInput
from prunekit_nerf.data import blender, llff, procedural, transforms
from prunekit_nerf.data.scene import Scene, Split

__all__ = ["Scene", "Split", "detect", "load_scene"]


def detect(path: Path) -> str:
    if path.is_file():
        if path.suffix == ".json":
            return "transforms"
        raise BadInput(f"--data {path} is a file; give a scene directory or a transforms.json")
    if not path.is_dir():
        raise BadInput(f"--data {path} does not exist")
    if (path / "transforms_train.json").exists():
        return "blender"
    if (path / "transforms.json").exists():
        return "transforms"
    if (path / "poses_bounds.npy").exists():
        return "llff"
    raise BadInput(
        f"--data {path}: no transforms_train.json (Blender), transforms.json (instant-ngp) "
        "or poses_bounds.npy (LLFF) found"
    )


def load_scene(
    path: Path | None, resolution: int = 32, views: int = 24, test_views: int = 4, factor: int = llff.FACTOR
) -> Scene:
    """The scene at ``path`` (any supported format), or the built-in procedural scene if None; ``factor``
    is the downscaling of an LLFF capture's images."""
    if path is None:
        scene, where = procedural.load(resolution, views, test_views), "built-in scene"
    else:
        path = Path(path)
        kind = detect(path)
        if kind == "blender":
            scene = blender.load(path)
        elif kind == "transforms":
            scene = transforms.load(path if path.is_file() else path / "transforms.json")
        else:
            scene = llff.load(path, factor)
        where = str(path)
    scene.check(where)
    return scene
