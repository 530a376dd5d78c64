"""End to end: the real `prunekit run nerf` in a subprocess, on each data format."""

import json
import math
import shutil
import signal
import subprocess

import imageio.v3 as iio
import numpy as np
import pytest
from cli import _exe, assert_one_line_error, prunekit, report, wait_for_file
from scenes import write_blender, write_llff, write_transforms

from conftest import cli_env

FIELDS = ("params", "size_mb", "widths", "sec_per_iter", "psnr", "ssim", "render_seconds")


def check_report(out):
    r = report(out)
    for key in ("target", "scorer", "selector", "retrain", "seed", "prune_seconds", "ratios"):
        assert key in r, key
    for stage in ("dense", "pruned"):
        for key in FIELDS:
            assert key in r[stage], (stage, key)
            if key != "widths":
                assert isinstance(r[stage][key], (int, float)) and math.isfinite(r[stage][key]), (stage, key)
    assert r["pruned"]["params"] < r["dense"]["params"]
    assert r["dense"]["widths"]["coarse"][:8] == [256] * 8
    assert (out / "report.md").exists() and (out / "pruned" / "fine.safetensors").exists()
    assert any(f.endswith(".png") for f in r["files"])
    return r


def test_issue_command_without_data(tmp_path):
    out = tmp_path / "run"
    proc = prunekit(
        "run", "nerf", "--scorer", "w_out", "--selector", "coreset", "--width", "128", "--preset", "smoke", "--out", out
    )
    assert proc.returncode == 0, proc.stderr
    r = check_report(out)
    assert r["pruned"]["widths"]["coarse"][:8] == [128] * 8 and r["pruned"]["params"] == 2 * 158_660


@pytest.mark.parametrize("writer", [write_blender, write_transforms, write_llff])
def test_each_data_format(tmp_path, writer):
    data = writer(tmp_path / "scene with spaces é")
    out = tmp_path / "out"
    proc = prunekit(
        "run",
        "nerf",
        "--data",
        data,
        "--preset",
        "smoke",
        "--iters",
        "4",
        "--keep",
        "0.5",
        "--selector",
        "topk",
        "--out",
        out,
    )
    assert proc.returncode == 0, proc.stderr
    check_report(out)


def test_lego_100(tmp_path, lego_100):
    out = tmp_path / "lego"
    proc = prunekit("run", "nerf", "--data", lego_100, "--preset", "smoke", "--iters", "4", "--out", out)
    assert proc.returncode == 0, proc.stderr
    check_report(out)


def test_dense_checkpoint_is_reused(tmp_path):
    first = tmp_path / "first"
    assert prunekit("run", "nerf", "--preset", "smoke", "--iters", "3", "--out", first).returncode == 0
    second = tmp_path / "second"
    proc = prunekit(
        "run",
        "nerf",
        "--preset",
        "smoke",
        "--iters",
        "3",
        "--retrain",
        "scratch",
        "--dense-checkpoint",
        first / "dense",
        "--out",
        second,
    )
    assert proc.returncode == 0, proc.stderr
    a, b = report(first), report(second)
    assert b["training"]["dense"] is None and b["retrain"] == "scratch"
    assert a["dense"]["psnr"] == pytest.approx(b["dense"]["psnr"], abs=1e-9)


def test_render_interrupted_says_what_it_kept(tmp_path):
    run = tmp_path / "run"
    assert prunekit("run", "nerf", "--preset", "smoke", "--iters", "5", "--width", "64", "--out", run).returncode == 0
    views = [run / f for f in report(run)["files"] if f.startswith("renders/test_")]
    shutil.rmtree(run / "renders")
    proc = subprocess.Popen(  # a turntable long enough to be interrupted in; SIGINT ignored, as a background job's
        [_exe(), "render", str(run), "--frames", "100000"],
        env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )  # fmt: skip
    try:
        for view in views:  # the event: every test view written, the turntable under way
            wait_for_file(view, proc)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)  # a hang guard: the answer to Ctrl-C comes in seconds
    finally:  # a failed test leaves no render running
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert f"interrupted: kept {len(views)} test views in" in err and "the video was not written" in err, err
    assert "Traceback" not in err and not list((run / "renders").glob("turntable*"))


def test_eval_and_render_a_saved_nerf_run(tmp_path):
    run = tmp_path / "run"
    assert prunekit("run", "nerf", "--preset", "smoke", "--iters", "5", "--width", "64", "--out", run).returncode == 0
    proc = prunekit("eval", run)
    assert proc.returncode == 0, proc.stderr
    evaluated = json.loads((run / "eval-test.json").read_text())
    assert evaluated["pruned"]["psnr"] == report(run)["pruned"]["psnr"]  # same models, same views
    assert evaluated["dense"]["psnr"] == report(run)["dense"]["psnr"]
    proc = prunekit("render", run, "--frames", "4")
    assert proc.returncode == 0, proc.stderr
    frames = iio.imread(run / "renders" / "turntable_dense_pruned.gif", index=None)
    assert frames.shape[0] == 4 and frames.shape[2] == 2 * frames.shape[1]  # dense | pruned side by side
    assert not np.array_equal(frames[0], frames[1])  # the camera moves
    assert (run / "renders" / "test_000_gt_dense_pruned.png").exists()
    assert_one_line_error(prunekit("render", run, "--video", "avi"), "--video must be gif or mp4")
    assert_one_line_error(prunekit("eval", tmp_path / "nothing"), "is not a run folder")
