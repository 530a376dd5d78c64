"""What a NeRF run leaves for people to look at: test renders beside the ground truth, and turntables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from prunekit.plugin import Evaluation, atomic_write
from prunekit_nerf.rays import orbit


class Outputs:
    """The NeRF task's pictures. Reads the task's ``test`` views and ``scene``; renders with its
    ``render_view``."""

    def write_visuals(self, out: Path, dense: Evaluation, pruned: Evaluation) -> list[str]:
        (out / "renders").mkdir(exist_ok=True)
        files = []
        for i, (gt, a, b) in enumerate(zip(self.test.images, dense.outputs, pruned.outputs)):
            strip = torch.cat([gt, a, b], dim=1).clamp(0, 1).mul(255).round().byte().numpy()
            rel = f"renders/test_{i:03d}_gt_dense_pruned.png"
            atomic_write(out / rel, lambda tmp, s=strip: Image.fromarray(s).save(tmp, format="PNG"))
            files.append(rel)
        return files

    def preview(self, evaluation: Evaluation):
        return evaluation.outputs[0].numpy()

    def turntable(self, models, frames: int) -> list[np.ndarray]:
        """Renders from cameras circling the scene (see :func:`prunekit_nerf.rays.orbit`)."""
        for m in models.values():
            m.eval()
        train = self.scene.splits["train"]
        h, w = self.test.hw
        return [
            self.render_view(models, pose, self.test.intrinsics[0], h, w)[0].numpy()
            for pose in orbit(train.poses, frames, self.scene.ndc)
        ]
