"""FLAP's fluctuation metric as a prunekit scorer plug-in, written against ``prunekit.plugin`` alone.

FLAP (An et al., "Fluctuation-based Adaptive Structured Pruning for Large Language Models", AAAI 2024)
scores input channel j of a layer by its weighted input feature variance (WIFV):
Var(X_j) · ||W_:,j||₂², the sample variance (n − 1) of the channel over calibration tokens times the
squared norm of the weights that read it. A channel that hardly fluctuates can be replaced by its mean,
which FLAP folds into the bias (bias compensation) instead of retraining; prunekit's ``--refit`` (a least-
squares re-solve of the consumer's weights and bias on the same calibration data) is the remedy compared
with it: on the calibration data its error is at most that of the mean fill, which is one of its solutions.
FLAP's adaptive structure (scores standardised per layer, pruned globally) is ``--allocation global``.
"""

import torch

from prunekit.plugin import Calibration, PrunableLayer, ScorerBase, hookimpl


class Flap(ScorerBase):
    name = "flap"
    description = "FLAP's WIFV: variance of the activation over calibration rows x squared outgoing-weight norm"
    needs_calibration = True

    def score(self, layer: PrunableLayer, calibration: Calibration | None = None) -> torch.Tensor:
        variance = calibration.activations.double().var(dim=0, correction=1)
        out = layer.outgoing().double()
        return (variance * torch.nan_to_num(out).pow(2).sum(dim=0)).float()


@hookimpl
def register_scorers(register):
    register(Flap())
