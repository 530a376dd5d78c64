"""Run the real ``prunekit`` command in a subprocess."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import cli_env


def _exe() -> str:
    return shutil.which("prunekit") or str(Path(sys.executable).parent / "prunekit")


def prunekit(
    *args, env: dict | None = None, timeout: float = 300, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    merged = cli_env()
    merged.update(env or {})
    return subprocess.run(
        [_exe(), *map(str, args)], capture_output=True, text=True, env=merged, timeout=timeout, cwd=cwd
    )


def wait_for_file(path: Path, proc: subprocess.Popen, hang_guard: float = 600) -> None:
    """Wait for ``path`` to appear (the event), while ``proc`` runs. If ``proc`` ends first the test fails
    with its output; ``hang_guard`` only stops a test whose process neither wrote the file nor ended."""
    deadline = time.monotonic() + hang_guard
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"the process ended (exit {proc.returncode}) before {path} appeared")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"{path} did not appear and the process did not end: killed")
        time.sleep(0.01)


def kill_9_when(path: Path, *args, timeout: float = 600) -> None:
    """Start ``prunekit *args``, SIGKILL it as soon as ``path`` appears (the event a test waits for, e.g.
    the first training checkpoint) and check it died without writing its report."""
    proc = subprocess.Popen(
        [_exe(), *map(str, args)], env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    wait_for_file(path, proc, timeout)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"


def report(out: Path) -> dict:
    return json.loads((out / "report.json").read_text())


def assert_one_line_error(proc: subprocess.CompletedProcess, *fragments: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def start(*args, env: dict | None = None) -> subprocess.Popen:
    """``prunekit *args`` running in the background, its stderr (merged with stdout) read as text."""
    merged = cli_env()
    merged.update(env or {})
    return subprocess.Popen(
        [_exe(), *map(str, args)], env=merged, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def wait_for_line(proc: subprocess.Popen, text: str, hang_guard: float = 300) -> str:
    """Read ``proc``'s output until ``text`` appears (the event the test waits for); returns the output so
    far. ``hang_guard`` only stops a test whose process printed nothing more: it kills the process."""
    import threading

    guard = threading.Timer(hang_guard, proc.kill)
    guard.start()
    seen = ""
    try:
        for line in proc.stdout:
            seen += line
            if text in " ".join(seen.split()):  # rich may wrap a long log line
                return seen
    finally:
        guard.cancel()
    raise AssertionError(f"the process ended without printing {text!r}: {seen}")
