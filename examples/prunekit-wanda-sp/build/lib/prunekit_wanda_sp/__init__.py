"""Wanda-sp as a prunekit scorer plug-in, written against ``prunekit.plugin`` alone.

Wanda (Sun et al., ICLR 2024) scores a weight by |W_ij| · ||X_j||₂, the weight's magnitude times the L2
norm of its input feature over calibration tokens. Its structured form, Wanda-sp (the baseline of An et
al., AAAI 2024), removes whole input channels of a layer and scores channel j by the sum of that metric
over the channel's weights: ||X_j||₂ · Σ_i |W_ij|. In prunekit terms channel j of the consumer is neuron
j of the layer before it, so the score reads the neuron's activations and its outgoing weights.
"""

import torch

from prunekit.plugin import Calibration, PrunableLayer, ScorerBase, hookimpl


class WandaSP(ScorerBase):
    name = "wanda_sp"
    description = "Wanda-sp: ||activation||₂ over calibration rows x sum of |outgoing weights| (Sun et al. 2024)"
    needs_calibration = True

    def score(self, layer: PrunableLayer, calibration: Calibration | None = None) -> torch.Tensor:
        norm = calibration.activations.double().norm(dim=0)
        return (norm * layer.outgoing().double().abs().nansum(dim=0)).float()


@hookimpl
def register_scorers(register):
    register(WandaSP())
