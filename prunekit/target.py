"""What a target plug-in provides: the run options it reads, and the Task that trains and evaluates.

A target (NeRF, digits, …) knows its data, models, training and metrics; ``prunekit.pipeline`` and
``prunekit.sweep`` drive any target through this contract alone.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from torch import nn

from prunekit.calibration import Loss
from prunekit.errors import BadInput
from prunekit.flags import flag
from prunekit.training import TrainStats

# Training phases a Task tells apart: the dense model from scratch, and the two ways of retraining.
PHASES = ("dense", "finetune", "scratch")
FINETUNE_SCHEDULES = ("cosine", "preset")


@dataclass
class RunOptions:
    """What the user asked for; every target reads the fields it understands. Each field is a flag of
    ``prunekit run`` and ``prunekit sweep``, declared here once."""

    data: Path | None = field(
        default=None, metadata=flag("Data set path (target-specific). Default: the target's built-in data.")
    )
    preset: str = field(
        default="smoke",
        metadata=flag("Size of the run, one of the target's presets: demo (minutes on 2 cores), smoke (for tests), …"),
    )
    iters: int | None = field(default=None, metadata=flag("Dense training iterations (overrides the preset)."))
    retrain_iters: int | None = field(
        default=None, metadata=flag("Retraining iterations (default: --iters if given, else the preset's).")
    )
    seed: int = field(default=0, metadata=flag("Seed for training, sampling and selection."))
    device: str = field(default="auto", metadata=flag("auto, cpu or cuda[:N]."))
    precision: str = field(
        default="fp32",
        metadata=flag(
            "fp32, bf16 (autocast, where the hardware has it) or auto: bf16 where this device runs it at least "
            "1.25x faster (measured once on a GPU or CPU with native bf16), fp32 elsewhere. The resolved one is "
            "recorded."
        ),
    )
    distill: float = field(
        default=0.0,
        metadata=flag(
            "Retrain against the dense model too: loss weight of its outputs in [0, 1] (0: ground truth only)."
        ),
    )  # 0 = ground truth only
    finetune_schedule: str = field(
        default="cosine",
        metadata=flag(
            "Fine-tuning learning rate: cosine (decay to 0.1x over it) or preset (the preset's schedule, restarted)."
        ),
    )  # cosine decay to 0.1x was chosen on val views
    target_options: dict[str, str] = field(
        default_factory=dict,
        metadata=flag(
            "The target's own option KEY=VALUE, repeatable (nerf: -O factor=8 for LLFF captures).",
            "--option",
            "-O",
            cli_type=list[str],
            cli_default=[],
            parse=lambda pairs: option_pairs(pairs),
        ),
    )  # read by the target alone

    def __post_init__(self) -> None:
        if not 0 <= self.seed < 2**32:
            raise BadInput(f"--seed must be in [0, 2**32), got {self.seed}")
        for name, value in (("--iters", self.iters), ("--retrain-iters", self.retrain_iters)):
            if value is not None and value < 1:
                raise BadInput(f"{name} must be at least 1, got {value}")
        if not 0.0 <= self.distill <= 1.0:
            raise BadInput(f"--distill must be in [0, 1], got {self.distill}")
        if self.finetune_schedule not in FINETUNE_SCHEDULES:
            raise BadInput(
                f"--finetune-schedule must be one of {', '.join(FINETUNE_SCHEDULES)}, got {self.finetune_schedule!r}"
            )


@dataclass
class Evaluation:
    metrics: dict[str, float]  # e.g. psnr, ssim or accuracy; ``collapsed`` (bool) where it applies
    outputs: object = None  # what the target renders or plots from (images, predictions)


class TaskBase:
    """A Task's optional capabilities and their defaults: a task subclasses this and overrides what applies.

    The core reads these and nothing else, so a target never needs the core to know its name.
    """

    higher_is_better: bool = True  # direction of the headline: False for a loss (win counts, Δ signs, "best")
    ratios: tuple[str, ...] = ()  # metrics of ``evaluate`` whose pruned ÷ dense ratio the report shows
    timed_inference: bool = False  # True: ``infer`` is timed beside the training steps, pruned against dense

    def prunable(self, name: str) -> list[str] | None:
        """Names of model ``name``'s linear layers that may lose output neurons (None: every layer the
        graph can prune). A transformer names its feed-forward up-projections."""
        return None

    def calibration_loss(self, name: str) -> Loss | None:
        """``loss(outputs, inputs) -> scalar`` on calibration inputs that gradient-based scorers (Taylor,
        Hessian) differentiate; None: the output energy 0.5·||f(x)||², a label-free stand-in."""
        return None

    def dynamic_axes(self, name: str) -> tuple[dict[int, str], ...] | None:
        """Per input of model ``name``, the axes an export leaves dynamic, by name (None: the batch axis
        alone). A sequence model adds its length: ``({0: "batch", 1: "sequence"},)``."""
        return None

    def infer(self, models: dict[str, nn.Module]) -> None:
        """One fixed unit of inference work (a batch of generated text), timed when ``timed_inference``."""
        raise NotImplementedError


class Task(Protocol):
    """One configured run of a target: data loaded, models defined, hyper-parameters fixed. Optional
    capabilities, with their defaults, are those of :class:`TaskBase`."""

    headline: str  # the metric that sums up quality ("psnr", "accuracy", "val_loss")
    higher_is_better: bool
    iters: int  # training steps of the dense model
    retrain_iters: int  # training steps of the pruned model (fine-tuning or from scratch)

    def build(self, seed: int) -> dict[str, nn.Module]:
        """Fresh dense models by name (NeRF: coarse and fine), seeded, on the task's device."""

    def config(self, name: str) -> dict:
        """Keyword arguments that rebuild model ``name``'s dense architecture (for prunekit.save)."""

    def example_inputs(self, name: str) -> tuple:
        """A small batch that model ``name`` accepts, for tracing and verification."""

    def calibration_inputs(self, name: str) -> tuple:
        """A larger batch of real inputs, for data-aware scorers and the refit."""

    def train(
        self,
        models: dict[str, nn.Module],
        iters: int,
        state_path: Path | None,
        resume: bool,
        label: str,
        teacher: dict[str, nn.Module] | None = None,
        phase: str = "dense",
    ) -> TrainStats:
        """Train ``models`` jointly for ``iters`` steps (resumable from ``state_path``), with a fresh Adam.

        ``phase`` (one of PHASES) says what is trained: "dense" from initialisation (a warm-up such as
        NeRF's centre crop belongs here and to "scratch"), "finetune" pruned weights kept from the dense
        model, "scratch" the pruned architecture re-initialised. Each phase draws its own batch stream,
        seeded by (seed, phase, step), so retraining never replays the dense run's batches.
        ``teacher`` (the dense models, passed only when ``RunOptions.distill`` > 0) is frozen; the loss then
        mixes ground truth and the teacher's outputs, weighted 1 − distill and distill.
        """

    def evaluate(self, models: dict[str, nn.Module], split: str = "test") -> Evaluation:
        """Metrics on held-out views (``split`` "test", or "val" where the target has one: settings are
        chosen there), plus render time per image where it applies; ``collapsed`` where the target can
        tell that a model learned nothing."""

    def write_visuals(self, out: Path, dense: Evaluation, pruned: Evaluation) -> list[str]:
        """Renders or plots comparing both stages; returns the files written (relative to ``out``)."""

    def preview(self, evaluation: Evaluation):
        """One (H, W, 3) image in [0, 1] that shows this evaluation (a test render), or None."""


class Target(Protocol):
    name: str
    description: str
    presets: dict[str, Preset]
    options: type  # optional: a dataclass of the target's own -O KEY=VALUE options, with their defaults

    def setup(self, options: RunOptions) -> Task: ...


@dataclass(frozen=True, kw_only=True)
class Preset:
    """What every target's preset (a run's size) says: its training steps, dense and retraining (None: as
    many as dense), and how many steps the speed comparison times. A target subclasses it with its own
    typed fields."""

    iters: int
    retrain_iters: int | None = None
    timing_steps: int = 30  # training steps of each model timed per cell, pruned against dense, interleaved


def iterations(options: RunOptions, preset: Preset) -> tuple[int, int]:
    """Dense and retraining steps: the options', else the preset's."""
    dense = options.iters or preset.iters
    retrain = options.retrain_iters or (options.iters if options.iters else preset.retrain_iters or dense)
    return dense, retrain


@dataclass
class NoOptions:
    """The options of a target that declares none."""


def options_of(target) -> type:
    """The dataclass of ``target``'s own options (``NoOptions`` when it declares none)."""
    return getattr(target, "options", NoOptions)


def parse_options(cls: type, given: dict[str, str], target: str):
    """``cls`` (a dataclass of a target's own options) filled from ``-O KEY=VALUE`` strings, each cast to
    its field's type; an unknown key or a value of the wrong type is a one-line error."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    types = typing.get_type_hints(cls)
    values = {}
    for key, text in given.items():
        if key not in fields:
            known = ", ".join(fields) or "none"
            raise BadInput(f"-O {key}: the {target} target has no such option (its options: {known})")
        kind = types[key]
        try:
            if kind is bool:
                if str(text).lower() not in ("true", "false", "1", "0"):
                    raise ValueError
                values[key] = str(text).lower() in ("true", "1")
            else:
                values[key] = kind(text)
        except (TypeError, ValueError):
            raise BadInput(f"-O {key}={text}: expected {kind.__name__}") from None
    return cls(**values)


def option_pairs(pairs: list[str]) -> dict[str, str]:
    """``["factor=4", …]`` from the command line as {"factor": "4", …}."""
    found = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise BadInput(f"-O expects KEY=VALUE, got {pair!r}")
        found[key.strip()] = value.strip()
    return found
