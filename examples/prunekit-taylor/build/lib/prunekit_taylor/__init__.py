"""First-order Taylor importance (Molchanov et al., ICLR 2017), as a prunekit scorer plug-in.

Removing neuron i sets its activation a_i to 0; to first order the loss changes by a_i · dL/da_i. The
score is the mean over the calibration batch of |a_i · dL/da_i|. prunekit computes a and dL/da for
scorers that set ``needs_gradients``; the loss is the output energy 0.5·||f(x)||² (no labels needed).
"""

import torch

from prunekit.plugin import ScorerBase, hookimpl


class Taylor(ScorerBase):
    name = "taylor"
    description = "first-order Taylor |a · dL/da| on calibration data (Molchanov et al. 2017)"
    needs_calibration = True
    needs_gradients = True

    def score(self, layer, calibration=None) -> torch.Tensor:
        return (calibration.activations * calibration.gradients).abs().mean(dim=0)


@hookimpl
def register_scorers(register):
    register(Taylor())
