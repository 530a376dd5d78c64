"""The hooks a prunekit plug-in may implement. Built-ins implement them exactly as third parties do."""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("prunekit")
hookimpl = pluggy.HookimplMarker("prunekit")


@hookspec
def register_scorers(register):
    """Called once, when plug-ins load. Call ``register(scorer)`` for each scorer you provide.

    A scorer has ``name`` (str), ``description`` (one line), ``needs_calibration`` (bool) and
    ``score(layer, calibration=None)``, returning one float per output neuron of ``layer`` (a
    :class:`prunekit.graph.PrunableLayer`); higher means more worth keeping. ``calibration`` is a
    :class:`prunekit.calibration.Calibration` when ``needs_calibration`` is true. Return value ignored.
    """


@hookspec
def register_selectors(register):
    """Called once, when plug-ins load. Call ``register(selector)`` for each selector you provide.

    A selector has ``name``, ``description`` and ``select(scores, k, layer, generator)``, returning
    ``(indices, scales)``: the k neuron indices to keep and either None or one positive factor per kept
    neuron that multiplies its pre-activation (for ReLU-family activations: its outgoing weights).
    ``generator`` is a seeded ``torch.Generator``. Return value ignored.
    """


@hookspec
def register_targets(register):
    """Called once, when plug-ins load. Call ``register(target)`` for each target you provide.

    A target is what ``prunekit run NAME`` trains, prunes, retrains and evaluates; see
    :class:`prunekit.pipeline.Target` for what it must provide. Return value ignored.
    """


@hookspec
def register_models(register):
    """Called once, when plug-ins load. Call ``register(cls)`` for each ``nn.Module`` class of yours that
    :func:`prunekit.load` may build from a saved description (with the description's keyword arguments).

    A description names its class as text; prunekit builds only torch.nn layers and the classes
    registered here, so loading a file from elsewhere never imports or runs other code. Return value
    ignored.
    """


@hookspec
def register_commands(cli):
    """Called once, when the ``prunekit`` command line is built. Add your commands to ``cli`` (the Typer
    app) with ``cli.command()(function)``, as the NeRF plug-in adds ``render``. A command raises
    :class:`prunekit.PrunekitError` for a user's mistake (one line, exit 2). Return value ignored.
    """
