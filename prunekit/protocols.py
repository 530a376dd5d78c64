"""What a scorer and a selector are, with every optional capability written down (a registered one also
has a one-line ``description``).

A plug-in subclasses :class:`ScorerBase` (or :class:`SelectorBase`) and overrides what applies; the core
reads these attributes and nothing else. The protocols are what registration and the API check.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch

from prunekit.calibration import Calibration
from prunekit.graph import PrunableLayer


@runtime_checkable
class Scorer(Protocol):
    """One importance score per output neuron of a layer; higher means more worth keeping."""

    name: str
    needs_calibration: bool  # True: ``score`` gets a Calibration (activations as consumers read them)
    needs_gradients: bool  # True: calibration also backpropagates the task's loss (weights' .grad set)
    fisher_chunks: int  # > 0: squared per-slice gradients over this many slices (a Fisher/Hessian estimate)

    def score(self, layer: PrunableLayer, calibration: Calibration | None = None) -> torch.Tensor: ...


class ScorerBase:
    """A scorer's optional capabilities and their defaults: weights only, no data, no gradients."""

    name: str
    description: str = ""
    needs_calibration: bool = False
    needs_gradients: bool = False
    fisher_chunks: int = 0

    def score(self, layer: PrunableLayer, calibration: Calibration | None = None) -> torch.Tensor:
        raise NotImplementedError


@runtime_checkable
class Selector(Protocol):
    """Which ``k`` neurons to keep given their scores, and optionally a positive scale for each kept one
    (it multiplies the neuron's columns in every consumer)."""

    name: str

    def select(
        self, scores: torch.Tensor, k: int, layer: PrunableLayer, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor | None]: ...


class SelectorBase:
    """A selector's defaults (a description); ``select`` is the one thing it must provide."""

    name: str
    description: str = ""

    def select(
        self, scores: torch.Tensor, k: int, layer: PrunableLayer, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        raise NotImplementedError
