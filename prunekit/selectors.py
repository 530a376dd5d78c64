"""Built-in selectors: which k neurons of a layer to keep, given their scores.

Each is a small object with ``name``, ``description`` and
``select(scores, k, layer, generator) -> (indices, scales | None)``.
"""

from __future__ import annotations

import torch

from prunekit.graph import PrunableLayer
from prunekit.hookspecs import hookimpl
from prunekit.protocols import SelectorBase


class Uniform(SelectorBase):
    name = "uniform"
    description = "k neurons uniformly at random (seeded), scores ignored"

    def select(self, scores: torch.Tensor, k: int, layer: PrunableLayer, generator: torch.Generator):
        return torch.randperm(len(scores), generator=generator)[:k].sort().values, None


class TopK(SelectorBase):
    name = "topk"
    description = "the k highest-scoring neurons"

    def select(self, scores: torch.Tensor, k: int, layer: PrunableLayer, generator: torch.Generator):
        return torch.topk(scores.float(), k).indices.sort().values, None


def inclusion_probabilities(sensitivity: torch.Tensor, k: int) -> torch.Tensor:
    """pi_i proportional to sensitivity, capped at 1, summing to exactly k.

    Neurons whose share would exceed 1 are kept for certain (pi = 1) and the rest of the budget is shared
    among the others, repeated until no share exceeds 1.
    """
    s = sensitivity.double() + 1e-12 * sensitivity.double().abs().max().clamp_min(1e-30)
    pi = torch.zeros_like(s)
    certain = torch.zeros_like(s, dtype=torch.bool)
    while True:
        left = k - int(certain.sum())
        rest = ~certain
        pi[rest] = s[rest] * left / s[rest].sum()
        over = rest & (pi >= 1)
        if not over.any():
            break
        certain |= over
        pi[certain] = 1.0
    return pi.clamp(0, 1)


def systematic_sample(pi: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Exactly round(sum(pi)) distinct indices, index i drawn with probability pi_i (Madow's method).

    Units are laid on a line in random order, each covering a length pi_i; one uniform start u and the
    points u, u+1, ..., u+k-1 pick the units they fall in. Each unit is hit at most once since pi_i <= 1.
    """
    order = torch.randperm(len(pi), generator=generator)
    edges = torch.cumsum(pi[order], 0)
    k = int(round(float(edges[-1])))
    edges = edges * (k / edges[-1])  # exact total, so the last point always lands inside
    u = torch.rand((), generator=generator, dtype=torch.float64)
    points = u + torch.arange(k, dtype=torch.float64)
    hit = torch.searchsorted(edges, points, right=True).clamp_max(len(pi) - 1)
    return order[hit]


class Coreset(SelectorBase):
    name = "coreset"
    description = "exact-k sensitivity sampling without replacement, kept neurons reweighted by 1/pi"

    def select(self, scores: torch.Tensor, k: int, layer: PrunableLayer, generator: torch.Generator):
        if (scores < 0).any():  # sampling probabilities need sensitivities; a signed score is not one
            raise ValueError(f"needs non-negative scores (sensitivities), got a minimum of {float(scores.min()):.3g}")
        pi = inclusion_probabilities(scores, k)
        keep = systematic_sample(pi, generator).sort().values
        return keep, (1.0 / pi[keep]).float()


@hookimpl
def register_selectors(register):
    for selector in (Uniform(), TopK(), Coreset()):
        register(selector)
