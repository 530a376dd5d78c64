"""Everything a prunekit plug-in may use, in one place: plug-ins import from here and from nothing else of
the core (a test reads every plug-in module's imports).

- Hooks: :data:`hookimpl` marks the functions of ``prunekit.hookspecs`` a plug-in implements.
- Scorers and selectors: subclass :class:`ScorerBase` / :class:`SelectorBase` (the :class:`Scorer` and
  :class:`Selector` protocols, every optional capability with its default); a scorer reads a
  :class:`PrunableLayer` (incoming and outgoing weights) and, when it sets ``needs_calibration``, a
  :class:`Calibration` (activations, and gradients of the task's :data:`Loss` when it sets
  ``needs_gradients``). :class:`PruneSpec` is one pruning request.
- Targets: :class:`Target` (name, presets, options) sets up a :class:`Task`; a task subclasses
  :class:`TaskBase` for its optional capabilities (which layers are prunable, the headline's direction,
  the calibration loss, extra ratios, timed inference). :class:`RunOptions` is what the user asked for,
  :class:`Preset` a run's size, :class:`Evaluation` what ``evaluate`` returns.
- Training: :func:`train` (resumable, seeded, Ctrl-C safe) with :func:`cosine` and :func:`batch_seed`.
- Helpers: devices (:func:`resolve_device`, :func:`share` under torchrun), files written atomically,
  progress and console output, :func:`open_run` to reopen a finished run, the ``RUN_DIR``/``DATA``
  arguments of run-reading commands, and :class:`BadInput` / :class:`PrunekitError` for one-line errors.
"""

from prunekit.budget import count_params
from prunekit.calibration import Calibration, Loss
from prunekit.commands import DATA, RUN_DIR
from prunekit.errors import BadInput, Interrupted, PrunekitError
from prunekit.files import atomic_write, read_json, write_json, write_text
from prunekit.graph import PrunableLayer
from prunekit.hookspecs import hookimpl
from prunekit.pipeline import open_run
from prunekit.progress import out_console, progress_bar
from prunekit.protocols import Scorer, ScorerBase, Selector, SelectorBase
from prunekit.runtime import resolve_device, share
from prunekit.spec import PruneSpec
from prunekit.surgery import output_error
from prunekit.target import Evaluation, Preset, RunOptions, Target, Task, TaskBase, iterations, parse_options
from prunekit.training import TrainStats, batch_seed, cosine, train
from prunekit.visuals import write_png, write_video

__all__ = [
    "DATA",
    "RUN_DIR",
    "BadInput",
    "Calibration",
    "Evaluation",
    "Interrupted",
    "Loss",
    "Preset",
    "PrunableLayer",
    "PrunekitError",
    "RunOptions",
    "PruneSpec",
    "Scorer",
    "ScorerBase",
    "Selector",
    "SelectorBase",
    "Target",
    "Task",
    "TaskBase",
    "TrainStats",
    "atomic_write",
    "batch_seed",
    "cosine",
    "count_params",
    "hookimpl",
    "iterations",
    "open_run",
    "out_console",
    "output_error",
    "parse_options",
    "progress_bar",
    "read_json",
    "resolve_device",
    "share",
    "train",
    "write_json",
    "write_png",
    "write_text",
    "write_video",
]
