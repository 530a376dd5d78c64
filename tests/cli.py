"""Run the real ``prunekit`` command in a subprocess."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import cli_env


def prunekit(*args, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    exe = shutil.which("prunekit") or str(Path(sys.executable).parent / "prunekit")
    merged = cli_env()
    merged.update(env or {})
    return subprocess.run([exe, *map(str, args)], capture_output=True, text=True, env=merged, timeout=timeout)


def report(out: Path) -> dict:
    return json.loads((out / "report.json").read_text())


def assert_one_line_error(proc: subprocess.CompletedProcess, *fragments: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
