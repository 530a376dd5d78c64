"""The command line as a new user meets it: python -m, defaults, progress in logs, run folders that other
commands accept, eval and render of a saved run."""

import os
import subprocess
import sys

from cli import assert_one_line_error, prunekit, report
from typer.testing import CliRunner

from prunekit import commands


def test_python_dash_m_prunekit(tmp_path):
    env = dict(os.environ, PRUNEKIT_PROGRESS="0")
    proc = subprocess.run([sys.executable, "-m", "prunekit", "--help"], capture_output=True, text=True, env=env)
    assert proc.returncode == 0
    for command in ("run", "sweep", "results", "eval", "render", "prune", "inspect", "plugins"):
        assert command in proc.stdout


def test_commands_are_registered_by_the_cli_module_itself():
    from prunekit.cli import app

    names = {c.name or c.callback.__name__ for c in app.registered_commands}
    assert {"run", "sweep", "results", "eval", "render", "prune", "inspect", "plugins"} <= names


def test_the_missions_command_runs_the_demo_preset(monkeypatch):
    seen = {}

    def fake_run(cfg):
        seen["cfg"] = cfg
        stage = {"params": 1, "psnr": 1.0, "sec_per_iter": 1.0}
        return {"dense": stage, "pruned": stage, "headline": "psnr"}

    monkeypatch.setattr(commands, "run_pipeline", fake_run)
    from prunekit.cli import app

    result = CliRunner().invoke(app, ["run", "fake", "--scorer", "w_out", "--selector", "coreset"])
    assert result.exit_code == 0, result.output
    assert seen["cfg"].options.preset == "demo" and seen["cfg"].target == "fake"


def test_plain_progress_lines_when_not_a_terminal(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PRUNEKIT_PROGRESS"}
    exe = os.path.join(os.path.dirname(sys.executable), "prunekit")
    proc = subprocess.run(
        [exe, "run", "digits", "--preset", "smoke", "--iters", "200", "--out", str(tmp_path / "r")],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("dense: ")]
    assert len(lines) == 10 and lines[0].startswith("dense: 20/200 (10 %) loss ") and "200/200 (100 %)" in lines[-1]
    # dense and pruned timed in alternating blocks: the smoke preset times 3 steps of each, so 3 blocks each
    # of 1 timed step + 3 warm-up, last line only
    timing = [line.split(":")[0] for line in proc.stderr.splitlines() if line.startswith("timing ")]
    assert timing == ["timing dense", "timing pruned"] * 3
    assert all("4/4 (100 %)" in line for line in proc.stderr.splitlines() if line.startswith("timing "))


def test_dense_checkpoint_accepts_the_run_folder(tmp_path):
    first = tmp_path / "first"
    assert prunekit("run", "digits", "--preset", "smoke", "--out", first).returncode == 0
    again = tmp_path / "again"
    proc = prunekit("run", "digits", "--preset", "smoke", "--dense-checkpoint", first, "--out", again)
    assert proc.returncode == 0, proc.stderr
    assert report(again)["dense"]["accuracy"] == report(first)["dense"]["accuracy"]
    proc = prunekit("run", "digits", "--dense-checkpoint", tmp_path, "--out", tmp_path / "x")
    assert_one_line_error(proc, "no mlp.safetensors there or in its dense/ folder")


def test_the_version_is_the_installed_distributions():
    import importlib.metadata

    import prunekit as pk

    assert pk.__version__ == importlib.metadata.version("prunekit")
    shown = prunekit("--version")
    assert shown.returncode == 0 and shown.stdout.strip() == f"prunekit {pk.__version__}"


def test_an_empty_value_is_refused_not_taken_for_the_current_folder(tmp_path):
    # Typer turns an empty path into "."; a run, sweep or export there would write into the working folder
    for args, flag in (
        (("run", "digits", "--out", ""), "--out is empty"),
        (("sweep", "digits", "--widths", "16", "--out="), "--out is empty"),
        (("export", tmp_path, "--out", ""), "--out is empty"),
        (("eval", ""), "an empty argument"),
    ):
        assert_one_line_error(prunekit(*args, cwd=tmp_path), flag)
    assert not list(tmp_path.iterdir())
