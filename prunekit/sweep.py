"""``prunekit sweep``: the study as one command — strategies × budgets × retrain modes × seeds.

One dense model is trained per seed and reused by every cell of that seed. Each finished cell is a JSON
file under ``cells/``, so an interrupted sweep resumes where it stopped. Every strategy gets the same
retraining budget. Tables, confidence intervals and plots are made by ``prunekit.study``.

The fairness rule, one rule: every pruned model is compared with its seed's dense model **retrained
exactly as the pruned one was after the cut** — the same ``retrain_stage`` call, so the same retrain mode
(fine-tuning continues the trained weights, ``scratch`` re-initialises them), the same number of steps,
the same fresh Adam, learning-rate schedule and batch stream. The dense model itself is its own teacher,
so the reference never distils. Step time is measured inside every cell, dense and pruned in alternating
blocks.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, field, replace
from pathlib import Path

from prunekit import plugins
from prunekit.budget import Budget
from prunekit.errors import BadInput
from prunekit.executors import Jobs, LocalExecutor
from prunekit.files import folder_lock, json_safe, read_json, write_json
from prunekit.progress import console
from prunekit.quantize import check_mode
from prunekit.schedule import check as check_schedule
from prunekit.spec import PruneSpec
from prunekit.stages import (
    check_budget,
    check_choices,
    dense_stage,
    load_models,
    retrain_stage,
    summarise,
    teacher_for,
)
from prunekit.stages import run_cell as cut_and_retrain
from prunekit.study import REFERENCE, read_cell, write_results
from prunekit.sweepfolder import adopt_dense, baseline_path, check_settings
from prunekit.target import RunOptions
from prunekit.visuals import write_png


@dataclass
class SweepConfig:
    target: str
    scorers: list[str]
    selectors: list[str]
    budgets: list[Budget]
    retrain: list[str] = field(default_factory=lambda: ["finetune"])
    seeds: list[int] = field(default_factory=lambda: [0])
    uniform: bool = True  # add the uniform-random baseline (scorer ignored) once per budget
    spec: PruneSpec = field(default_factory=PruneSpec)  # refit and the schedule; each cell sets the rest
    options: RunOptions = field(default_factory=RunOptions)
    out: Path = Path("runs/sweep")
    timing_steps: int | None = None  # timed steps of each model per cell, interleaved (None: the preset's)
    evaluate_at_cut: bool = False  # also evaluate each pruned model before retraining (costs one evaluation)
    quantize: str | None = None  # also evaluate each retrained model quantized (int8, fp16, bf16)
    equal_budget: bool = True  # also train each dense model for the retraining budget (the fair reference)
    validation: bool = False  # also evaluate on the validation views (where settings are chosen)
    reference: str = REFERENCE  # the scorer results.md compares every other scorer with
    dense_from: Path | None = None  # another sweep folder whose dense models and references this one reuses


def _budget_label(b: Budget) -> str:
    size = f"width{b.width}" if b.width is not None else f"keep{b.keep:g}"
    size += "" if b.allocation == "uniform" else f"-{b.allocation}"
    return size + ("" if b.round_to == 1 else f"-r{b.round_to}")


def strategies(cfg: SweepConfig) -> list[tuple[str, str]]:
    pairs = [("random", "uniform")] if cfg.uniform else []
    return pairs + [(s, t) for s, t in itertools.product(cfg.scorers, cfg.selectors) if t != "uniform"]


@dataclass(frozen=True)
class Cell:
    """One strategy at one budget, retrained one way, on one seed's dense model."""

    seed: int
    scorer: str
    selector: str
    budget: Budget
    mode: str

    @property
    def id(self) -> str:
        return f"{self.scorer}-{self.selector}-{_budget_label(self.budget)}-{self.mode}-seed{self.seed}"

    def spec(self, template: PruneSpec) -> PruneSpec:
        """The sweep's request (refit, schedule) for this cell's strategy, budget and seed."""
        b = self.budget
        return replace(
            template, scorer=self.scorer, selector=self.selector, width=b.width, keep=b.keep,
            allocation=b.allocation, round_to=b.round_to, seed=self.seed,
        )  # fmt: skip


def cells(cfg: SweepConfig) -> list[Cell]:
    return [
        Cell(seed, scorer, selector, budget, mode)
        for seed in cfg.seeds
        for (scorer, selector), budget, mode in itertools.product(strategies(cfg), cfg.budgets, cfg.retrain)
    ]


def run_sweep(cfg: SweepConfig, executor=None) -> list[dict]:
    """Every cell not already in ``cfg.out/cells``, run by ``executor`` (a ``prunekit.executors.Executor``;
    default: the local one, in this process);
    the rows are written here, by the driver, as each finishes."""
    check_choices(cfg.target, cfg.scorers, cfg.selectors, cfg.retrain, cfg.options)
    plugins.get_scorer(cfg.reference)
    if cfg.quantize is not None:
        check_mode(cfg.quantize)
    if not cfg.budgets or not cfg.seeds:
        raise BadInput("a sweep needs at least one --widths/--keeps value and one seed")
    for flag, values in (("--seeds", cfg.seeds), ("--retrain", cfg.retrain), ("budgets", cfg.budgets)):
        twice = sorted({str(v) for v in values if values.count(v) > 1})
        if twice:
            raise BadInput(f"{flag} names {', '.join(twice)} more than once")
    for seed in cfg.seeds:
        RunOptions(seed=seed)  # the same bounds as a single run's
    check_schedule(cfg.spec.steps, cfg.spec.schedule, cfg.retrain)
    target = plugins.get_target(cfg.target)
    if cfg.out.exists() and not cfg.out.is_dir():
        raise BadInput(f"--out {cfg.out} is an existing file; give a directory")
    if cfg.out.is_dir() and any(cfg.out.iterdir()) and not (cfg.out / "sweep.json").exists():
        raise BadInput(f"--out {cfg.out} is a non-empty folder that is not a sweep's; choose a new or empty folder")
    (cfg.out / "cells").mkdir(parents=True, exist_ok=True)
    with folder_lock(cfg.out):
        check_settings(cfg)
        task = task_for(cfg, cfg.seeds[0])
        if cfg.dense_from is not None:
            adopt_dense(cfg, target, list(task.build(0)))
        for budget in cfg.budgets:
            check_budget(task, budget)
        return _run_cells(cfg, target, executor)


def _run_cells(cfg: SweepConfig, target, executor) -> list[dict]:
    todo = cells(cfg)
    pending = [c for c in todo if not (cfg.out / "cells" / f"{c.id}.json").exists()]
    seeds = [s for s in cfg.seeds if any(c.seed == s for c in pending) or needs_baseline(cfg, s, target)]
    console.log(f"sweep: {len(todo)} cells, {len(todo) - len(pending)} already done")
    (executor or LocalExecutor()).run(cfg, seeds, pending, Recorder(cfg, len(pending)), Jobs(prepare_seed, run_cell))
    rows = [
        read_cell(cfg.out / "cells" / f"{c.id}.json") for c in todo if (cfg.out / "cells" / f"{c.id}.json").exists()
    ]
    write_results(cfg.out, rows, cfg.reference)
    return rows


def needs_baseline(cfg: SweepConfig, seed: int, target) -> bool:
    return cfg.equal_budget and any(not baseline_path(cfg, seed, mode, target).exists() for mode in cfg.retrain)


_TASK: dict[tuple, object] = {}  # the last task set up in this process: its cells reuse its loaded data


def task_for(cfg: SweepConfig, seed: int):
    """The target's task for ``seed``, set up once per process and seed (a scene is loaded once)."""
    key = (cfg.target, repr(cfg.options), seed)
    if key not in _TASK:
        _TASK.clear()
        _TASK[key] = plugins.get_target(cfg.target).setup(replace(cfg.options, seed=seed))
    return _TASK[key]


def prepare_seed(cfg: SweepConfig, seed: int, with_cells: bool = True) -> dict:
    """Train (or finish) one seed's dense models and its equal-budget baseline and, when cells will use
    them, evaluate and time the dense models. Runs wherever the executor puts it; returns rows for the
    driver to write."""
    target = plugins.get_target(cfg.target)
    task = task_for(cfg, seed)
    dense, _ = dense_stage(task, seed, cfg.out / f"dense-seed{seed}", resume=True)
    baselines = [
        {"file": baseline_path(cfg, seed, mode, target).name, "row": equal_budget_dense(task, seed, cfg, mode)}
        for mode in cfg.retrain
        if cfg.equal_budget and not baseline_path(cfg, seed, mode, target).exists()
    ]
    dense_row = dense_summary(cfg, task, dense, cfg.out / f"dense-seed{seed}") if with_cells else None
    return {"seed": seed, "dense": dense_row, "baselines": baselines}


def dense_summary(cfg: SweepConfig, task, dense: dict, folder: Path) -> dict:
    """The dense models' evaluation, kept beside them (``evaluation.json``) so that a later sweep into the
    same folder (more strategies, more budgets) does not evaluate them again. Their step time is measured
    in every cell, beside the pruned models'."""
    path = folder / "evaluation.json"
    weights = _digest([folder / f"{name}.safetensors" for name in sorted(dense)])
    kept = read_json(path) if path.exists() else {}
    row = kept.get("row") if kept.get("weights") == weights else None  # retrained models are evaluated anew
    missing = row is None or (cfg.validation and "val" not in row)
    if row is None:
        row = summarise(dense, task.evaluate(dense), None)  # timed in each cell instead
    if cfg.validation and "val" not in row:
        row["val"] = task.evaluate(dense, split="val").metrics
    if missing:
        write_json(path, {"weights": weights, "row": row})
    return row


def _digest(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.read_bytes())
    return h.hexdigest()


def run_cell(cfg: SweepConfig, cell: Cell, prepared: dict) -> dict:
    """Prune one seed's saved dense models with one strategy at one budget, retrain, evaluate (the same
    :func:`prunekit.stages.run_cell` as ``prunekit run``). Returns the cell's row (and its preview image
    under "preview") for the driver to write."""
    task = task_for(cfg, cell.seed)
    dense = load_models(task, cfg.out / f"dense-seed{cell.seed}", cell.seed)
    folder = cfg.out / "work" / cell.id
    spec = cell.spec(cfg.spec)
    result = cut_and_retrain(
        task,
        dense,
        spec,
        cell.mode,
        folder,
        resume=True,
        teacher=teacher_for(cfg.options, dense),
        timing_steps=cfg.timing_steps or plugins.get_target(cfg.target).presets[cfg.options.preset].timing_steps,
        at_cut=cfg.evaluate_at_cut,
        validation=cfg.validation,
        quantize=cfg.quantize,
        quantized_dir=folder / "quantized",
    )
    row = {
        "id": cell.id,
        "target": cfg.target,
        "scorer": cell.scorer,
        "selector": cell.selector,
        **cell.budget.as_dict(),
        "retrain": cell.mode,
        "seed": cell.seed,
        "refit": spec.refit,
        "distill": cfg.options.distill,
        **({"steps": spec.steps, "schedule": spec.schedule, "retrain_phases": result.phases} if spec.steps > 1 else {}),
        "headline": task.headline,
        "higher_is_better": task.higher_is_better,
        "prune_seconds": result.prune_seconds,
        "dense": prepared["dense"],
        "pruned_before_retrain": result.at_cut,
        "pruned": result.summary,
        "timing": result.timing,
    }
    if result.quantized is not None:
        row["quantized"] = result.quantized
    row["collapsed"] = bool(row["pruned"].get("collapsed") or row["dense"].get("collapsed"))
    row["preview"] = task.preview(result.evaluation)
    return row


class Recorder:
    """The driver's side: writes what workers return, atomically, and keeps count."""

    def __init__(self, cfg: SweepConfig, total: int) -> None:
        self.cfg, self.total, self.done, self.failed = cfg, total, 0, 0

    def seed_ready(self, prepared: dict) -> None:
        for baseline in prepared["baselines"]:
            write_json(self.cfg.out / "cells" / baseline["file"], json_safe(baseline["row"]))

    def cell_done(self, row: dict, running: int = 0) -> None:
        preview = row.pop("preview", None)
        if preview is not None:
            write_png(self.cfg.out / "cells" / f"{row['id']}.png", preview)
        write_json(self.cfg.out / "cells" / f"{row['id']}.json", json_safe(row))
        (self.cfg.out / "cells" / f"{row['id']}.failed.json").unlink(missing_ok=True)
        self.done += 1
        self._log(running)

    def cell_failed(self, cell: Cell, error: BaseException, running: int = 0) -> None:
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        write_json(self.cfg.out / "cells" / f"{cell.id}.failed.json", {"id": cell.id, "error": message})
        self.failed += 1
        console.log(f"cell {cell.id} failed: {message}")
        self._log(running)

    def _log(self, running: int) -> None:
        console.log(f"cells: {self.done} done, {running} running, {self.failed} failed, of {self.total}")


def equal_budget_dense(task, seed: int, cfg: SweepConfig, mode: str) -> dict:
    """The seed's dense models retrained as every pruned model of this seed and ``mode`` is: the same
    ``retrain_stage`` call (steps, fresh Adam, schedule, batch stream, re-initialisation for "scratch"),
    without a teacher. Comparing a pruned model with this, not with the dense model it was cut from,
    measures what pruning itself costs. The driver stores the row as cells/dense-seed{S}-{mode}{N}.json.
    """
    dense = load_models(task, cfg.out / f"dense-seed{seed}", seed)
    folder = cfg.out / "work" / f"dense-seed{seed}-{mode}{task.retrain_iters}"
    stats = retrain_stage(task, dense, mode, task.retrain_iters, folder, True, seed)
    total = task.retrain_iters + (task.iters if mode == "finetune" else 0)  # steps behind the final weights
    row = {
        "seed": seed,
        "retrain": mode,
        "retrain_iters": stats.iters,
        "iters": total,
        **task.evaluate(dense).metrics,
    }
    if cfg.validation:
        row["val"] = task.evaluate(dense, split="val").metrics
    return row
