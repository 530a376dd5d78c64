"""``prunekit sweep``: the study as one command — strategies × budgets × retrain modes × seeds.

One dense model is trained per seed and reused by every cell of that seed. Each finished cell is a JSON
file under ``cells/``, so an interrupted sweep resumes where it stopped. Every strategy gets the same
retraining budget. Collapsed runs are flagged and left out of means, never averaged in silently.
"""

from __future__ import annotations

import itertools
import math
import shutil
import statistics
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from prunekit import checkpoint, plugins
from prunekit.budget import Budget
from prunekit.checkpoint import read_json, write_json, write_text
from prunekit.errors import BadInput
from prunekit.pipeline import (
    RunOptions,
    check_choices,
    dense_stage,
    measure_step_time,
    prune_stage,
    retrain_stage,
    summarise,
    teacher_for,
)
from prunekit.progress import console
from prunekit.quantize import check_mode, quantized_copy
from prunekit.report import json_safe, markdown_table


@dataclass
class SweepConfig:
    target: str
    scorers: list[str]
    selectors: list[str]
    budgets: list[Budget]
    retrain: list[str] = field(default_factory=lambda: ["finetune"])
    seeds: list[int] = field(default_factory=lambda: [0])
    uniform: bool = True  # add the uniform-random baseline (scorer ignored) once per budget
    refit: bool = False
    retrain_iters: int | None = None
    options: RunOptions = field(default_factory=RunOptions)
    out: Path = Path("runs/sweep")
    timing_steps: int = 10
    evaluate_at_cut: bool = False  # also evaluate each pruned model before retraining (costs one evaluation)
    quantize: str | None = None  # also evaluate each retrained model quantized (int8, fp16, bf16)
    equal_budget: bool = True  # also train each dense model for the retraining budget (the fair reference)


def _budget_label(b: Budget) -> str:
    size = f"width{b.width}" if b.width is not None else f"keep{b.keep:g}"
    size += "" if b.allocation == "uniform" else f"-{b.allocation}"
    return size + ("" if b.round_to == 1 else f"-r{b.round_to}")


def strategies(cfg: SweepConfig) -> list[tuple[str, str]]:
    pairs = [("random", "uniform")] if cfg.uniform else []
    return pairs + [(s, t) for s, t in itertools.product(cfg.scorers, cfg.selectors) if t != "uniform"]


def cells(cfg: SweepConfig):
    for seed in cfg.seeds:
        for (scorer, selector), budget, mode in itertools.product(strategies(cfg), cfg.budgets, cfg.retrain):
            yield seed, scorer, selector, budget, mode


def cell_id(seed: int, scorer: str, selector: str, budget: Budget, mode: str) -> str:
    return f"{scorer}-{selector}-{_budget_label(budget)}-{mode}-seed{seed}"


def run_sweep(cfg: SweepConfig) -> list[dict]:
    check_choices(cfg.target, cfg.scorers, cfg.selectors, cfg.retrain, cfg.options.preset)
    if cfg.quantize is not None:
        check_mode(cfg.quantize)
    if not cfg.budgets or not cfg.seeds:
        raise BadInput("a sweep needs at least one --widths/--keeps value and one seed")
    target = plugins.get_target(cfg.target)
    if cfg.out.exists() and not cfg.out.is_dir():
        raise BadInput(f"--out {cfg.out} is an existing file; give a directory")
    (cfg.out / "cells").mkdir(parents=True, exist_ok=True)
    check_settings(cfg)
    todo = list(cells(cfg))
    done = sum((cfg.out / "cells" / f"{cell_id(*c)}.json").exists() for c in todo)
    console.log(f"sweep: {len(todo)} cells, {done} already done")
    tasks, dense_cache = {}, {}
    for seed, scorer, selector, budget, mode in todo:
        cid = cell_id(seed, scorer, selector, budget, mode)
        path = cfg.out / "cells" / f"{cid}.json"
        if path.exists():
            continue
        if seed not in dense_cache:
            task = tasks[seed] = target.setup(replace(cfg.options, seed=seed))
            dense, _ = dense_stage(task, seed, cfg.out / f"dense-seed{seed}", resume=True)
            dense_eval = task.evaluate(dense)
            dense_cache[seed] = (dense, summarise(dense, dense_eval, measure_step_time(task, dense, cfg.timing_steps)))
            if cfg.equal_budget:
                equal_budget_dense(task, seed, cfg)
        task = tasks[seed]
        dense, dense_row = dense_cache[seed]
        console.log(f"cell {cid}")
        pruned, seconds = prune_stage(task, dense, scorer, selector, budget, cfg.refit, seed)
        at_cut = task.evaluate(pruned).metrics if cfg.evaluate_at_cut else None
        folder = cfg.out / "work" / cid
        teacher = teacher_for(cfg.options, dense)
        retrain_stage(task, pruned, mode, cfg.retrain_iters or task.iters, folder, True, seed, teacher)
        evaluation = task.evaluate(pruned)
        row = {
            "id": cid,
            "target": cfg.target,
            "scorer": scorer,
            "selector": selector,
            **budget.as_dict(),
            "retrain": mode,
            "seed": seed,
            "refit": cfg.refit,
            "distill": cfg.options.distill,
            "headline": task.headline,
            "prune_seconds": seconds,
            "dense": dense_row,
            "pruned_before_retrain": at_cut,
            "pruned": summarise(pruned, evaluation, measure_step_time(task, pruned, cfg.timing_steps)),
        }
        if cfg.quantize is not None:
            quantized = {n: quantized_copy(m, cfg.quantize) for n, m in pruned.items()}
            for name, m in quantized.items():
                checkpoint.save(m, folder / f"{name}.{cfg.quantize}.safetensors", config=task.config(name))
            row["quantized"] = {
                **task.evaluate(quantized).metrics,
                "mode": cfg.quantize,
                "size_on_disk_mb": sum((folder / f"{n}.{cfg.quantize}.safetensors").stat().st_size for n in quantized)
                / 1e6,
            }
        row["collapsed"] = bool(row["pruned"].get("collapsed") or row["dense"].get("collapsed"))
        preview = task.preview(evaluation)
        if preview is not None:
            _save_png(cfg.out / "cells" / f"{cid}.png", preview)
        write_json(path, json_safe(row))
    rows = [read_json(cfg.out / "cells" / f"{cell_id(*c)}.json") for c in todo]
    write_results(cfg.out, rows)
    return rows


def settings(cfg: SweepConfig) -> dict:
    """What every cell of one sweep folder shares; the cell names leave it out."""
    o = cfg.options
    return {
        "target": cfg.target,
        "data": None if o.data is None else str(o.data),
        "preset": o.preset,
        "iters": o.iters,
        "retrain_iters": cfg.retrain_iters,
        "refit": cfg.refit,
        "distill": o.distill,
        "precision": o.precision,
        "quantize": cfg.quantize,
    }


def _resolved(data: str | None) -> Path | None:
    return None if data is None else Path(data).resolve()


def check_settings(cfg: SweepConfig) -> None:
    """Record the settings in sweep.json, or refuse to resume a folder made with other ones.

    Extending a sweep (more seeds, scorers or budgets) is fine; changing what its cells were trained
    with would silently mix incomparable cells, so that needs another --out.
    """
    path = cfg.out / "sweep.json"
    now = settings(cfg)
    if path.exists():
        before = read_json(path)
        diff = [k for k in now if k != "data" and before.get(k) != now[k]]
        if _resolved(before.get("data")) != _resolved(now["data"]):  # the same folder, however it was spelled
            diff.append("data")
        if diff:
            shown = ", ".join(f"{k} {before.get(k)!r} there, {now[k]!r} now" for k in diff)
            raise BadInput(f"--out {cfg.out} holds a sweep with other settings ({shown}); choose another --out")
        return
    write_json(path, now)


def equal_budget_dense(task, seed: int, cfg: SweepConfig) -> dict:
    """The dense model trained for as many more iterations as every pruned one is retrained.

    Fine-tuning gives a pruned model extra iterations; comparing it with this, not with the dense model
    it was cut from, measures what pruning itself costs. Stored as cells/dense-seed{S}-plus{N}.json.
    """
    extra = cfg.retrain_iters or task.iters
    path = cfg.out / "cells" / f"dense-seed{seed}-plus{extra}.json"
    if path.exists():
        return read_json(path)
    folder = cfg.out / "work" / f"dense-seed{seed}-plus{extra}"
    folder.mkdir(parents=True, exist_ok=True)
    state = folder / "train_state.safetensors"
    if not state.exists():
        shutil.copyfile(cfg.out / f"dense-seed{seed}" / "train_state.safetensors", state)
    models = task.build(seed)
    task.train(models, task.iters + extra, state, True, "dense (equal budget)")
    row = {"seed": seed, "iters": task.iters + extra, **task.evaluate(models).metrics}
    write_json(path, json_safe(row))
    return row


def _save_png(path: Path, image: np.ndarray) -> None:
    from PIL import Image

    from prunekit.checkpoint import atomic_write

    arr = (np.clip(image, 0, 1) * 255).round().astype(np.uint8)
    atomic_write(path, lambda tmp: Image.fromarray(arr).save(tmp, format="PNG"))


def _mean_std(values: list[float]) -> tuple[float, float]:
    values = [v for v in values if v is not None]
    if not values:
        return math.nan, math.nan
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def _median(values: list[float]) -> float:
    """Timings are medians over seeds: one step timed while the machine was busy should not move them."""
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else math.nan


def _groups(rows: list[dict]) -> dict[tuple, list[dict]]:
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        budget = f"width {r['width']}" if r.get("width") is not None else f"keep {r['keep']:g}"
        if r.get("allocation", "uniform") != "uniform":
            budget += f" ({r['allocation']})"
        if r.get("round_to", 1) != 1:
            budget += f" (×{r['round_to']})"
        groups.setdefault((budget, r["retrain"], f"{r['scorer']}/{r['selector']}"), []).append(r)
    return groups


def write_results(out: Path, rows: list[dict]) -> None:
    """results.json, results.md (mean ± std over seeds, collapsed runs flagged and excluded) and plots."""
    write_json(out / "results.json", rows)
    if not rows:
        return
    h = rows[0]["headline"]
    dense_vals = {r["seed"]: r["dense"] for r in rows}
    d_mean, d_std = _mean_std([d[h] for d in dense_vals.values() if not d.get("collapsed")])
    d0 = next(iter(dense_vals.values()))
    d_minutes = _median([d["sec_per_iter"] for d in dense_vals.values()]) * 1e5 / 60
    d_collapsed = sum(bool(d.get("collapsed")) for d in dense_vals.values())
    table = [
        [
            "dense",
            "—",
            "—",
            d0["params"],
            d0["size_mb"],
            d_minutes,
            f"{d_mean:.3f} ± {d_std:.3f}",
            "",
            "",
            len(dense_vals),
            d_collapsed,
        ]
    ]
    longer = [read_json(p) for p in sorted((out / "cells").glob("dense-seed*-plus*.json"))]
    equal = {r["seed"]: r[h] for r in longer if not r.get("collapsed")}
    if longer:
        lm, ls = _mean_std([r[h] for r in longer if not r.get("collapsed")])
        table.append(
            [
                f"dense, {longer[0]['iters']} iterations (equal budget)",
                "—",
                "—",
                d0["params"],
                d0["size_mb"],
                d_minutes,
                f"{lm:.3f} ± {ls:.3f}",
                f"{lm - d_mean:+.3f}",
                "",
                len(longer),
                sum(bool(r.get("collapsed")) for r in longer),
            ]
        )
    for (budget, mode, strategy), group in sorted(_groups(rows).items()):
        ok = [r for r in group if not r["collapsed"]]
        m, s = _mean_std([r["pruned"][h] for r in ok])
        dm, _ = _mean_std([r["pruned"][h] - r["dense"][h] for r in ok])
        # paired by seed: both sides share the dense model, so seed-to-seed spread cancels
        paired = [r["pruned"][h] - equal[r["seed"]] for r in ok if r["seed"] in equal]
        em, es = _mean_std(paired)
        table.append(
            [
                strategy,
                budget,
                mode,
                group[0]["pruned"]["params"],
                group[0]["pruned"]["size_mb"],
                _median([r["pruned"]["sec_per_iter"] for r in group]) * 1e5 / 60,
                f"{m:.3f} ± {s:.3f}" if ok else "all collapsed",
                f"{dm:+.3f}" if ok else "",
                f"{em:+.3f} ± {es:.3f}" if paired else "",
                len(ok),
                len(group) - len(ok),
            ]
        )
    header = [
        "strategy",
        "budget",
        "retrain",
        "params",
        "MB (fp32)",
        "min / 100k iters (median)",
        f"{h} mean ± std",
        f"Δ{h} vs dense",
        f"Δ{h} vs equal-budget dense (paired)",
        "runs",
        "collapsed (excluded)",
    ]
    setup = out / "sweep.json"
    shared = ", ".join(f"{k} `{v}`" for k, v in read_json(setup).items() if k != "target") if setup.exists() else ""
    intro = f"# Sweep: {rows[0]['target']}\n\n" + (f"Settings: {shared}.\n\n" if shared else "")
    write_text(out / "results.md", intro + markdown_table(header, table))
    _plots(out, rows, h)


def _plots(out: Path, rows: list[dict], h: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from prunekit.checkpoint import atomic_write

    by_strategy: dict[tuple, dict[int, list[dict]]] = {}
    for r in rows:
        if not r["collapsed"]:
            by_strategy.setdefault((f"{r['scorer']}/{r['selector']}", r["retrain"]), {}).setdefault(
                r["pruned"]["params"], []
            ).append(r)
    for name, key, ylabel in ((f"{h}_vs_params.png", h, h), ("time_vs_params.png", "sec_per_iter", "s / iteration")):
        fig, ax = plt.subplots(figsize=(7, 4.5))
        dense = [r["dense"][key] for r in rows if not r["dense"].get("collapsed")]
        if dense:
            ax.errorbar(
                [rows[0]["dense"]["params"]],
                [np.mean(dense)],
                yerr=[np.std(dense)],
                fmt="k*",
                ms=12,
                label="dense",
                capsize=3,
            )
        for (strategy, mode), points in sorted(by_strategy.items()):
            xs = sorted(points)
            agg = np.median if key == "sec_per_iter" else np.mean
            ys = [agg([r["pruned"][key] for r in points[x]]) for x in xs]
            es = [np.std([r["pruned"][key] for r in points[x]]) for x in xs]
            ax.errorbar(xs, ys, yerr=es, marker="o", capsize=3, label=f"{strategy} ({mode})")
        ax.set_xscale("log")
        ax.set_xlabel("parameters (coarse + fine)" if rows[0]["target"] == "nerf" else "parameters")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        atomic_write(out / name, lambda tmp, f=fig: f.savefig(tmp, format="png", dpi=120))
        plt.close(fig)
    previews = [(r["id"], out / "cells" / f"{r['id']}.png") for r in rows if r["seed"] == rows[0]["seed"]]
    previews = [(i, p) for i, p in previews if p.exists()]
    if previews:
        from PIL import Image

        cols = min(4, len(previews))
        n_rows = math.ceil(len(previews) / cols)
        fig, axes = plt.subplots(n_rows, cols, figsize=(3 * cols, 3.2 * n_rows), squeeze=False)
        for ax in axes.flat:
            ax.axis("off")
        for ax, (cid, p) in zip(axes.flat, previews):
            ax.imshow(np.asarray(Image.open(p)))
            ax.set_title(cid.rsplit("-seed", 1)[0], fontsize=7)
        fig.tight_layout()
        atomic_write(out / "render_grid.png", lambda tmp: fig.savefig(tmp, format="png", dpi=120))
        plt.close(fig)
