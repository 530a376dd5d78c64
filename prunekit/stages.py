"""The stages every cell runs — dense → prune → retrain → evaluate → time (→ quantize) — and
:func:`run_cell`, the one sequence ``prunekit run`` and every sweep cell share."""

from __future__ import annotations

import copy
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import nn

from prunekit import checkpoint, plugins
from prunekit.api import prune_steps
from prunekit.budget import Budget, allocate, count_params
from prunekit.errors import BadInput, CheckpointError
from prunekit.graph import ModelGraph
from prunekit.progress import console
from prunekit.quantize import quantized_copy
from prunekit.runtime import is_main
from prunekit.schedule import split_iters
from prunekit.spec import PruneSpec, name_of
from prunekit.target import Evaluation, RunOptions, Task, options_of, parse_options
from prunekit.training import WARMUP_STEPS, TrainStats


def time_steps(task: Task, dense: dict[str, nn.Module], pruned: dict[str, nn.Module], steps: int, rounds: int = 3):
    """Seconds per training step of copies of both model sets, timed in alternating blocks (dense, pruned,
    dense, …; ``rounds`` blocks of ``steps / rounds`` timed steps each, after a warm-up), so that a change
    in the machine's load during the measurement falls on both alike. Each round gives one ratio, pruned ÷
    dense (``block_ratios``); the ratio is their median, so one round disturbed by another job on the
    machine does not move it."""
    per = max(1, math.ceil(steps / rounds))
    trials = {
        stage: {n: copy.deepcopy(m) for n, m in ms.items()} for stage, ms in (("dense", dense), ("pruned", pruned))
    }
    seconds: dict[str, list[float]] = {"dense": [], "pruned": []}
    inference: dict[str, list[float]] = {"dense": [], "pruned": []}
    for _ in range(rounds):
        for stage, models in trials.items():
            stats = task.train(models, per + WARMUP_STEPS, None, False, f"timing {stage}", phase="finetune")
            seconds[stage].append(stats.seconds_per_iter)
            if task.timed_inference:
                t0 = time.perf_counter()
                task.infer(models)
                inference[stage].append(time.perf_counter() - t0)
    dense_sec, pruned_sec = statistics.fmean(seconds["dense"]), statistics.fmean(seconds["pruned"])
    timed_inference = {}
    if task.timed_inference:
        timed_inference = {
            "dense_inference_seconds": statistics.fmean(inference["dense"]),
            "pruned_inference_seconds": statistics.fmean(inference["pruned"]),
            "inference_ratio": statistics.median(p / d for p, d in zip(inference["pruned"], inference["dense"])),
        }
    return {
        "steps": per * rounds,
        "rounds": rounds,
        "dense_sec_per_iter": dense_sec,
        "pruned_sec_per_iter": pruned_sec,
        "ratio": statistics.median(p / d for p, d in zip(seconds["pruned"], seconds["dense"])),
        "block_ratios": [p / d for p, d in zip(seconds["pruned"], seconds["dense"])],
        **timed_inference,
    }


def summarise(models: dict[str, nn.Module], evaluation: Evaluation, sec_per_iter: float | None) -> dict:
    params = sum(count_params(m) for m in models.values())
    widths = {
        n: [layer.out_features for layer in m.modules() if isinstance(layer, nn.Linear)] for n, m in models.items()
    }
    return {
        "params": params,
        "size_mb": params * 4 / 1e6,
        "widths": widths,
        "sec_per_iter": sec_per_iter,
        **evaluation.metrics,
    }


def _reinitialise(models: dict[str, nn.Module], seed: int) -> None:
    torch.manual_seed(seed)
    for m in models.values():
        for layer in m.modules():
            if hasattr(layer, "reset_parameters"):
                layer.reset_parameters()


def check_choices(target_name: str, scorers: list[str], selectors: list[str], retrain: list[str], options: RunOptions):
    """Fail on any unknown name or target option before doing any work; returns the target."""
    preset = options.preset
    target = plugins.get_target(target_name)
    parse_options(options_of(target), options.target_options, target_name)
    for name in scorers:
        plugins.get_scorer(name)
    for name in selectors:
        plugins.get_selector(name)
    for mode in retrain:
        if mode not in ("finetune", "scratch"):
            raise BadInput(f"--retrain must be finetune or scratch, got {mode!r}")
    if preset not in target.presets:
        raise BadInput(f"unknown preset {preset!r} for {target_name}; choose one of: {', '.join(target.presets)}")
    return target


def check_budget(task: Task, budget: Budget) -> None:
    """Refuse a budget that cannot apply to the task's models (wider than they are, or one that prunes
    nothing) before any training, on freshly built models."""
    for name, model in task.build(0).items():
        graph = ModelGraph(model, task.example_inputs(name), task.prunable(name))
        allocate(graph, replace(budget, allocation="uniform"))


def model_folder(path: Path, names) -> Path:
    """The folder holding ``{name}.safetensors`` for every model: ``path`` itself or its ``dense/``."""
    for folder in (Path(path), Path(path) / "dense"):
        if all((folder / f"{name}.safetensors").is_file() for name in names):
            return folder
    wanted = ", ".join(f"{n}.safetensors" for n in names)
    raise BadInput(f"--dense-checkpoint {path}: no {wanted} there or in its dense/ folder")


def load_models(task: Task, folder: Path, seed: int = 0) -> dict[str, nn.Module]:
    """The task's models with the weights (and pruned shapes) saved in ``folder``, on the task's device."""
    models = task.build(seed)
    for name, m in models.items():
        saved = checkpoint.read_description(folder / f"{name}.safetensors").get("config") or {}
        if saved != task.config(name):  # sizes no tensor shows (an encoding's frequencies) must agree too
            raise CheckpointError(
                f"{folder / name}.json describes another architecture than this target builds: config {saved} there, "
                f"{task.config(name)} here"
            )
        loaded = checkpoint.load(folder / f"{name}.safetensors", cls=type(m))
        models[name] = loaded.to(next(m.parameters()).device)
    return models


def dense_stage(task: Task, seed: int, folder: Path, resume: bool, dense_checkpoint: Path | None = None):
    """Trained dense models (saved in ``folder``) and their training stats (None when loaded)."""
    folder.mkdir(parents=True, exist_ok=True)
    if dense_checkpoint is not None:
        return load_models(task, Path(dense_checkpoint), seed), None
    dense = task.build(seed)
    stats = task.train(dense, task.iters, folder / "train_state.safetensors", resume, "dense", phase="dense")
    if is_main():
        for name, m in dense.items():
            checkpoint.save(m, folder / f"{name}.safetensors", config=task.config(name))
    return dense, stats


def prune_stage(
    task: Task,
    dense: dict[str, nn.Module],
    spec: PruneSpec,
    between: Callable[[dict[str, nn.Module], int], None] | None = None,
) -> tuple[dict[str, nn.Module], float]:
    """Pruned copies of every dense model, and the seconds the cuts took. With ``spec.steps`` > 1 every
    model is cut gradually, all in step, and ``between(models, step)`` trains them together after each
    cut but the last (its time is not counted)."""
    for name in dense:  # so that a scorer or selector that hangs or fails is known by name and package
        console.log(
            f"pruning {name}: scoring with {_named('scorer', spec.scorer)}, "
            f"selecting with {_named('selector', spec.selector)}"
        )
    cuts = {
        name: prune_steps(
            m,
            task.example_inputs(name),
            spec,
            calibration=task.calibration_inputs(name),
            prunable=task.prunable(name),
            loss=task.calibration_loss(name),
        )
        for name, m in dense.items()
    }
    seconds = 0.0
    for step in range(1, spec.steps + 1):
        t0 = time.perf_counter()
        pruned = {name: next(c) for name, c in cuts.items()}
        seconds += time.perf_counter() - t0
        if step < spec.steps and between is not None:
            between(pruned, step)
    return pruned, seconds


def _named(kind: str, obj) -> str:
    """A plug-in's name and the package that registered it, as the user should hear it."""
    name = name_of(obj)
    entry = plugins.registry().entries[kind].get(name)
    return f"{name!r} (from {entry.source})" if entry is not None and entry.source else repr(name)


def train_between_cuts(
    task: Task, phases: list[int], folder: Path, resume: bool, teacher: dict[str, nn.Module] | None
) -> Callable[[dict[str, nn.Module], int], None]:
    """What a gradual schedule does after cut ``step`` (all but the last): fine-tune the models together
    for ``phases[step - 1]`` steps, checkpointed in ``folder``/stepN, with the teacher if distilling."""
    extra = {} if teacher is None else {"teacher": teacher}

    def between(models: dict[str, nn.Module], step: int) -> None:
        state = folder / f"step{step}" / "train_state.safetensors"
        state.parent.mkdir(parents=True, exist_ok=True)
        label = f"retrain {step}/{len(phases)}"
        task.train(models, phases[step - 1], state, resume, label, phase="finetune", **extra)

    return between


def retrain_stage(
    task: Task,
    pruned: dict[str, nn.Module],
    mode: str,
    iters: int,
    folder: Path,
    resume: bool,
    seed: int,
    teacher: dict[str, nn.Module] | None = None,
) -> TrainStats:
    """Fine-tune the selected weights, or re-initialise the pruned architecture and train it from scratch.

    With a ``teacher`` (the dense models) the task distils from it; targets without distillation never
    see the argument.
    """
    folder.mkdir(parents=True, exist_ok=True)
    if mode == "scratch":
        _reinitialise(pruned, seed + 1)
    extra = {} if teacher is None else {"teacher": teacher}
    stats = task.train(pruned, iters, folder / "train_state.safetensors", resume, "retrain", phase=mode, **extra)
    if is_main():
        for name, m in pruned.items():
            checkpoint.save(m, folder / f"{name}.safetensors", config=task.config(name))
    return stats


def teacher_for(options: RunOptions, dense: dict[str, nn.Module]) -> dict[str, nn.Module] | None:
    """The dense models as a frozen teacher when distillation is asked for, else None."""
    if options.distill == 0:
        return None
    for m in dense.values():
        m.eval()
    return dense


def default_width(task: Task) -> int:
    """The budget when none is asked for: half the widest prunable layer of the task's models, so it
    follows whichever model the options build."""
    widest = max(
        layer.width
        for name, model in task.build(0).items()
        for layer in ModelGraph(model, task.example_inputs(name), task.prunable(name)).layers.values()
    )
    return max(1, widest // 2)


def disk_mb(folder: Path, models: dict[str, nn.Module]) -> float:
    """Megabytes of the models' safetensors files in ``folder``."""
    return sum((folder / f"{name}.safetensors").stat().st_size for name in models) / 1e6


@dataclass
class CellResult:
    """What :func:`run_cell` measured of one pruned model set (evaluations None off the main process)."""

    pruned: dict[str, nn.Module]
    prune_seconds: float
    phases: list[int]  # retraining steps after each cut; the last is the final fine-tuning
    at_cut: dict | None  # metrics right after the cut, before retraining
    training: TrainStats
    evaluation: Evaluation | None
    timing: dict
    summary: dict | None  # summarise() of the retrained models (+ "val" metrics when asked)
    quantized: dict | None  # the retrained models quantized: summary, mode and size on disk


def run_cell(
    task: Task,
    dense: dict[str, nn.Module],
    spec: PruneSpec,
    retrain: str,
    folder: Path,
    *,
    resume: bool,
    teacher: dict[str, nn.Module] | None,
    timing_steps: int,
    at_cut: bool = True,
    validation: bool = False,
    quantize: str | None = None,
    quantized_dir: Path | None = None,
) -> CellResult:
    """prune → (evaluate at the cut) → retrain → evaluate → time → (validate) → (quantize): one cell, as
    ``prunekit run`` and every sweep cell run it. Checkpoints go to ``folder`` (resumable); under
    torchrun every process trains and prunes alike, the main one alone evaluates."""
    main = is_main()
    phases = split_iters(task.retrain_iters, spec.steps)
    between = train_between_cuts(task, phases, folder, resume, teacher)
    pruned, seconds = prune_stage(task, dense, spec, between)
    cut_metrics = task.evaluate(pruned).metrics if at_cut and main else None
    training = retrain_stage(task, pruned, retrain, phases[-1], folder, resume, spec.seed, teacher)
    evaluation = task.evaluate(pruned) if main else None
    console.log("timing training steps of both models, interleaved")
    timing = time_steps(task, dense, pruned, timing_steps)
    summary = summarise(pruned, evaluation, timing["pruned_sec_per_iter"]) if main else None
    if main and validation:
        summary["val"] = task.evaluate(pruned, split="val").metrics
    quantized = None
    if main and quantize is not None:
        models = {n: quantized_copy(m, quantize) for n, m in pruned.items()}
        quantized_dir.mkdir(parents=True, exist_ok=True)
        for name, m in models.items():
            checkpoint.save(m, quantized_dir / f"{name}.safetensors", config=task.config(name))
        quantized = {
            **summarise(models, task.evaluate(models), math.nan),
            "mode": quantize,
            "size_on_disk_mb": disk_mb(quantized_dir, models),
        }
    return CellResult(pruned, seconds, phases, cut_metrics, training, evaluation, timing, summary, quantized)
