"""Registers the `digits` and `photo` targets."""

from __future__ import annotations

from prunekit.plugin import RunOptions, hookimpl
from prunekit_mlp.tasks import PRESETS, DigitsTask, PhotoTask


class DigitsTarget:
    name = "digits"
    description = "MLP classifier on scikit-learn's handwritten digits (1,797 real 8x8 images, no download)"
    presets = PRESETS

    def setup(self, options: RunOptions):
        return DigitsTask(options)


class PhotoTarget:
    name = "photo"
    description = "coordinate MLP fitting scikit-image's astronaut photograph (regression, PSNR)"
    presets = PRESETS

    def setup(self, options: RunOptions):
        return PhotoTask(options)


@hookimpl
def register_targets(register):
    register(DigitsTarget())
    register(PhotoTarget())


@hookimpl
def register_models(register):
    from prunekit_mlp.models import MLP

    register(MLP)
