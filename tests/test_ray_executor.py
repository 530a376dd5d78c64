"""Sweeps on Ray: the same rows as the local executor, a killed worker survived, a clear error without Ray."""

import json
import os
import signal
import subprocess
import sys
import uuid

import pytest
from cli import assert_one_line_error, prunekit, wait_for_file

from conftest import cli_env

TIMINGS = {"sec_per_iter", "prune_seconds", "predict_seconds", "timing"}


def _sweep_args(out, *extra):
    return (
        "sweep", "fake", "--scorers", "w_out", "--selectors", "topk", "--widths", "32", "--seeds", "0",
        "--preset", "smoke", "--iters", "3", "--retrain-iters", "2", "--out", out, *extra,
    )  # fmt: skip


def _without_timings(value):
    if isinstance(value, dict):
        return {k: _without_timings(v) for k, v in value.items() if k not in TIMINGS}
    return value


def _rows(out):
    return sorted((_without_timings(r) for r in json.loads((out / "results.json").read_text())), key=lambda r: r["id"])


def test_without_ray_the_error_says_what_to_install(tmp_path, monkeypatch):
    pytest.importorskip("typer")
    code = (
        "import sys; sys.modules['ray'] = None\n"
        "from prunekit.cli import entry; sys.argv = ['prunekit'] + sys.argv[1:]; entry()"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, *map(str, _sweep_args(tmp_path / "s", "--executor", "ray"))],
        capture_output=True,
        text=True,
        env=cli_env(),
    )
    assert_one_line_error(proc, 'pip install -e ".[ray]"')


def test_ray_gives_the_rows_of_the_local_executor(tmp_path):
    pytest.importorskip("ray")
    local, on_ray = tmp_path / "local", tmp_path / "ray"
    assert prunekit(*_sweep_args(local)).returncode == 0
    proc = prunekit(*_sweep_args(on_ray, "--executor", "ray", "--cpus-per-cell", "2"), timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert _rows(on_ray) == _rows(local)
    names = sorted(p.name for p in (on_ray / "cells").iterdir())
    assert names == sorted(p.name for p in (local / "cells").iterdir())
    assert "cells: 2 done, 0 running, 0 failed, of 2" in proc.stderr


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _tagged(tag: str) -> list[int]:
    """The processes whose environment carries ``tag``: Ray daemonises its raylet, so the sweep's
    workers are not its descendants, but they inherit its environment."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/environ", "rb") as f:
                    if tag.encode() in f.read():
                        found.append(int(entry))
            except OSError:
                continue
    return found


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="finds the sweep's own workers through /proc")
def test_a_worker_killed_mid_cell_is_retried_and_resumes(tmp_path):
    pytest.importorskip("ray")
    args = ("--no-uniform", "--retrain-iters", "3000")  # checkpoints every 300 steps: seconds of work left to cut
    whole = tmp_path / "whole"
    assert prunekit(*_sweep_args(whole, *args), timeout=900).returncode == 0
    out = tmp_path / "killed"
    exe = os.path.join(os.path.dirname(sys.executable), "prunekit")
    cmd = [exe, *map(str, _sweep_args(out, *args, "--executor", "ray", "--cpus-per-cell", "2"))]
    sweep_id = uuid.uuid4().hex
    tag = f"PRUNEKIT_TEST_SWEEP={sweep_id}"
    env = {**cli_env(), "PRUNEKIT_TEST_SWEEP": sweep_id}
    log = tmp_path / "sweep.log"  # a file, not a pipe nobody reads while waiting: a full pipe would block it
    with log.open("w") as sink:  # the child holds its own descriptor once started
        proc = subprocess.Popen(cmd, env=env, stderr=sink, text=True)
    state = out / "work" / "w_out-topk-width32-finetune-seed0" / "train_state.safetensors"
    try:
        wait_for_file(state, proc)  # the event: the cell's first checkpoint, however loaded the machine
        workers = [pid for pid in _tagged(tag) if "ray::run_cell" in _cmdline(pid)]
        assert workers, [(pid, _cmdline(pid)[:40]) for pid in _tagged(tag)]
        for pid in workers:  # only this sweep's worker: other Ray jobs on the machine are left alone
            os.kill(pid, signal.SIGKILL)
        proc.wait(timeout=1800)
    finally:  # a failed test must not leave its sweep and Ray workers running
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid in _tagged(tag):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    assert proc.returncode == 0, log.read_text()
    assert _rows(out) == _rows(whole)  # resumed from the cell's checkpoint: the same result
    assert not list((out / "cells").glob("*.failed.json"))
