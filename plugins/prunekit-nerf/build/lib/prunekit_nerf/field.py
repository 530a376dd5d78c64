"""The radiance field: positional encoding and the vanilla NeRF MLP.

8 layers of 256 with the encoded position concatenated back in after the fifth, a density head, a
256-wide feature layer, a 128-wide view layer fed the encoded direction, and an RGB head: 595,844
parameters at the defaults. The encodings are computed in plain code inside ``forward`` (no module),
the case that trips torch-pruning's concatenation tracking.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Protocol

import torch
from torch import nn


class Field(Protocol):
    """What the renderer and the trainer ask of a radiance field, whatever its architecture: called on
    points ``x`` (N, 3) seen along unit directions ``d`` (N, 3), it returns (rgb (N, 3) in [0, 1], raw
    density (N, 1)); ``config_dict()`` gives the keyword arguments that rebuild it dense. A second
    architecture is a new class with this shape, registered with ``register_models``."""

    def __call__(self, x: torch.Tensor, d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...

    def config_dict(self) -> dict: ...


def encode(x: torch.Tensor, frequencies: int) -> torch.Tensor:
    """[x, sin(2^k x), cos(2^k x) for k < frequencies]: 3 + 6·frequencies features for 3-d input."""
    scales = 2.0 ** torch.arange(frequencies, dtype=x.dtype, device=x.device)
    xs = (x[..., None, :] * scales[:, None]).flatten(-2)
    return torch.cat([x, torch.sin(xs), torch.cos(xs)], dim=-1)


@dataclass
class FieldConfig:
    depth: int = 8
    width: int = 256
    skip: int = 4  # the input is concatenated back in after this layer (the fifth)
    pos_frequencies: int = 10
    dir_frequencies: int = 4


class NeRFField(nn.Module):
    """(position, unit view direction) → (rgb in [0, 1], raw density)."""

    def __init__(
        self, depth: int = 8, width: int = 256, skip: int = 4, pos_frequencies: int = 10, dir_frequencies: int = 4
    ) -> None:
        super().__init__()
        self.config = FieldConfig(depth, width, skip, pos_frequencies, dir_frequencies)
        pos_dim, dir_dim = 3 + 6 * pos_frequencies, 3 + 6 * dir_frequencies
        self.trunk = nn.ModuleList(
            [nn.Linear(pos_dim, width)]
            + [nn.Linear(width + (pos_dim if i == skip + 1 else 0), width) for i in range(1, depth)]
        )
        self.density = nn.Linear(width, 1)
        self.feature = nn.Linear(width, width)
        self.view = nn.Linear(width + dir_dim, width // 2)
        self.rgb = nn.Linear(width // 2, 3)

    def forward(self, x: torch.Tensor, d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        ex = encode(x, self.config.pos_frequencies)
        ed = encode(d, self.config.dir_frequencies)
        h = ex
        for i, layer in enumerate(self.trunk):
            if i == self.config.skip + 1:
                h = torch.cat([ex, h], dim=-1)
            h = torch.relu_(layer(h))  # in place: saves a full-size allocation per layer
        sigma = self.density(h)
        h = torch.relu(self.view(torch.cat([self.feature(h), ed], dim=-1)))
        return torch.sigmoid(self.rgb(h)), sigma

    def config_dict(self) -> dict:
        return asdict(self.config)
