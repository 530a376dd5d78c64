"""Registers the `digits` and `photo` targets."""

from __future__ import annotations

from prunekit.plugin import RunOptions, hookimpl
from prunekit_mlp.tasks import PRESETS, DigitsTask, PhotoTask


class ArrayTarget:
    """A target whose task is one of the in-memory array tasks: the same presets, no options of its own."""

    presets = PRESETS

    def __init__(self, name: str, description: str, task: type) -> None:
        self.name, self.description, self.task = name, description, task

    def setup(self, options: RunOptions):
        return self.task(options)


@hookimpl
def register_targets(register):
    register(
        ArrayTarget(
            "digits",
            "MLP classifier on scikit-learn's handwritten digits (1,797 real 8x8 images, no download)",
            DigitsTask,
        )
    )
    register(
        ArrayTarget("photo", "coordinate MLP fitting scikit-image's astronaut photograph (regression, PSNR)", PhotoTask)
    )


@hookimpl
def register_models(register):
    from prunekit_mlp.models import MLP

    register(MLP)
