"""A sweep's folder: sweep.json (the settings every cell shares, which a resumed or extended sweep must
match), where each seed's equal-budget reference lives, and adopting another folder's dense models."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from prunekit.errors import BadInput
from prunekit.files import data_identity, read_json, write_json
from prunekit.target import iterations

if TYPE_CHECKING:
    from prunekit.sweep import SweepConfig

# Bumped when training changes what a cell means, so an older folder is never resumed into a mix.
# 2: fine-tuning has its own batch stream and no centre-crop warm-up.
# 3: the equal-budget reference is retrained as the pruned models are (fresh Adam; scratch from scratch);
#    step time interleaved inside each cell; test views spread over the whole test set.
PROTOCOL = 3


def settings(cfg: SweepConfig) -> dict:
    """What every cell of one sweep folder shares; the cell names leave it out."""
    o = cfg.options
    return {
        "protocol": PROTOCOL,
        "target": cfg.target,
        "data": None if o.data is None else str(Path(o.data).resolve()),
        "data_id": data_identity(o.data),
        "preset": o.preset,
        "iters": o.iters,
        "retrain_iters": o.retrain_iters,
        "refit": cfg.spec.refit,
        "distill": o.distill,
        "finetune_schedule": o.finetune_schedule,
        "precision": o.precision,
        "target_options": o.target_options,
        "quantize": cfg.quantize,
        **({"steps": cfg.spec.steps, "schedule": cfg.spec.schedule} if cfg.spec.steps > 1 else {}),
    }


def _resolved(data: str | None) -> Path | None:
    return None if data is None else Path(data).resolve()


def _differences(before: dict, now: dict, keys, label: str) -> str:
    """The ``keys`` whose values differ between two sweep.json dicts, in words ("" when none). Data
    compares by what it holds (``data_id``: its files' names and sizes), wherever it lies now; a folder
    recorded before identities were (no ``data_id``) compares by its path, resolved."""
    diff = [k for k in keys if k not in ("data", "data_id") and before.get(k) != now.get(k)]
    if "data" in keys:
        if before.get("data_id") is not None or now.get("data_id") is None:
            differs = before.get("data_id") != now.get("data_id")
        else:
            differs = _resolved(before.get("data")) != _resolved(now["data"])
        if differs:
            diff.append("data")
    return ", ".join(f"{k} {before.get(k)!r} there, {now[k]!r} {label}" for k in diff)


def check_settings(cfg: SweepConfig) -> None:
    """Record the settings in sweep.json, or refuse to resume a folder made with other ones.

    Extending a sweep (more seeds, scorers or budgets) is fine; changing what its cells were trained
    with would silently mix incomparable cells, so that needs another --out.
    """
    path = cfg.out / "sweep.json"
    now = settings(cfg)
    if path.exists():
        shown = _differences(read_json(path), now, now, "now")
        if shown:
            raise BadInput(f"--out {cfg.out} holds a sweep with other settings ({shown}); choose another --out")
        return
    write_json(path, now)


# The settings that make a seed's dense models and its equal-budget references what they are; the others
# (refit, distill, steps, quantize) act only after the cut, so sweeps that differ in them can share both.
# The retraining length is not among them: a reference's file names its mode and length, so only the
# references of the same retraining come across.
DENSE_SETTINGS = (
    "protocol", "target", "data", "preset", "iters", "finetune_schedule", "precision", "target_options"
)  # fmt: skip


def adopt_dense(cfg: SweepConfig, target, models: list[str]) -> None:
    """Copy from the sweep folder ``cfg.dense_from`` each seed's finished dense models and its equal-budget
    reference rows, where this folder has none yet, so that the arms of an ablation (--steps, --distill,
    --refit) are cut from one dense model per seed, not from one trained again per arm. A seed the other
    folder has not finished is trained here as usual."""
    source = Path(cfg.dense_from)
    if not (source / "sweep.json").is_file():
        raise BadInput(f"--dense-from {source} is not a sweep folder (no sweep.json there)")
    shown = _differences(read_json(source / "sweep.json"), settings(cfg), DENSE_SETTINGS, "here")
    if shown:
        raise BadInput(f"--dense-from {source} trained its dense models otherwise ({shown})")
    for seed in cfg.seeds:
        theirs_dense, ours_dense = source / f"dense-seed{seed}", cfg.out / f"dense-seed{seed}"
        finished = all((theirs_dense / f"{n}.safetensors").is_file() for n in models)
        if finished and not ours_dense.exists():
            partial = ours_dense.with_name(ours_dense.name + ".partial")
            shutil.rmtree(partial, ignore_errors=True)
            shutil.copytree(theirs_dense, partial)
            partial.rename(ours_dense)  # a copy cut short is never taken for a dense model
        for mode in cfg.retrain:
            ours_row = baseline_path(cfg, seed, mode, target)
            theirs_row = source / "cells" / ours_row.name
            if finished and theirs_row.is_file() and not ours_row.exists():
                write_json(ours_row, read_json(theirs_row))


def baseline_path(cfg: SweepConfig, seed: int, mode: str, target) -> Path:
    """Where the equal-budget dense model's row of ``seed`` and retrain ``mode`` lives (its retraining
    steps are in the name)."""
    steps = iterations(cfg.options, target.presets[cfg.options.preset])[1]
    return cfg.out / "cells" / f"dense-seed{seed}-{mode}{steps}.json"
