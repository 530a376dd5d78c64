"""What every data parser returns: splits of posed images with intrinsics and the scene's depth range."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from prunekit.plugin import BadInput


@dataclass
class Split:
    images: torch.Tensor  # (N, H, W, 3) float in [0, 1], already composited onto the background
    poses: torch.Tensor  # (N, 4, 4) camera-to-world, OpenGL convention
    intrinsics: torch.Tensor  # (N, 4): fx, fy, cx, cy in pixels of ``images``
    names: list[str] = field(default_factory=list)
    distortion: tuple[float, float, float, float] | None = None  # k1, k2, p1, p2

    @property
    def hw(self) -> tuple[int, int]:
        return int(self.images.shape[1]), int(self.images.shape[2])


@dataclass
class Scene:
    name: str
    splits: dict[str, Split]  # "train", "val", "test"
    near: float
    far: float
    white_background: bool
    ndc: bool = False  # forward-facing scenes render in normalised device coordinates
    density_noise: float = 0.0  # training-time noise on raw density; the reference uses 1.0 on LLFF scenes

    @property
    def ndc_frustum(self) -> tuple[int, int, float] | None:
        """(height, width, focal) of the training cameras, which define the NDC warp; None if not NDC."""
        if not self.ndc:
            return None
        train = self.splits["train"]
        return (*train.hw, float(train.intrinsics[0, 0]))

    def check(self, where: str) -> None:
        for split_name in ("train", "test"):
            split = self.splits.get(split_name)
            if split is None or len(split.images) == 0:
                raise BadInput(f"{where}: the {split_name} split is empty")
        for split_name, split in self.splits.items():
            bad = ~torch.isfinite(split.poses.reshape(len(split.poses), -1)).all(1)
            if bad.any():
                i = int(bad.nonzero()[0])
                name = split.names[i] if i < len(split.names) else f"frame {i}"
                raise BadInput(f"{where}: {split_name} pose of {name} has NaN or Inf")
            if not torch.isfinite(split.intrinsics).all() or (split.intrinsics[:, :2] <= 0).any():
                raise BadInput(f"{where}: {split_name} camera intrinsics must be finite with positive focal lengths")


def pose_matrix(value, where: str) -> torch.Tensor:
    """A 4x4 (or 3x4) camera-to-world matrix from JSON, checked."""
    try:
        m = torch.tensor(value, dtype=torch.float32)
    except (TypeError, ValueError):
        raise BadInput(f"{where}: transform_matrix is not a numeric matrix") from None
    if m.shape == (3, 4):
        m = torch.cat([m, torch.tensor([[0.0, 0.0, 0.0, 1.0]])])
    if m.shape != (4, 4):
        raise BadInput(f"{where}: transform_matrix must be 4x4, got {list(m.shape)}")
    if not torch.isfinite(m).all():
        raise BadInput(f"{where}: transform_matrix has NaN or Inf")
    if abs(float(torch.linalg.det(m[:3, :3].double()))) < 1e-6:  # all zeros, or a flattened camera
        raise BadInput(f"{where}: transform_matrix has no rotation (its 3x3 part is singular)")
    return m
