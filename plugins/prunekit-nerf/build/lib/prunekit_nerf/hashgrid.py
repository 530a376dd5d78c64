"""A hash-grid radiance field (Instant-NGP's design, Müller et al. 2022) in plain PyTorch.

Position goes through a multiresolution hash encoding: ``levels`` grids from ``base_resolution`` to
``max_resolution`` cells per side (a geometric progression), each a table of ``2**log2_table`` feature
vectors of ``features`` numbers, indexed directly while a level's grid fits in its table and by the
spatial hash ``x·1 ⊕ y·2654435761 ⊕ z·805459861`` beyond; the 8 corners of a point's cell are blended
trilinearly. A small density MLP (one hidden layer) reads the concatenated levels and gives a raw density
and ``geo_features`` geometry features; a small colour MLP (two hidden layers) reads those and the
encoded view direction. The tables hold almost all of the parameters, the MLPs the neurons that prunekit
prunes: the question this field answers is what neuron pruning buys when the MLP is no longer the model.

The view direction uses the vanilla field's frequency encoding (Instant-NGP uses spherical harmonics of
degree 4; frequencies keep one encoding for both fields, and the colour MLP sees 27 numbers either way).
Points outside the cube [-bound, bound]³ have no density: the grid covers only the scene's box. The
field returns the density itself (positive), which the renderer's ReLU passes unchanged.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from prunekit_nerf.field import encode

_PRIMES = (1, 2654435761, 805459861)


@dataclass
class HashGridConfig:
    levels: int = 16
    features: int = 2  # per level
    log2_table: int = 15  # entries per level's table (Instant-NGP: 14–24; 2**15 suits 100-pixel scenes)
    base_resolution: int = 16
    max_resolution: int = 512
    hidden: int = 64  # the density MLP's hidden layer
    geo_features: int = 15
    colour_hidden: int = 64  # both hidden layers of the colour MLP
    dir_frequencies: int = 4
    bound: float = 2.0  # the scene's box is [-bound, bound]³


class HashGridField(nn.Module):
    """(position, unit view direction) → (rgb in [0, 1], raw density), through a hash encoding."""

    def __init__(
        self,
        levels: int = 16,
        features: int = 2,
        log2_table: int = 15,
        base_resolution: int = 16,
        max_resolution: int = 512,
        hidden: int = 64,
        geo_features: int = 15,
        colour_hidden: int = 64,
        dir_frequencies: int = 4,
        bound: float = 2.0,
    ) -> None:
        counts = {
            "levels": levels, "features": features, "log2_table": log2_table, "base_resolution": base_resolution,
            "max_resolution": max_resolution, "hidden": hidden, "geo_features": geo_features,
            "colour_hidden": colour_hidden, "dir_frequencies": dir_frequencies,
        }  # fmt: skip
        for key, value in counts.items():  # the domain of every field, checked where a saved config is built
            least = 0 if key == "dir_frequencies" else 1
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                raise ValueError(f"hash grid {key} must be an integer of at least {least}, got {value!r}")
        if not math.isfinite(bound) or bound <= 0:
            raise ValueError(f"hash grid bound must be a finite positive number, got {bound!r}")
        if max_resolution < base_resolution or log2_table > 30:
            raise ValueError("hash grid: max_resolution below base_resolution, or a table over 2**30 entries")
        super().__init__()
        self.config = HashGridConfig(
            levels, features, log2_table, base_resolution, max_resolution, hidden, geo_features, colour_hidden,
            dir_frequencies, bound,
        )  # fmt: skip
        growth = math.exp((math.log(max_resolution) - math.log(base_resolution)) / max(levels - 1, 1))
        resolutions = [math.floor(base_resolution * growth**level) for level in range(levels)]
        self.register_buffer("resolutions", torch.tensor(resolutions), persistent=False)
        size = 2**log2_table
        # the coarse levels whose (r + 1)³ grid points fit in the table are indexed densely, without
        # collisions; they come first, as resolutions grow
        self.dense_levels = sum((r + 1) ** 3 <= size for r in resolutions)
        # hashing needs only the low log2_table bits of each product, so the primes are reduced modulo the
        # table size; the products then fit in int32 (half the memory traffic of int64) when
        # (max_resolution + 1) · size < 2³¹
        self.index_dtype = torch.int32 if (max_resolution + 1) * size < 2**31 else torch.int64
        self.register_buffer(
            "primes", torch.tensor([p % size for p in _PRIMES], dtype=self.index_dtype), persistent=False
        )
        self.register_buffer(
            "level_offset", (size * torch.arange(levels, dtype=self.index_dtype))[None, :, None], persistent=False
        )
        self.table = nn.Embedding(levels * size, features)  # all levels' tables, one after another
        nn.init.uniform_(self.table.weight, -1e-4, 1e-4)  # Instant-NGP's initialisation
        dir_dim = 3 + 6 * dir_frequencies
        self.density_hidden = nn.Linear(levels * features, hidden)
        self.density = nn.Linear(hidden, 1)
        self.geometry = nn.Linear(hidden, geo_features)
        self.colour_hidden = nn.Linear(geo_features + dir_dim, colour_hidden)
        self.colour_hidden2 = nn.Linear(colour_hidden, colour_hidden)
        self.rgb = nn.Linear(colour_hidden, 3)

    def encode_position(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3) points in the box → (N, levels · features) blended grid features."""
        c = self.config
        res = self.resolutions[None, :, None]  # (1, L, 1)
        scaled = ((x / c.bound + 1) / 2).clamp(0, 1)[:, None, :] * res  # (N, L, 3) in cells
        cell = scaled.floor().clamp(max=res - 1)
        frac = scaled - cell
        # per axis, the cell's two sides (N, L, 3, 2); corners and weights then come from broadcasting the
        # three axes, corner order (x, y, z) as bits 4, 2, 1: no (N, L, 8, 3) tensor is ever built
        sides = torch.stack([cell, cell + 1], dim=-1).to(self.index_dtype)
        w = torch.stack([1 - frac, frac], dim=-1)
        weights = (w[:, :, 0, :, None, None] * w[:, :, 1, None, :, None] * w[:, :, 2, None, None, :]).flatten(2)
        parts = []
        k = self.dense_levels
        if k:  # x + s·y + s²·z on a grid of side s = r + 1
            s = (self.resolutions[:k] + 1).to(self.index_dtype)[None, :, None, None, None]
            x_, y_, z_ = sides[:, :k, 0, :, None, None], sides[:, :k, 1, None, :, None], sides[:, :k, 2, None, None, :]
            parts.append((x_ + s * (y_ + s * z_)).flatten(2))
        if k < c.levels:  # x·π₁ ⊕ y·π₂ ⊕ z·π₃, its low log2_table bits
            h = sides[:, k:] * self.primes[:, None]
            hashed = torch.bitwise_xor(
                torch.bitwise_xor(h[:, :, 0, :, None, None], h[:, :, 1, None, :, None]), h[:, :, 2, None, None, :]
            )
            parts.append(torch.bitwise_and(hashed, 2**c.log2_table - 1).flatten(2))
        index = torch.cat(parts, dim=1) + self.level_offset  # (N, L, 8) rows of the stacked tables
        # index_select, not the embedding call: its backward (an index_add) is 2× faster on the CPU, and 6×
        # slower again with int32 indices, hence the int64 copy
        corners = torch.index_select(self.table.weight, 0, index.flatten().long()).view(*index.shape, c.features)
        blended = (corners * weights[..., None]).sum(2)  # (N, L, F)
        return blended.flatten(1)

    def forward(self, x: torch.Tensor, d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = torch.relu(self.density_hidden(self.encode_position(x)))
        # Instant-NGP's exp activation: density is positive from the start, so no ray goes dark for good (a
        # ReLU on a raw density at the tables' learning rate dies in the first steps); clamped below exp(11)
        inside = (x.abs() <= self.config.bound).all(-1, keepdim=True)
        sigma = torch.exp(self.density(h).clamp(max=11.0)) * inside  # outside the box: empty
        geo = self.geometry(h)
        h = torch.relu(self.colour_hidden(torch.cat([geo, encode(d, self.config.dir_frequencies)], dim=-1)))
        h = torch.relu(self.colour_hidden2(h))
        return torch.sigmoid(self.rgb(h)), sigma

    def config_dict(self) -> dict:
        return asdict(self.config)
