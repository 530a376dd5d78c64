"""Registers the `gpt` target and its model class."""

from __future__ import annotations

from prunekit.plugin import RunOptions, hookimpl
from prunekit_gpt.task import PRESETS, GptTask


class GptTarget:
    name = "gpt"
    description = "character-level GPT of nanoGPT's shape on a text file (--data); prunes feed-forward units"
    presets = PRESETS

    def setup(self, options: RunOptions) -> GptTask:
        return GptTask(options)


@hookimpl
def register_targets(register):
    register(GptTarget())


@hookimpl
def register_models(register):
    from prunekit_gpt.model import GPT

    register(GPT)
