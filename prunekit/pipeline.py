"""``run``: dense → score → select → surgery → retrain → evaluate → report, the same for every target.

A target (NeRF, digits, …; see ``prunekit.target``) knows its data, models, training and metrics; the
pipeline knows nothing of them. The stages are ``prunekit.stages``'s (a sweep cell runs the same
:func:`~prunekit.stages.run_cell`); the folder rules are ``prunekit.runfolder``'s.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from prunekit import plugins
from prunekit.errors import BadInput
from prunekit.files import folder_lock, read_json
from prunekit.flags import flag
from prunekit.quantize import check_mode
from prunekit.report import write_report
from prunekit.runfolder import check_out, prepare_out
from prunekit.runtime import barrier, is_main
from prunekit.schedule import check as check_schedule
from prunekit.schedule import split_iters
from prunekit.spec import PruneSpec
from prunekit.stages import (
    check_budget,
    check_choices,
    default_width,
    dense_stage,
    disk_mb,
    load_models,
    model_folder,
    run_cell,
    summarise,
    teacher_for,
)
from prunekit.target import RunOptions, Task


@dataclass
class RunConfig:
    """One ``prunekit run``: the target, the pruning request (its seed is the run's, ``options.seed``),
    what follows the cut, and where it all goes. The flagged fields are the command's own flags."""

    target: str
    spec: PruneSpec = field(default_factory=PruneSpec)
    retrain: str = field(default="finetune", metadata=flag("finetune the selected weights, or retrain from scratch."))
    quantize: str | None = field(default=None, metadata=flag("After retraining, also quantize: int8, fp16 or bf16."))
    options: RunOptions = field(default_factory=RunOptions)
    out: Path = field(
        default=Path("runs/latest"), metadata=flag("Directory for report.json, report.md, renders, checkpoints.")
    )
    dense_checkpoint: Path | None = field(
        default=None,
        metadata=flag(
            "A trained dense model to reuse: a run's --out folder, its dense/ folder, or a sweep's dense-seedN/."
        ),
    )
    resume: bool = field(
        default=False, metadata=flag("Continue an interrupted run in --out from its last checkpoint.", "--resume")
    )
    force: bool = field(default=False, metadata=flag("Replace the results of a finished run in --out.", "--force"))
    timing_steps: int | None = None  # None: the preset's

    def __post_init__(self) -> None:
        self.spec = replace(self.spec, seed=self.options.seed)


def run(cfg: RunConfig) -> dict:
    """Run the whole pipeline; returns the report (also written to ``cfg.out``)."""
    check_choices(cfg.target, [cfg.spec.scorer], [cfg.spec.selector], [cfg.retrain], cfg.options)
    target = plugins.get_target(cfg.target)
    if cfg.quantize is not None:
        check_mode(cfg.quantize)
    check_schedule(cfg.spec.steps, cfg.spec.schedule, [cfg.retrain])
    task = target.setup(cfg.options)
    if cfg.spec.width is None and cfg.spec.keep is None:
        cfg = replace(cfg, spec=replace(cfg.spec, width=default_width(task)))
    check_out(cfg)
    check_budget(task, cfg.spec.budget)
    split_iters(task.retrain_iters, cfg.spec.steps)  # every phase gets at least one iteration
    with contextlib.ExitStack() as held:
        if is_main():  # one process writes the folder; a second run into it stops at once
            try:
                held.enter_context(folder_lock(cfg.out))
            except OSError as exc:  # the folder (or its lock) cannot be created
                raise BadInput(f"--out {cfg.out} is not writable: {exc.strerror or exc}") from None
        return _stages(cfg, target, task)


def _stages(cfg: RunConfig, target, task: Task) -> dict:
    """dense → the cell (prune → retrain → evaluate → time → quantize) → report, once every check has passed."""
    prepare_out(cfg)  # nothing is written before every check has passed
    if cfg.dense_checkpoint is not None:
        cfg = replace(cfg, dense_checkpoint=model_folder(cfg.dense_checkpoint, task.build(0)))
    dense_dir = cfg.dense_checkpoint if cfg.dense_checkpoint is not None else cfg.out / "dense"
    # Under torchrun every process trains (each on its share of every batch) and prunes alike; the main
    # process alone evaluates and writes.
    main = is_main()
    dense, dense_train = dense_stage(task, cfg.options.seed, cfg.out / "dense", cfg.resume, cfg.dense_checkpoint)
    dense_eval = task.evaluate(dense) if main else None
    cell = run_cell(
        task,
        dense,
        cfg.spec,
        cfg.retrain,
        cfg.out / "pruned",
        resume=cfg.resume,
        teacher=teacher_for(cfg.options, dense),
        timing_steps=cfg.timing_steps or target.presets[cfg.options.preset].timing_steps,
        quantize=cfg.quantize,
        quantized_dir=cfg.out / "quantized",
    )
    if not main:
        barrier()  # wait for the main process's report
        return {}
    timing = cell.timing
    spec = cfg.spec.record()
    report = {
        "target": cfg.target,
        "scorer": spec["scorer"],
        "selector": spec["selector"],
        "budget": spec["budget"],
        "retrain": cfg.retrain,
        "refit": cfg.spec.refit,
        "distill": cfg.options.distill,
        "seed": cfg.options.seed,
        "preset": cfg.options.preset,
        "iters": task.iters,
        "retrain_iters": task.retrain_iters,
        "schedule": {"steps": cfg.spec.steps, "kind": cfg.spec.schedule, "retrain_iters": cell.phases},
        "options": {**asdict(cfg.options), "data": None if cfg.options.data is None else str(cfg.options.data)},
        "dense_dir": "dense" if cfg.dense_checkpoint is None else str(Path(cfg.dense_checkpoint).resolve()),
        "device": str(next(dense[next(iter(dense))].parameters()).device),
        "headline": task.headline,
        "higher_is_better": task.higher_is_better,
        "prune_seconds": cell.prune_seconds,
        "dense": summarise(dense, dense_eval, timing["dense_sec_per_iter"]),
        "pruned_before_retrain": cell.at_cut,
        "pruned": cell.summary,
        "training": {"dense": None if dense_train is None else asdict(dense_train), "pruned": asdict(cell.training)},
        "timing": timing,
        "files": task.write_visuals(cfg.out, dense_eval, cell.evaluation),
    }
    report["ratios"] = {
        "params": report["pruned"]["params"] / report["dense"]["params"],
        "sec_per_iter": timing["ratio"],
    }
    for metric in task.ratios:  # what the target measures in its evaluation (render time)
        report["ratios"][metric] = cell.evaluation.metrics[metric] / dense_eval.metrics[metric]
    if "inference_ratio" in timing:
        report["ratios"]["inference_seconds"] = timing["inference_ratio"]
    rounded = {n: m.prunekit_plan for n, m in cell.pruned.items() if "round_to" in m.prunekit_plan.info}
    if rounded:  # the widths asked for beside the widths built (--round-to)
        report["rounding"] = {
            n: {
                "multiple": plan.info["round_to"],
                "asked": plan.info["exact_widths"],
                "built": {layer: len(lp.kept) for layer, lp in plan.layers.items()},
            }
            for n, plan in rounded.items()
        }
    report["dense"]["size_on_disk_mb"] = disk_mb(dense_dir, dense)
    report["pruned"]["size_on_disk_mb"] = disk_mb(cfg.out / "pruned", cell.pruned)
    if cell.quantized is not None:
        report["quantized"] = cell.quantized
        report["ratios"]["size_on_disk_quantized"] = (
            cell.quantized["size_on_disk_mb"] / report["dense"]["size_on_disk_mb"]
        )
    write_report(cfg.out, report)
    barrier()
    return report


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
