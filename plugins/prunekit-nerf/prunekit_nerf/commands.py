"""The commands the NeRF plug-in adds to ``prunekit`` (through the ``register_commands`` hook)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import typer

from prunekit.commands import DATA, RUN_DIR
from prunekit.errors import BadInput
from prunekit.files import read_json
from prunekit.progress import out_console


def render(
    run_dir: Path = RUN_DIR,
    data: Path | None = DATA,
    frames: int = typer.Option(48, help="Frames of the turntable video."),
    video: str = typer.Option("gif", help="gif, or mp4 (needs the imageio-ffmpeg package)."),
    device: str = typer.Option("auto", help="auto, cpu or cuda[:N]."),
) -> None:
    """Render a saved NeRF run's dense and pruned models side by side: the test views and a turntable video."""
    from prunekit.pipeline import open_run
    from prunekit.visuals import write_video

    if video not in ("gif", "mp4"):
        raise BadInput(f"--video must be gif or mp4, got {video!r}")
    if frames < 2:
        raise BadInput(f"--frames must be at least 2, got {frames}")
    if Path(run_dir).is_dir() and (Path(run_dir) / "report.json").is_file():
        target = (read_json(Path(run_dir) / "report.json", "run report") or {}).get("target")
        if target != "nerf":
            raise BadInput(f"render draws NeRF runs; {run_dir} is a {target!r} run (its figures are in report.md)")
    task, stages, _ = open_run(run_dir, data, device)
    evaluations = {stage: task.evaluate(models) for stage, models in stages.items()}
    files = task.write_visuals(run_dir, evaluations["dense"], evaluations["pruned"])
    clips = [task.turntable(models, frames) for models in stages.values()]
    path = run_dir / "renders" / f"turntable_dense_pruned.{video}"
    write_video(path, [np.concatenate(pair, axis=1) for pair in zip(*clips)])
    out_console.print(f"{len(files)} test views in {run_dir / 'renders'}; video: {path}")
