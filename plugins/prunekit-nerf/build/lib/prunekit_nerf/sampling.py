"""Where along each ray the field is queried: stratified (coarse) and hierarchical (fine) sampling."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Draws:
    """The random numbers of a batch of rays that may be one share (``rows`` of ``total``) of a batch split
    across processes: each draw is made for the whole batch and this share's rows kept, so N processes
    sample exactly as one process with the whole batch does."""

    generator: torch.Generator | None = None
    rows: slice | None = None
    total: int = 0

    def rand(self, n: int, cols: int, device) -> torch.Tensor:
        return self._draw(torch.rand, n, cols, device)

    def randn(self, n: int, cols: int, device) -> torch.Tensor:
        return self._draw(torch.randn, n, cols, device)

    def _draw(self, fn, n: int, cols: int, device) -> torch.Tensor:
        if self.rows is None:
            return fn(n, cols, device=device, generator=self.generator)
        return fn(self.total, cols, device=device, generator=self.generator)[self.rows]


def draws(generator: torch.Generator | Draws | None) -> Draws:
    return generator if isinstance(generator, Draws) else Draws(generator)


def stratified(
    near: torch.Tensor, far: torch.Tensor, n: int, perturb: bool, generator: torch.Generator | Draws | None = None
):
    """n depths per ray between near and far (each (R, 1)): bin centres, or one uniform draw per bin."""
    steps = torch.linspace(0.0, 1.0, n + 1, device=near.device)
    edges = near + (far - near) * steps
    if perturb:
        u = draws(generator).rand(edges.shape[0], n, near.device)
    else:
        u = torch.full((edges.shape[0], n), 0.5, device=near.device)
    return edges[:, :-1] + (edges[:, 1:] - edges[:, :-1]) * u


def hierarchical(
    z: torch.Tensor, weights: torch.Tensor, n: int, perturb: bool, generator: torch.Generator | Draws | None = None
) -> torch.Tensor:
    """n more depths per ray drawn from the piecewise-constant pdf of the coarse ``weights``.

    Bins lie between midpoints of the coarse depths; the end weights are dropped as in the reference.
    """
    mids = 0.5 * (z[:, 1:] + z[:, :-1])
    w = weights[:, 1:-1].detach() + 1e-5
    pdf = w / w.sum(-1, keepdim=True)
    cdf = torch.cat([torch.zeros_like(pdf[:, :1]), torch.cumsum(pdf, -1)], -1)
    if perturb:
        u = draws(generator).rand(cdf.shape[0], n, z.device)
    else:
        u = torch.linspace(0.0, 1.0, n, device=z.device).expand(cdf.shape[0], n)
    u = u.contiguous()
    idx = torch.searchsorted(cdf, u, right=True)
    lo, hi = (idx - 1).clamp(0, cdf.shape[1] - 1), idx.clamp(0, cdf.shape[1] - 1)
    cdf_lo, cdf_hi = cdf.gather(1, lo), cdf.gather(1, hi)
    bin_lo, bin_hi = mids.gather(1, lo), mids.gather(1, hi)
    span = torch.where(cdf_hi - cdf_lo < 1e-5, torch.ones_like(cdf_lo), cdf_hi - cdf_lo)
    return (bin_lo + (u - cdf_lo) / span * (bin_hi - bin_lo)).detach()
