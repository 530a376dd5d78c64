"""One run on several processes (torchrun, gloo on CPU): each process takes a share of every batch, and
2 processes × B/2 rows train exactly as 1 process × B rows does."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cli import prunekit, report

from conftest import cli_env

ARGS = ("run", "fake", "--preset", "smoke", "--iters", "12", "--width", "32", "--selector", "topk")


def _torchrun(*args, nproc: int = 2) -> subprocess.CompletedProcess:
    exe = shutil.which("torchrun") or str(Path(sys.executable).parent / "torchrun")
    env = {**cli_env(), "OMP_NUM_THREADS": "1"}
    cmd = [exe, "--standalone", f"--nproc_per_node={nproc}", "-m", "prunekit", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)


@pytest.mark.skipif(sys.platform != "linux", reason="torchrun's gloo test runs on Linux")
def test_two_processes_train_as_one_with_the_whole_batch(tmp_path):
    one = tmp_path / "one"
    assert prunekit(*ARGS, "--out", one, env={"OMP_NUM_THREADS": "1"}).returncode == 0
    two = tmp_path / "two"
    proc = _torchrun(*ARGS, "--out", two)
    assert proc.returncode == 0, proc.stderr[-2000:]
    a, b = report(one), report(two)
    for stage in ("dense", "pruned"):
        assert b["training"][stage]["final_loss"] == pytest.approx(a["training"][stage]["final_loss"], rel=1e-4)
        assert b[stage]["r2"] == pytest.approx(a[stage]["r2"], abs=1e-4)
    assert b["pruned"]["params"] == a["pruned"]["params"]
    assert not list(two.glob(".prunekit-write-test*")) and proc.stdout.count("report: ") == 1  # one process reports
    # --resume --force on a finished run replaces it: trained again by both processes, the same result
    again = _torchrun(*ARGS, "--out", two, "--resume", "--force")
    assert again.returncode == 0, again.stderr[-2000:]
    assert report(two)["pruned"]["r2"] == pytest.approx(b["pruned"]["r2"], abs=1e-6)


@pytest.mark.skipif(sys.platform != "linux", reason="torchrun's gloo test runs on Linux")
def test_a_sweep_under_torchrun_is_refused_with_what_to_do_instead(tmp_path):
    proc = _torchrun("sweep", "digits", "--widths", "8", "--seeds", "0", "--out", tmp_path / "s")
    assert proc.returncode != 0 and "--executor ray" in proc.stderr
    assert not (tmp_path / "s").exists()  # no rank started the sweep
