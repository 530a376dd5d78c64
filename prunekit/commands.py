"""The command functions: thin wrappers over the pipeline, the sweep and the API. ``prunekit.cli``
registers them on the Typer app; nothing here registers itself."""

from __future__ import annotations

import json
import signal
from dataclasses import replace
from pathlib import Path

import torch
import typer
from rich.table import Table

from prunekit import checkpoint, plugins, study
from prunekit.api import prune as prune_model
from prunekit.budget import count_params
from prunekit.errors import BadInput, Interrupted
from prunekit.flags import Flags, with_flags
from prunekit.pipeline import RunConfig
from prunekit.pipeline import run as run_pipeline
from prunekit.precision import resolve_precision
from prunekit.progress import out_console
from prunekit.report import markdown_table
from prunekit.runtime import world
from prunekit.spec import PruneSpec
from prunekit.target import RunOptions

REFERENCE = typer.Option(study.REFERENCE, help="The scorer results.md compares every other scorer with, seed by seed.")
TRUST = typer.Option(
    False, "--trust", help="Allow a model class that no plug-in registers: imports the module the file names."
)


def _interrupted(exc: KeyboardInterrupt, what: str) -> Interrupted:
    """Ctrl-C (exit 130) or SIGTERM (exit 143), with what was kept."""
    signum = getattr(exc, "signum", signal.SIGINT)
    return Interrupted(f"{'terminated' if signum == signal.SIGTERM else 'interrupted'}: {what}", signum)


# Each command's flags, generated from the settings they fill (prunekit.flags): an option is declared once.
RUN_SPEC = Flags(PruneSpec, skip=("seed",), defaults={"round_to": "auto"})  # a run's seed is its options'
RUN_OPTIONS = Flags(RunOptions, defaults={"preset": "demo"})
RUN_OWN = Flags(RunConfig)
SWEEP_SPEC = Flags(PruneSpec, only=("round_to", "refit", "steps", "schedule"))
SWEEP_OPTIONS = Flags(
    RunOptions,
    skip=("seed",),
    helps={"retrain_iters": "Retraining iterations per cell (default: --iters if given, else the preset's)."},
)
SWEEP_OWN = Flags(
    RunConfig, only=("quantize",), helps={"quantize": "Also evaluate every cell quantized: int8, fp16 or bf16."}
)
PRUNE_SPEC = Flags(
    PruneSpec,
    only=("scorer", "selector", "width", "keep", "round_to", "seed"),
    helps={"width": "Width of the widest prunable layer after pruning; others shrink alike. Default: --keep 0.5."},
)


def run_options(group: Flags, given: dict, **fixed) -> RunOptions:
    """The RunOptions a command's flags ask for: data that exists, the precision resolved for the device."""
    values = {**group.take(given), **fixed}
    if values.get("data") is not None and not Path(values["data"]).exists():
        raise BadInput(f"--data {values['data']} does not exist")
    values["precision"] = resolve_precision(values["precision"], values["device"])
    return RunOptions(**values)


@with_flags(RUN_SPEC, RUN_OPTIONS, RUN_OWN)
def run(
    target: str = typer.Argument(..., help="Target name: nerf, digits, gpt, … (see `prunekit plugins`)."), **given
) -> None:
    """Train (or load) a dense model, prune it, retrain it, and report both side by side."""
    options = run_options(RUN_OPTIONS, given)
    cfg = RunConfig(target=target, spec=PruneSpec(**RUN_SPEC.take(given)), options=options, **RUN_OWN.take(given))
    out = cfg.out
    try:
        report = run_pipeline(cfg)
    except KeyboardInterrupt as exc:
        raise _interrupted(exc, f"a checkpoint was saved in {out}; add --resume to continue") from None
    if not report:  # not the main process of a torchrun job: the main one reports
        return
    d, p = report["dense"], report["pruned"]
    h = report["headline"]
    out_console.print(
        markdown_table(
            ["", "params", h, "s/iter"],
            [["dense", d["params"], d[h], d["sec_per_iter"]], ["pruned", p["params"], p[h], p["sec_per_iter"]]],
        )
    )
    out_console.print(f"report: {out / 'report.md'}")


MAX_INPUT_DIM = 65_536


def _parse_dims(dims: str) -> list[int]:
    try:
        values = [int(v) for v in dims.split(",") if v.strip()]
    except ValueError:
        raise BadInput(f"--input-dims must be comma-separated integers, got {dims!r}") from None
    if not values or any(v < 1 for v in values):
        raise BadInput(f"--input-dims must be positive integers, got {dims!r}")
    if any(v > MAX_INPUT_DIM for v in values):  # 256 random rows of each: keep the example inputs small
        raise BadInput(f"--input-dims: each feature size must be at most {MAX_INPUT_DIM:,}, got {dims!r}")
    return values


@with_flags(PRUNE_SPEC)
def prune_checkpoint(
    model: Path = typer.Argument(..., help="A model saved with prunekit.save (.safetensors + .json)."),
    input_dims: str = typer.Option(..., help="Feature size of each forward() input, e.g. 3,3 for NeRF (x, d)."),
    trust: bool = TRUST,
    out: Path = typer.Option(..., help="Where to save the pruned model (.safetensors)."),
    **given,
) -> None:
    """Prune a saved model with random example inputs (weight-only scorers need no data)."""
    spec = PruneSpec(**PRUNE_SPEC.take(given))
    if spec.width is None and spec.keep is None:
        spec = replace(spec, keep=0.5)
    dims = _parse_dims(input_dims)
    target = checkpoint.weights_path(out)
    if target.exists() or checkpoint.sidecar(target).exists():
        raise BadInput(f"--out {out} already exists; choose a new path")
    dense = checkpoint.load(model, trust=trust)
    gen = torch.Generator().manual_seed(spec.seed)
    inputs = tuple(torch.randn(256, d, generator=gen) for d in dims)
    try:  # a wrong count or size of inputs is the user's to fix: say so before any pruning starts
        with torch.no_grad():
            dense(*inputs)
    except (RuntimeError, TypeError) as exc:
        raise BadInput(f"the model does not accept inputs of sizes {dims}: {str(exc).splitlines()[0]}") from None
    pruned = prune_model(dense, inputs, spec)
    path = checkpoint.save(pruned, out, config=checkpoint.read_description(model).get("config") or {})
    out_console.print(f"{count_params(dense):,} → {count_params(pruned):,} parameters; saved {path}")


def inspect(model: Path = typer.Argument(..., help="A model saved with prunekit.save.")) -> None:
    """Print a saved model's class, parameters, widths and plan, read from its description alone
    (nothing is imported or built)."""
    typer.echo(json.dumps(checkpoint.summary(model), indent=2))


def list_plugins(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
    """List scorers, selectors, targets and model classes, and plug-ins that failed to load."""
    reg = plugins.registry()
    entries = [
        {"name": e.name, "kind": e.kind, "description": e.description, "source": e.source} for e in reg.listing()
    ]
    entries += [{"name": name, "kind": "model", "description": "", "source": ""} for name in sorted(reg.models)]
    failures = [{"source": f.source, "reason": f.reason} for f in reg.failures]
    if as_json:
        typer.echo(json.dumps({"plugins": entries, "failed": failures}, indent=2))
        return
    table = Table("name", "kind", "description", "source")
    for e in entries:
        table.add_row(e["name"], e["kind"], e["description"], e["source"])
    out_console.print(table)
    if failures:
        failed = Table("failed plug-in", "reason", title="not loaded")
        for f in failures:
            failed.add_row(f["source"], f["reason"])
        out_console.print(failed)


def _split(value: str, cast, flag: str) -> list:
    try:
        items = [cast(v.strip()) for v in value.split(",") if v.strip()]
    except ValueError:
        raise BadInput(f"{flag} must be a comma-separated list, got {value!r}") from None
    if not items:
        raise BadInput(f"{flag} is empty")
    return items


@with_flags(SWEEP_SPEC, SWEEP_OPTIONS, SWEEP_OWN)
def sweep(
    target: str = typer.Argument(..., help="Target name (see `prunekit plugins`)."),
    scorers: str = typer.Option("w_in,w_out,product", help="Comma-separated scorers."),
    selectors: str = typer.Option("topk,coreset", help="Comma-separated selectors."),
    widths: str | None = typer.Option(None, help="Comma-separated widths, e.g. 128,64."),
    keeps: str | None = typer.Option(None, help="Comma-separated parameter fractions, e.g. 0.48."),
    allocations: str = typer.Option("uniform", help="Comma-separated allocations: uniform, global."),
    retrain: str = typer.Option("finetune", help="Comma-separated retrain modes: finetune, scratch."),
    seeds: str = typer.Option("0,1,2", help="Comma-separated seeds."),
    uniform: bool = typer.Option(True, help="Include the uniform-random baseline."),
    out: Path = typer.Option(Path("runs/sweep"), help="Directory for results.json/md, plots and cells/."),
    at_cut: bool = typer.Option(False, "--at-cut", help="Also evaluate each pruned model before retraining."),
    reference: str = REFERENCE,
    equal_budget: bool = typer.Option(True, help="Also train each dense model for the retraining budget."),
    dense_from: Path | None = typer.Option(
        None, help="Reuse another sweep folder's finished dense models and references (same data and training)."
    ),
    validation: bool = typer.Option(
        False, "--val", help="Also evaluate every model on the validation views, where settings are chosen."
    ),
    executor: str = typer.Option("local", help="local (this process) or ray (a Ray cluster; see --address)."),
    address: str | None = typer.Option(None, help="Ray cluster address (default: RAY_ADDRESS, else start one here)."),
    cpus_per_cell: float = typer.Option(1.0, help="CPUs each Ray task reserves (and torch threads it uses)."),
    gpus_per_cell: float = typer.Option(0.0, help="GPUs each Ray task reserves (fractions share a GPU)."),
    **given,
) -> None:
    """Scorers × selectors × budgets × retrain modes × seeds, resumable; results.json, results.md and plots."""
    from prunekit.budget import Budget
    from prunekit.sweep import SweepConfig, run_sweep

    if world()[1] > 1:
        raise BadInput(
            "prunekit sweep runs in one process: under torchrun every rank would start the whole sweep. Spread its "
            "cells over processes and machines with --executor ray; torchrun is for one `prunekit run`"
        )
    if widths is None and keeps is None:
        raise BadInput("give --widths and/or --keeps")
    spec = PruneSpec(**SWEEP_SPEC.take(given))
    options = run_options(SWEEP_OPTIONS, given)
    sizes = [{"width": w} for w in _split(widths, int, "--widths")] if widths else []
    sizes += [{"keep": k} for k in _split(keeps, float, "--keeps")] if keeps else []
    budgets = [
        Budget(**size, allocation=a, round_to=spec.round_to)
        for a in _split(allocations, str, "--allocations")
        for size in sizes
    ]
    cfg = SweepConfig(
        target=target,
        scorers=_split(scorers, str, "--scorers"),
        selectors=_split(selectors, str, "--selectors"),
        budgets=budgets,
        retrain=_split(retrain, str, "--retrain"),
        seeds=_split(seeds, int, "--seeds"),
        uniform=uniform,
        spec=spec,
        options=options,
        out=out,
        evaluate_at_cut=at_cut,
        equal_budget=equal_budget,
        validation=validation,
        reference=reference,
        **SWEEP_OWN.take(given),
        dense_from=dense_from,
    )
    if executor not in ("local", "ray"):
        raise BadInput(f"--executor must be local or ray, got {executor!r}")
    runner = None
    if executor == "ray":
        from prunekit.executors import RayExecutor

        runner = RayExecutor(address, cpus_per_cell, gpus_per_cell)
    try:
        rows = run_sweep(cfg, runner)
    except KeyboardInterrupt as exc:
        raise _interrupted(exc, f"finished cells are kept in {out}/cells; rerun the same command") from None
    out_console.print(f"{len(rows)} cells; results: {out / 'results.md'}")


def results(folder: Path = typer.Argument(..., help="A sweep's --out folder."), reference: str = REFERENCE) -> None:
    """Rewrite a sweep's results.json, results.md (paired 95 % CIs) and plots from its finished cells."""
    from prunekit.study import read_cells, write_results

    plugins.get_scorer(reference)  # an unknown name: one line, before any work
    rows = read_cells(folder)
    write_results(folder, rows, reference)
    out_console.print(f"{len(rows)} cells; results: {folder / 'results.md'}")


def trend(
    folders: list[Path] = typer.Argument(..., help="Sweep --out folders of the same settings at different lengths."),
    out: Path = typer.Option(..., help="Folder for trend.md and delta_vs_training.png."),
) -> None:
    """How each paired Δ moves as training grows: trend.md and a plot, from sweeps at several lengths."""
    from prunekit.comparing import write_trend

    write_trend(folders, out)
    out_console.print(f"trend: {out / 'trend.md'}")


def compare(
    a: Path = typer.Argument(..., help="Sweep --out folder of A."),
    b: Path = typer.Argument(..., help="Sweep --out folder of B (may be A's)."),
    strategy: str | None = typer.Option(None, help="A's strategy, scorer/selector (default: every one both hold)."),
    versus: str | None = typer.Option(None, help="B's strategy (default: --strategy)."),
    out: Path | None = typer.Option(None, help="Also write the table to this Markdown file."),
) -> None:
    """A − B paired by seed, with 95 % CIs: two strategies, or one strategy in two sweeps (e.g. --refit or not)."""
    from prunekit.comparing import compare as compare_sweeps
    from prunekit.files import write_text

    md = compare_sweeps(a, b, strategy, versus)
    if out is not None:
        write_text(out, md)
    out_console.print(md, markup=False, highlight=False, soft_wrap=True)


RUN_DIR = typer.Argument(..., help="The --out folder of a finished `prunekit run`.")
DATA = typer.Option(None, help="Data set to use instead of the one the run was trained on.")


BACKENDS = ("torch", "onnxruntime", "onnxruntime-int8")


def evaluate(
    run_dir: Path = RUN_DIR,
    data: Path | None = DATA,
    split: str = typer.Option("test", help="test or val views (targets without a val split: test only)."),
    backend: str = typer.Option(
        "torch", help="torch, or the exports of `prunekit export` run by onnxruntime (fp32, or int8 with --int8)."
    ),
    device: str = typer.Option("auto", help="auto, cpu or cuda[:N] (onnxruntime backends: the CPU)."),
) -> None:
    """Re-evaluate a saved run's dense and pruned models; writes eval-SPLIT[-BACKEND].json beside its report."""
    from prunekit.files import json_safe, write_json
    from prunekit.pipeline import open_run

    if backend not in BACKENDS:
        raise BadInput(f"--backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend != "torch":
        from prunekit.deploy import require_onnxruntime

        require_onnxruntime()  # before loading data: a missing extra is the first thing to say
        device = "cpu"
    task, stages, report = open_run(run_dir, data, device)
    sizes = {}
    if backend != "torch":
        from prunekit.deploy import engine_models

        int8 = backend.endswith("int8")
        checkpoints = {"dense": run_dir / report.get("dense_dir", "dense"), "pruned": run_dir / "pruned"}
        for stage in stages:
            folder = run_dir / "export" / stage
            stages[stage] = engine_models(folder, stages[stage], task, int8, checkpoints[stage])
            sizes[stage] = sum(m.path.stat().st_size for m in stages[stage].values())
    metrics = {stage: task.evaluate(models, split=split).metrics for stage, models in stages.items()}
    for stage, size in sizes.items():
        metrics[stage]["bytes_on_disk"] = size
    name = f"eval-{split}{'' if backend == 'torch' else '-' + backend}.json"
    write_json(run_dir / name, json_safe({"split": split, "backend": backend, "data": str(data or ""), **metrics}))
    h = report["headline"]
    rows = [[stage, m[h], m.get("render_seconds", ""), m.get("collapsed", "")] for stage, m in metrics.items()]
    out_console.print(markdown_table(["", h, "s/view", "collapsed"], rows))
    out_console.print(f"written: {run_dir / name}")


EXPORT_MARK = ".prunekit-export"  # marks a folder `prunekit export` wrote, which it may write again


def export(
    run_dir: Path = RUN_DIR,
    fmt: str = typer.Option("onnx", "--format", help="onnx (for inference engines) or pt2 (torch.export)."),
    which: str = typer.Option("both", help="dense, pruned or both."),
    int8: bool = typer.Option(False, "--int8", help="Also write onnxruntime's int8 quantization of each ONNX model."),
    out: Path | None = typer.Option(None, help="Folder for the exports (default: RUN_DIR/export)."),
) -> None:
    """Export a saved run's models with a dynamic batch axis, each verified against PyTorch's outputs."""
    from prunekit.deploy import check_format, export_models
    from prunekit.pipeline import open_run

    check_format(fmt, int8)
    if which not in ("dense", "pruned", "both"):
        raise BadInput(f"--which must be dense, pruned or both, got {which!r}")
    task, stages, report = open_run(run_dir, None, "cpu")
    out = run_dir / "export" if out is None else out
    if out.exists() and not out.is_dir():
        raise BadInput(f"--out {out} is an existing file; give a directory")
    chosen = out != run_dir / "export"  # the run's own export folder is prunekit's
    if chosen and out.is_dir() and any(out.iterdir()) and not (out / EXPORT_MARK).exists():
        raise BadInput(
            f"--out {out} is a non-empty folder that `prunekit export` did not write; choose a new or empty folder"
        )
    stages_out = ("dense", "pruned") if which == "both" else (which,)
    try:
        for stage in stages_out:
            (out / stage).mkdir(parents=True, exist_ok=True)
        (out / EXPORT_MARK).write_text("written by prunekit export\n", encoding="utf-8")
    except OSError as exc:
        raise BadInput(f"--out {out} is not writable: {exc.strerror or exc}") from None
    described = {"dense": run_dir / report.get("dense_dir", "dense"), "pruned": run_dir / "pruned"}
    rows = []
    for stage in stages_out:
        records = export_models(task, stages[stage], out / stage, fmt, int8, described[stage])
        for name, r in records.items():
            err = r["verified"]["relative_error"]
            rows.append([stage, name, r["file"], f"{err:.1e}", r.get("int8", {}).get("file", "")])
    out_console.print(markdown_table(["", "model", "file", "rel. error", "int8"], rows))
    out_console.print(f"exported to {out}")
