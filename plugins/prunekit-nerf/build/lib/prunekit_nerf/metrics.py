"""Image quality: PSNR exactly as the NeRF paper (-10·log10 MSE) and SSIM from scikit-image."""

from __future__ import annotations

import math

import numpy as np
import torch
from skimage.metrics import structural_similarity


def psnr(pred: torch.Tensor, gt: torch.Tensor) -> float:
    mse = float(torch.mean((pred.float() - gt.float()) ** 2))
    return math.inf if mse == 0 else -10.0 * math.log10(mse)


def ssim(pred: torch.Tensor, gt: torch.Tensor) -> float:
    """SSIM of two (H, W, 3) images in [0, 1], Gaussian-weighted as in Wang et al. 2004."""
    a, b = pred.detach().cpu().numpy().astype(np.float64), gt.detach().cpu().numpy().astype(np.float64)
    win = min(11, min(a.shape[:2]) // 2 * 2 - 1)
    return float(
        structural_similarity(a, b, channel_axis=-1, data_range=1.0, gaussian_weights=win == 11, win_size=max(3, win))
    )
