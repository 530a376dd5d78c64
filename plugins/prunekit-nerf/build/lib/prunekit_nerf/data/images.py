"""Reading images robustly: 8/16-bit, grayscale, RGB or RGBA (composited onto the background)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from prunekit.plugin import BadInput

EXTENSIONS = (".png", ".jpg", ".jpeg", ".PNG", ".JPG", ".JPEG", ".exr")


def resolve(base: Path, file_path: str, where: str) -> Path:
    """The image a frame's ``file_path`` names, with or without its extension."""
    p = (base / file_path).resolve() if not Path(file_path).is_absolute() else Path(file_path)
    if p.is_file():
        return p
    for ext in EXTENSIONS:
        q = p.with_name(p.name + ext)
        if q.is_file():
            return q
    raise BadInput(f"{where}: image not found: {file_path}")


def read_image(path: Path, white_background: bool) -> torch.Tensor:
    """(H, W, 3) float in [0, 1]; alpha composited onto white or black."""
    if path.stat().st_size == 0:
        raise BadInput(f"image {path} is empty (0 bytes)")
    try:
        with Image.open(path) as im:
            im.load()
            arr = np.asarray(im)
            mode = im.mode
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise BadInput(f"image {path} cannot be read: {exc}") from None
    if arr.dtype == np.uint16 or mode.startswith("I;16") or mode == "I":
        x = arr.astype(np.float32) / 65535.0
    elif arr.dtype == np.bool_:
        x = arr.astype(np.float32)
    elif np.issubdtype(arr.dtype, np.floating):
        x = arr.astype(np.float32)
    else:
        x = arr.astype(np.float32) / 255.0
    if x.ndim == 2:
        x = x[..., None]
    channels = x.shape[-1]
    if channels in (1, 2):  # gray (+ alpha)
        rgb, alpha = np.repeat(x[..., :1], 3, axis=-1), (x[..., 1:2] if channels == 2 else None)
    elif channels in (3, 4):
        rgb, alpha = x[..., :3], (x[..., 3:4] if channels == 4 else None)
    else:
        raise BadInput(f"image {path} has {channels} channels; expected 1 to 4")
    if alpha is not None:
        rgb = rgb * alpha + (1.0 - alpha) * (1.0 if white_background else 0.0)
    return torch.from_numpy(np.ascontiguousarray(rgb)).clamp(0, 1)


def read_images(paths: list[Path], white_background: bool, split: str) -> torch.Tensor:
    images = [read_image(p, white_background) for p in paths]
    first = tuple(images[0].shape[:2]) if images else None
    for path, im in zip(paths, images):
        if tuple(im.shape[:2]) != first:
            raise BadInput(
                f"images of the {split} split differ in size: {path} is {tuple(im.shape[:2])}, "
                f"{paths[0].name} is {first}"
            )
    return torch.stack(images) if images else torch.zeros(0, 1, 1, 3)
