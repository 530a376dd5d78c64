"""Built-in scorers: one importance score per output neuron of a prunable layer (higher = keep).

Each is a small :class:`prunekit.protocols.ScorerBase` with ``name``, ``description``, its capabilities
(``needs_calibration``, …) and ``score(layer, calibration=None) -> Tensor[width]``. Biases are never part
of a weight score.
"""

from __future__ import annotations

import torch
import torch_pruning as tp

from prunekit.calibration import Calibration
from prunekit.graph import PrunableLayer
from prunekit.hookspecs import hookimpl
from prunekit.protocols import ScorerBase


class WIn(ScorerBase):
    name = "w_in"
    description = "mean |incoming weight| of the neuron (bias excluded)"

    def score(self, layer: PrunableLayer, calibration: Calibration | None = None) -> torch.Tensor:
        return layer.incoming().abs().mean(dim=1)


class WOut(ScorerBase):
    name = "w_out"
    description = "mean |outgoing weight| over every consumer, at its concatenation offset"

    def score(self, layer: PrunableLayer, calibration: Calibration | None = None) -> torch.Tensor:
        return layer.outgoing().abs().nanmean(dim=0)


class Product(ScorerBase):
    name = "product"
    description = "w_in x w_out"

    def score(self, layer: PrunableLayer, calibration: Calibration | None = None) -> torch.Tensor:
        return WIn().score(layer) * WOut().score(layer)


class Random(ScorerBase):
    name = "random"
    description = "uniform random scores: the no-information baseline (seeded by the run's seed)"

    def score(self, layer: PrunableLayer, calibration: Calibration | None = None) -> torch.Tensor:
        return torch.rand(layer.width)  # prune() seeds the global generator


class Activation(ScorerBase):
    name = "activation"
    description = "mean |activation| on a calibration batch, as the consumers read it"
    needs_calibration = True

    def score(self, layer: PrunableLayer, calibration: Calibration | None = None) -> torch.Tensor:
        return calibration.activations.abs().mean(dim=0).float()


class ActivationWOut(ScorerBase):
    name = "act_w_out"
    description = "mean |activation| on calibration data x mean |outgoing weight|: data-aware sensitivity"
    needs_calibration = True

    def score(self, layer: PrunableLayer, calibration: Calibration | None = None) -> torch.Tensor:
        """A neuron's typical contribution to its consumers' inputs, |a_i| · |w_·i|, as in data-driven
        coreset pruning (Mussay et al. 2020; Baykal et al. 2019), rather than its weights alone."""
        return Activation().score(layer, calibration) * WOut().score(layer)


class TorchPruning(ScorerBase):
    """One of Torch-Pruning's importance criteria as a prunekit scorer (``tp.magnitude``, ``tp.lamp``, …):
    it scores the layer's torch-pruning dependency group exactly as that library would, members and
    consumers together, with the library's own reduction and normalisation."""

    def __init__(self, name: str, description: str, make, needs_gradients: bool = False, fisher_chunks: int = 0):
        self.name, self.description, self.make = f"tp.{name}", description, make
        self.needs_calibration = self.needs_gradients = needs_gradients  # Taylor reads the weights' .grad
        self.fisher_chunks = fisher_chunks  # Hessian reads it as the squared per-slice gradients' mean

    def score(self, layer: PrunableLayer, calibration: Calibration | None = None) -> torch.Tensor:
        if layer.group is None:
            raise ValueError(f"layer {layer.name} has no torch-pruning group to score")
        return self.make()(layer.group)


def torch_pruning_scorers() -> list[TorchPruning]:
    imp = tp.importance
    return [
        TorchPruning("magnitude", "Torch-Pruning's group L2 magnitude", imp.GroupMagnitudeImportance),
        TorchPruning("l1", "Torch-Pruning's group L1 magnitude", lambda: imp.GroupMagnitudeImportance(p=1)),
        TorchPruning(
            "lamp", "Torch-Pruning's LAMP (Lee et al. 2021): magnitude over its layer's tail", imp.LAMPImportance
        ),
        TorchPruning(
            "fpgm", "Torch-Pruning's FPGM (He et al. 2019): distance to the geometric median", imp.FPGMImportance
        ),
        TorchPruning(
            "taylor",
            "Torch-Pruning's group Taylor |w·dL/dw| (Molchanov et al. 2019), L = output energy on calibration data",
            imp.GroupTaylorImportance,
            needs_gradients=True,
        ),
        TorchPruning(
            "hessian",
            "Torch-Pruning's group Hessian w²·F (OBD, LeCun et al. 1990), F = empirical Fisher over 64 slices of "
            "the calibration data",
            imp.GroupHessianImportance,
            needs_gradients=True,
            fisher_chunks=64,
        ),
    ]


@hookimpl
def register_scorers(register):
    for scorer in (WIn(), WOut(), Product(), Random(), Activation(), ActivationWOut(), *torch_pruning_scorers()):
        register(scorer)
