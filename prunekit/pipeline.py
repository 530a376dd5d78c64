"""``run``: dense → score → select → surgery → retrain → evaluate → report, the same for every target.

A target (NeRF, digits, …; see ``prunekit.target``) knows its data, models, training and metrics; the
pipeline knows nothing of them.
"""

from __future__ import annotations

import contextlib
import copy
import math
import shutil
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
from torch import nn

from prunekit import checkpoint, plugins
from prunekit.api import prune_steps
from prunekit.budget import Budget, allocate, count_params
from prunekit.errors import BadInput, CheckpointError
from prunekit.files import LOCK, data_identity, folder_lock, json_safe, read_json, write_json
from prunekit.graph import ModelGraph
from prunekit.progress import console
from prunekit.quantize import check_mode, quantized_copy
from prunekit.report import write_report
from prunekit.runtime import barrier, is_main, world
from prunekit.schedule import check as check_schedule
from prunekit.schedule import split_iters
from prunekit.target import Evaluation, RunOptions, Task, options_of, parse_options
from prunekit.training import WARMUP_STEPS, TrainStats


@dataclass
class RunConfig:
    target: str
    scorer: str = "w_out"
    selector: str = "coreset"
    width: int | None = None
    keep: float | None = None
    retrain: str = "finetune"
    refit: bool = False
    allocation: str = "uniform"
    round_to: int = 1
    quantize: str | None = None
    steps: int = 1  # cuts from dense to the budget (gradual pruning), with training between them
    schedule: str = "cubic"
    options: RunOptions = field(default_factory=RunOptions)
    out: Path = Path("runs/latest")
    dense_checkpoint: Path | None = None
    resume: bool = False
    force: bool = False
    timing_steps: int | None = None  # None: the preset's


RUN_FILE = "run.json"  # what a run was asked to do; written first, so it also marks a folder as prunekit's


def run_settings(cfg: RunConfig) -> dict:
    """Everything that decides what a run computes (not where or on which device): a checkpoint in --out
    may only be resumed by a run with the same settings."""
    o = cfg.options
    return {
        "target": cfg.target,
        "scorer": cfg.scorer,
        "selector": cfg.selector,
        "budget": Budget(cfg.width, cfg.keep, cfg.allocation, cfg.round_to).as_dict(),
        "retrain": cfg.retrain,
        "refit": cfg.refit,
        "quantize": cfg.quantize,
        **({"steps": cfg.steps, "schedule": cfg.schedule} if cfg.steps > 1 else {}),
        "dense_checkpoint": None if cfg.dense_checkpoint is None else str(Path(cfg.dense_checkpoint).resolve()),
        "data": None if o.data is None else str(Path(o.data).resolve()),
        "data_id": data_identity(o.data),
        "preset": o.preset,
        "iters": o.iters,
        "retrain_iters": o.retrain_iters,
        "seed": o.seed,
        "precision": o.precision,
        "distill": o.distill,
        "finetune_schedule": o.finetune_schedule,
        "target_options": o.target_options,
    }


def check_out(cfg: RunConfig) -> None:
    """Refuse a file, a finished run (unless --force), an interrupted run without --resume (or --force),
    a run to resume with other settings, and a non-empty folder prunekit did not write (unless --force)."""
    out = cfg.out
    if out.exists() and not out.is_dir():
        raise BadInput(f"--out {out} is an existing file; give a directory")
    if not out.is_dir() or not any(p.name != LOCK for p in out.iterdir()):
        return
    if (out / "report.json").exists():
        if not cfg.force:
            raise BadInput(
                f"--out {out} holds a finished run; pass --force to replace its results or choose another --out"
            )
        return
    if not (out / RUN_FILE).exists():
        if not cfg.force:
            raise BadInput(
                f"--out {out} is a non-empty folder that prunekit did not write; choose a new or empty folder "
                "(or pass --force to write into it anyway)"
            )
        return
    if cfg.resume and not cfg.force:  # --force replaces: settings that differ start over, never resume
        before, now = read_json(out / RUN_FILE, "run settings"), json_safe(run_settings(cfg))
        diff = [k for k in now if before.get(k) != now[k]]
        if diff:
            shown = ", ".join(f"{k} {before.get(k)!r} there, {now[k]!r} now" for k in diff)
            raise BadInput(f"--resume: --out {out} holds a run with other settings ({shown}); resume it as it was")
    elif not cfg.force:
        raise BadInput(
            f"--out {out} holds an interrupted run; add --resume to continue it from its last checkpoint, "
            "or --force to start it over"
        )


def clear_run(out: Path) -> None:
    """Remove what a run, an export and an evaluation wrote in ``out`` (checkpoints, reports, renders,
    exports, eval-*.json), so that ``--force`` starts over: nothing of the replaced run is resumed,
    exported or evaluated as the new one. Files prunekit did not write stay."""
    report = read_json(out / "report.json", "run report") if (out / "report.json").is_file() else {}
    files = report.get("files") if isinstance(report, dict) else None
    written = {Path(f).parts[0] for f in files or [] if isinstance(f, str) and Path(f).parts}
    written |= set(RUN_OUTPUTS) | {p.name for p in out.glob("eval-*.json")}
    for name in sorted(written):
        path = out / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


# what a run writes in --out besides its target's visuals (report["files"]) and eval-*.json
RUN_OUTPUTS = (RUN_FILE, "report.json", "report.md", "dense", "pruned", "quantized", "export")


def prepare_out(cfg: RunConfig) -> None:
    """Check --out (every process, before any of them writes), then create it and record the settings.
    With ``--force`` a run of prunekit's there is replaced: cleared first, unless it is an interrupted run
    with the same settings that ``--resume`` continues."""
    check_out(cfg)
    barrier()
    out = cfg.out
    ours = (out / RUN_FILE).is_file() or (out / "report.json").is_file()
    if cfg.force and ours and is_main():
        same = (out / RUN_FILE).is_file() and read_json(out / RUN_FILE, "run settings") == json_safe(run_settings(cfg))
        if not (cfg.resume and same and not (out / "report.json").exists()):
            clear_run(out)
    barrier()
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".prunekit-write-test-{world()[0]}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise BadInput(f"--out {out} is not writable: {exc.strerror or exc}") from None
    if is_main():
        write_json(out / RUN_FILE, json_safe(run_settings(cfg)))


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
    scorer: str,
    selector: str,
    budget: Budget,
    refit: bool,
    seed: int,
    steps: int = 1,
    schedule: str = "cubic",
    between: Callable[[dict[str, nn.Module], int], None] | None = None,
) -> tuple[dict[str, nn.Module], float]:
    """Pruned copies of every dense model, and the seconds the cuts took. With ``steps`` > 1 every model
    is cut gradually, all in step, and ``between(models, step)`` trains them together after each cut but
    the last (its time is not counted)."""
    for name in dense:  # so that a scorer or selector that hangs or fails is known by name and package
        console.log(
            f"pruning {name}: scoring with {_named('scorer', scorer)}, selecting with {_named('selector', selector)}"
        )
    cuts = {
        name: prune_steps(
            m,
            task.example_inputs(name),
            scorer=scorer,
            selector=selector,
            width=budget.width,
            keep=budget.keep,
            calibration=task.calibration_inputs(name),
            refit=refit,
            seed=seed,
            allocation=budget.allocation,
            round_to=budget.round_to,
            steps=steps,
            schedule=schedule,
            prunable=task.prunable(name),
            loss=task.calibration_loss(name),
        )
        for name, m in dense.items()
    }
    seconds = 0.0
    for step in range(1, steps + 1):
        t0 = time.perf_counter()
        pruned = {name: next(c) for name, c in cuts.items()}
        seconds += time.perf_counter() - t0
        if step < steps and between is not None:
            between(pruned, step)
    return pruned, seconds


def _named(kind: str, name: str) -> str:
    """A plug-in's name and the package that registered it, as the user should hear it."""
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


def run(cfg: RunConfig) -> dict:
    """Run the whole pipeline; returns the report (also written to ``cfg.out``)."""
    check_choices(cfg.target, [cfg.scorer], [cfg.selector], [cfg.retrain], cfg.options)
    target = plugins.get_target(cfg.target)
    if cfg.quantize is not None:
        check_mode(cfg.quantize)
    check_schedule(cfg.steps, cfg.schedule, [cfg.retrain])
    task = target.setup(cfg.options)
    if cfg.width is None and cfg.keep is None:
        cfg = replace(cfg, width=default_width(task))
    budget = Budget(width=cfg.width, keep=cfg.keep, allocation=cfg.allocation, round_to=cfg.round_to)
    check_out(cfg)
    check_budget(task, budget)
    split_iters(task.retrain_iters, cfg.steps)  # every phase gets at least one iteration
    with contextlib.ExitStack() as held:
        if is_main():  # one process writes the folder; a second run into it stops at once
            try:
                held.enter_context(folder_lock(cfg.out))
            except OSError as exc:  # the folder (or its lock) cannot be created
                raise BadInput(f"--out {cfg.out} is not writable: {exc.strerror or exc}") from None
        return _stages(cfg, target, task, budget)


def _stages(cfg: RunConfig, target, task: Task, budget: Budget) -> dict:
    """dense → prune → retrain → evaluate → time → report, once every check has passed."""
    prepare_out(cfg)  # nothing is written before every check has passed
    if cfg.dense_checkpoint is not None:
        cfg = replace(cfg, dense_checkpoint=model_folder(cfg.dense_checkpoint, task.build(0)))

    dense_dir = cfg.dense_checkpoint if cfg.dense_checkpoint is not None else cfg.out / "dense"
    # Under torchrun every process trains (each on its share of every batch) and prunes alike; the main
    # process alone evaluates and writes.
    main = is_main()
    dense, dense_train = dense_stage(task, cfg.options.seed, cfg.out / "dense", cfg.resume, cfg.dense_checkpoint)
    dense_eval = task.evaluate(dense) if main else None
    teacher = teacher_for(cfg.options, dense)
    phases = split_iters(task.retrain_iters, cfg.steps)  # after each cut; the last is the final fine-tuning
    between = train_between_cuts(task, phases, cfg.out / "pruned", cfg.resume, teacher)
    pruned, prune_seconds = prune_stage(
        task, dense, cfg.scorer, cfg.selector, budget, cfg.refit, cfg.options.seed, cfg.steps, cfg.schedule, between
    )
    pruned_at_cut = task.evaluate(pruned) if main else None
    pruned_train = retrain_stage(
        task, pruned, cfg.retrain, phases[-1], cfg.out / "pruned", cfg.resume, cfg.options.seed, teacher
    )
    pruned_eval = task.evaluate(pruned) if main else None

    console.log("timing training steps of both models, interleaved")
    timing = time_steps(task, dense, pruned, cfg.timing_steps or target.presets[cfg.options.preset].timing_steps)
    dense_sec, pruned_sec = timing["dense_sec_per_iter"], timing["pruned_sec_per_iter"]
    if not main:
        barrier()  # wait for the main process's report
        return {}
    files = task.write_visuals(cfg.out, dense_eval, pruned_eval)
    report = {
        "target": cfg.target,
        "scorer": cfg.scorer,
        "selector": cfg.selector,
        "budget": budget.as_dict(),
        "retrain": cfg.retrain,
        "refit": cfg.refit,
        "distill": cfg.options.distill,
        "seed": cfg.options.seed,
        "preset": cfg.options.preset,
        "iters": task.iters,
        "retrain_iters": task.retrain_iters,
        "schedule": {"steps": cfg.steps, "kind": cfg.schedule, "retrain_iters": phases},
        "options": {**asdict(cfg.options), "data": None if cfg.options.data is None else str(cfg.options.data)},
        "dense_dir": "dense" if cfg.dense_checkpoint is None else str(Path(cfg.dense_checkpoint).resolve()),
        "device": str(next(dense[next(iter(dense))].parameters()).device),
        "headline": task.headline,
        "higher_is_better": task.higher_is_better,
        "prune_seconds": prune_seconds,
        "dense": summarise(dense, dense_eval, dense_sec),
        "pruned_before_retrain": pruned_at_cut.metrics,
        "pruned": summarise(pruned, pruned_eval, pruned_sec),
        "training": {"dense": None if dense_train is None else asdict(dense_train), "pruned": asdict(pruned_train)},
        "timing": timing,
        "files": files,
    }
    report["ratios"] = {
        "params": report["pruned"]["params"] / report["dense"]["params"],
        "sec_per_iter": timing["ratio"],
    }
    for metric in task.ratios:  # what the target measures in its evaluation (render time)
        report["ratios"][metric] = pruned_eval.metrics[metric] / dense_eval.metrics[metric]
    if "inference_ratio" in timing:
        report["ratios"]["inference_seconds"] = timing["inference_ratio"]
    report["dense"]["size_on_disk_mb"] = disk_mb(dense_dir, dense)
    report["pruned"]["size_on_disk_mb"] = disk_mb(cfg.out / "pruned", pruned)
    if cfg.quantize is not None:
        quantized = {n: quantized_copy(m, cfg.quantize) for n, m in pruned.items()}
        (cfg.out / "quantized").mkdir(exist_ok=True)
        for name, m in quantized.items():
            checkpoint.save(m, cfg.out / "quantized" / f"{name}.safetensors", config=task.config(name))
        q_eval = task.evaluate(quantized)
        report["quantized"] = {
            **summarise(quantized, q_eval, math.nan),
            "mode": cfg.quantize,
            "size_on_disk_mb": disk_mb(cfg.out / "quantized", quantized),
        }
        report["ratios"]["size_on_disk_quantized"] = (
            report["quantized"]["size_on_disk_mb"] / report["dense"]["size_on_disk_mb"]
        )
    write_report(cfg.out, report)
    barrier()
    return report


def disk_mb(folder: Path, models: dict[str, nn.Module]) -> float:
    """Megabytes of the models' safetensors files in ``folder``."""
    return sum((folder / f"{name}.safetensors").stat().st_size for name in models) / 1e6


def open_run(run_dir: Path, data: Path | None = None, device: str = "auto"):
    """A finished run's task (its data, or ``data``) and its models: ({"dense": …, "pruned": …}, report)."""
    if not Path(run_dir).is_dir():
        raise BadInput(f"{run_dir} is not a run folder (give the --out folder of a finished `prunekit run`)")
    report = read_json(Path(run_dir) / "report.json", "run report")
    try:
        saved = dict(report.get("options") or {"preset": report["preset"], "seed": report["seed"]})
        target = plugins.get_target(report["target"])
    except (KeyError, TypeError, AttributeError):
        raise BadInput(f"{run_dir}/report.json is not a prunekit run report") from None
    if data is not None:
        if not Path(data).exists():
            raise BadInput(f"--data {data} does not exist")
        saved["data"] = data
    saved["data"] = None if saved.get("data") is None else Path(saved["data"])
    saved["device"] = device
    known = RunOptions.__dataclass_fields__
    task = target.setup(RunOptions(**{k: v for k, v in saved.items() if k in known}))
    dense_dir = Path(run_dir) / report.get("dense_dir", "dense")  # relative to the run, or absolute
    stages = {"dense": load_models(task, dense_dir), "pruned": load_models(task, Path(run_dir) / "pruned")}
    return task, stages, report
