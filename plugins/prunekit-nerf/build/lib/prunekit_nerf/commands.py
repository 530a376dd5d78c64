"""The commands the NeRF plug-in adds to ``prunekit`` (through the ``register_commands`` hook)."""

from __future__ import annotations

import errno
import signal
import socket
import time
from pathlib import Path

import numpy as np
import typer

from prunekit.plugin import DATA, RUN_DIR, BadInput, Interrupted, out_console, read_json


def refuse_other_targets(run_dir: Path, what: str) -> None:
    """One line, exit 2, for a run folder of another target (a missing or foreign folder: ``open_run`` says)."""
    if Path(run_dir).is_dir() and (Path(run_dir) / "report.json").is_file():
        target = (read_json(Path(run_dir) / "report.json", "run report") or {}).get("target")
        if target != "nerf":
            raise BadInput(f"{what} NeRF runs; {run_dir} is a {target!r} run: nothing to show (see its report.md)")


def render(
    run_dir: Path = RUN_DIR,
    data: Path | None = DATA,
    frames: int = typer.Option(48, help="Frames of the turntable video."),
    video: str = typer.Option("gif", help="gif, or mp4 (needs the imageio-ffmpeg package)."),
    device: str = typer.Option("auto", help="auto, cpu or cuda[:N]."),
) -> None:
    """Render a saved NeRF run's dense and pruned models side by side: the test views and a turntable video."""
    from prunekit.plugin import open_run, write_video

    if video not in ("gif", "mp4"):
        raise BadInput(f"--video must be gif or mp4, got {video!r}")
    if frames < 2:
        raise BadInput(f"--frames must be at least 2, got {frames}")
    refuse_other_targets(run_dir, "render draws")
    task, stages, _ = open_run(run_dir, data, device)
    path = run_dir / "renders" / f"turntable_dense_pruned.{video}"
    started = time.time()
    try:
        evaluations = {stage: task.evaluate(models) for stage, models in stages.items()}
        files = task.write_visuals(run_dir, evaluations["dense"], evaluations["pruned"])
        clips = [task.turntable(models, frames) for models in stages.values()]
        write_video(path, [np.concatenate(pair, axis=1) for pair in zip(*clips)])
    except KeyboardInterrupt as exc:
        # every render is renamed into place whole, so what is on disk from this call is what was kept
        written = [p for p in (run_dir / "renders").glob("test_*.png") if p.stat().st_mtime >= started]
        kept = f"{len(written)} test views in {run_dir / 'renders'}" if written else "nothing new"
        signum = getattr(exc, "signum", signal.SIGINT)
        raise Interrupted(f"interrupted: kept {kept}; the video was not written", signum) from None
    out_console.print(f"{len(files)} test views in {run_dir / 'renders'}; video: {path}")


def view(
    run_dir: Path = RUN_DIR,
    data: Path | None = DATA,
    port: int = typer.Option(7007, help="Port of the web viewer."),
    host: str = typer.Option("127.0.0.1", help="Address to listen on; 0.0.0.0 shares it with the network."),
    preview: int = typer.Option(24, help="Height in pixels of the frames drawn while the camera moves."),
    height: int | None = typer.Option(
        None, help="Height of the frame once the camera rests (default: the test views')."
    ),
    device: str = typer.Option("auto", help="auto, cpu or cuda[:N]."),
) -> None:
    """Fly around a saved NeRF run in the browser: dense and pruned side by side (a wipe), any camera."""
    from prunekit.plugin import open_run
    from prunekit_nerf.viewer import Viewer, serve

    try:
        import viser  # noqa: F401  (an optional extra)
    except ImportError:
        raise BadInput("the viewer needs viser: pip install -e '.[viewer]' (in the prunekit checkout)") from None
    if not 1 <= port <= 65535:
        raise BadInput(f"--port must be in 1..65535, got {port}")
    for name, value in (("--preview", preview), ("--height", height)):
        if value is not None and not 1 <= value <= 4096:
            raise BadInput(f"{name} must be in 1..4096 pixels, got {value}")
    if not host.strip():
        raise BadInput("--host is empty; give an address: 127.0.0.1 (this machine) or 0.0.0.0 (every interface)")
    refuse_other_targets(run_dir, "view shows")
    port_free(host, port)  # before the minutes a large run can take to load
    task, stages, report = open_run(run_dir, data, device)
    viewer = Viewer(task, stages, report, Path(run_dir), preview, height or task.views["test"].hw[0])
    try:
        everywhere = " on every interface of this machine" if host in ("0.0.0.0", "::") else ""
        serve(viewer, host, port, lambda url: out_console.print(f"viewer ready at {url}{everywhere} (Ctrl-C stops it)"))
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: the way to stop a server, not an error
        pass


def port_free(host: str, port: int) -> None:
    """A clear error for a port that another program holds, or an address this machine does not have."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server will: TIME_WAIT is free
        try:
            probe.bind((host, port))
        except OSError as exc:
            reason = "is in use" if exc.errno == errno.EADDRINUSE else f"cannot be bound ({exc.strerror})"
            raise BadInput(f"port {port} on {host} {reason} (choose another with --port or --host)") from None
