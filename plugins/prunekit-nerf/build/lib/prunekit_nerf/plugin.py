"""The hook implementations that make `prunekit run nerf`, `prunekit render` and `prunekit view` exist."""

from __future__ import annotations

from prunekit.plugin import RunOptions, hookimpl
from prunekit_nerf.presets import PRESETS, NerfOptions


class NerfTarget:
    name = "nerf"
    description = "vanilla NeRF (coarse + fine 8x256 MLPs) on Blender, instant-ngp, LLFF or a built-in scene"
    presets = PRESETS
    options = NerfOptions

    def setup(self, options: RunOptions):
        from prunekit_nerf.task import NerfTask  # heavy imports only when the target is used

        return NerfTask(options)


@hookimpl
def register_targets(register):
    register(NerfTarget())


@hookimpl
def register_models(register):
    from prunekit_nerf.fields import FIELDS

    for spec in FIELDS.values():
        register(spec.cls)


@hookimpl
def register_commands(cli):
    from prunekit_nerf.commands import render, view

    cli.command()(render)
    cli.command()(view)
