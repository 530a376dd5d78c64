"""prunekit: neuron pruning for PyTorch MLPs, with plug-in scorers, selectors and targets."""

import importlib.metadata

from prunekit.api import apply, plan, prune
from prunekit.budget import count_params
from prunekit.checkpoint import load, save
from prunekit.deploy import export, load_exported
from prunekit.errors import PrunekitError
from prunekit.hookspecs import hookimpl
from prunekit.plans import Plan
from prunekit.plugins import registry
from prunekit.protocols import Scorer, ScorerBase, Selector, SelectorBase
from prunekit.spec import PruneSpec

__all__ = [
    "Plan",
    "PruneSpec",
    "PrunekitError",
    "Scorer",
    "ScorerBase",
    "Selector",
    "SelectorBase",
    "apply",
    "count_params",
    "export",
    "hookimpl",
    "load",
    "load_exported",
    "plan",
    "prune",
    "registry",
    "save",
]
__version__ = importlib.metadata.version("prunekit")
