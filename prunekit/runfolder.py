"""A run's folder: what may be written where (``check_out``), what ``--force`` clears, and run.json,
the settings a resumed run must share."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from prunekit.errors import BadInput
from prunekit.files import LOCK, data_identity, json_safe, read_json, write_json
from prunekit.runtime import barrier, is_main, world

if TYPE_CHECKING:
    from prunekit.pipeline import RunConfig


RUN_FILE = "run.json"  # what a run was asked to do; written first, so it also marks a folder as prunekit's


def run_settings(cfg: RunConfig) -> dict:
    """Everything that decides what a run computes (not where or on which device): a checkpoint in --out
    may only be resumed by a run with the same settings."""
    o = cfg.options
    return {
        "target": cfg.target,
        **cfg.spec.record(),
        "retrain": cfg.retrain,
        "quantize": cfg.quantize,
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
