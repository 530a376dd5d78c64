"""A plain MLP, optionally with a Fourier-feature input encoding (for coordinate networks)."""

from __future__ import annotations

import torch
from torch import nn


class MLP(nn.Module):
    def __init__(self, d_in: int, hidden: list[int], d_out: int, fourier: int = 0) -> None:
        super().__init__()
        self.config = {"d_in": d_in, "hidden": list(hidden), "d_out": d_out, "fourier": fourier}
        self.fourier = fourier
        width = d_in * (1 + 2 * fourier)
        layers = []
        for h in hidden:
            layers.append(nn.Linear(width, h))
            width = h
        self.hidden = nn.ModuleList(layers)
        self.out = nn.Linear(width, d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fourier:
            xs = (x[..., None] * (2.0 ** torch.arange(self.fourier, device=x.device)) * torch.pi).flatten(-2)
            x = torch.cat([x, xs.sin(), xs.cos()], dim=-1)
        for layer in self.hidden:
            x = torch.relu(layer(x))
        return self.out(x)
