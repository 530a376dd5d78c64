"""prunekit: neuron pruning for PyTorch MLPs, with plug-in scorers, selectors and targets."""

from prunekit.api import apply, plan, prune
from prunekit.budget import count_params
from prunekit.checkpoint import load, save
from prunekit.errors import PrunekitError
from prunekit.plan import Plan
from prunekit.plugins import registry

__all__ = ["apply", "count_params", "load", "plan", "prune", "Plan", "PrunekitError", "registry", "save"]
__version__ = "0.1.0"
