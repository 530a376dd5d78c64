"""Models prunekit never saw, for black-box tests: NeRF-shaped, with plain-code and module encodings."""

from __future__ import annotations

import torch
from torch import nn


def fourier(x: torch.Tensor, n: int) -> torch.Tensor:
    k = 2.0 ** torch.arange(n, dtype=x.dtype)
    xk = (x.unsqueeze(-1) * k).flatten(-2)
    return torch.cat([x, xk.sin(), xk.cos()], -1)


class Fourier(nn.Module):
    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n

    def forward(self, x):
        return fourier(x, self.n)


class TwoHeadField(nn.Module):
    """Skip concat of the encoded input after layer 5, a view branch concat, two heads."""

    def __init__(self, width: int = 256, module_encoding: bool = True) -> None:
        super().__init__()
        self.config = {"width": width, "module_encoding": module_encoding}
        self.enc = Fourier(10) if module_encoding else None
        self.layers = nn.ModuleList(
            [nn.Linear(63, width)] + [nn.Linear(width + 63 * (i == 5), width) for i in range(1, 8)]
        )
        self.alpha = nn.Linear(width, 1)
        self.feat = nn.Linear(width, width)
        self.branch = nn.Linear(width + 27, width // 2)
        self.color = nn.Linear(width // 2, 3)

    def forward(self, x, d):
        ex = self.enc(x) if self.enc is not None else fourier(x, 10)
        h = ex
        for i, layer in enumerate(self.layers):
            h = layer(torch.cat([ex, h], -1) if i == 5 else h).relu()
        return self.color(self.branch(torch.cat([self.feat(h), fourier(d, 4)], -1)).relu()), self.alpha(h)


class ResidualMLP(nn.Module):
    """Residual blocks: the stream width is shared by every block's output layer (coupled)."""

    def __init__(self, d_in: int = 10, width: int = 32, hidden: int = 64, blocks: int = 2, d_out: int = 4) -> None:
        super().__init__()
        self.config = {"d_in": d_in, "width": width, "hidden": hidden, "blocks": blocks, "d_out": d_out}
        self.stem = nn.Linear(d_in, width)
        self.up = nn.ModuleList([nn.Linear(width, hidden) for _ in range(blocks)])
        self.down = nn.ModuleList([nn.Linear(hidden, width) for _ in range(blocks)])
        self.head = nn.Linear(width, d_out)

    def forward(self, x):
        h = self.stem(x).relu()
        for up, down in zip(self.up, self.down):
            h = h + down(up(h).relu())
        return self.head(h)


class ThreeUnits(nn.Module):
    """2 → 3 (ReLU) → 2, with weights small enough to score by hand (see :func:`three_unit_layer`)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(2, 3, bias=False)
        self.proj = nn.Linear(3, 2)
        with torch.no_grad():
            self.fc.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
            self.proj.weight.copy_(torch.tensor([[1.0, 2.0, 0.5], [-1.0, 0.0, 0.5]]))
            self.proj.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(torch.relu(self.fc(x)))


def three_unit_layer() -> tuple[nn.Module, torch.Tensor]:
    """The model and three calibration rows whose hidden activations are [1, 0, 1], [0, 2, 2], [3, 1, 4]."""
    return ThreeUnits(), torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, 1.0]])
