"""Bad input through the real CLI: one line, exit 2, no traceback. Unusual but valid input still works."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from cli import assert_one_line_error, prunekit, report
from PIL import Image
from scenes import write_blender

import prunekit as pk
from prunekit.errors import TrainingDiverged
from prunekit.training import train

SMOKE = ("--preset", "smoke", "--iters", "2")


@pytest.fixture
def scene(tmp_path):
    return write_blender(tmp_path / "scene")


def run_nerf(data, tmp_path, *extra):
    return prunekit("run", "nerf", "--data", data, *SMOKE, "--out", tmp_path / "out", *extra)


def edit_json(path, change):
    meta = json.loads(path.read_text())
    change(meta)
    path.write_text(json.dumps(meta))


def test_missing_data_path(tmp_path):
    assert_one_line_error(run_nerf(tmp_path / "nope", tmp_path), "does not exist")


def test_data_path_is_a_file(tmp_path):
    f = tmp_path / "file.txt"
    f.write_text("x")
    assert_one_line_error(run_nerf(f, tmp_path), "is a file")


def test_directory_of_unknown_format(tmp_path):
    assert_one_line_error(run_nerf(tmp_path, tmp_path), "poses_bounds.npy")


def test_malformed_json(scene, tmp_path):
    (scene / "transforms_train.json").write_text("{not json")
    assert_one_line_error(run_nerf(scene, tmp_path), "transforms_train.json is not valid JSON")


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda m: m.update(frames={"a": 1}), "'frames' list"),
        (lambda m: m["frames"][0].pop("transform_matrix"), "frame 0 needs"),
        (
            lambda m: m["frames"][1].update(transform_matrix=[[1, 0, 0], [0, 1, 0], [0, 0, 1]]),
            "frame 1: transform_matrix must be 4x4",
        ),
        (lambda m: m.pop("camera_angle_x"), "camera_angle_x missing"),
        (
            lambda m: m["frames"][2]["transform_matrix"][0].__setitem__(3, float("nan")),
            "frame 2: transform_matrix has NaN",
        ),
        (lambda m: m.update(frames=[]), "train split is empty"),
    ],
)
def test_wrong_json_content(scene, tmp_path, change, message):
    edit_json(scene / "transforms_train.json", change)
    assert_one_line_error(run_nerf(scene, tmp_path), message)


def test_missing_intrinsics_in_transforms_json(tmp_path):
    from scenes import write_transforms

    data = write_transforms(tmp_path / "ngp")
    edit_json(data / "transforms.json", lambda m: [m.pop(k) for k in ("fl_x", "fl_y")])
    assert_one_line_error(run_nerf(data, tmp_path), "missing camera intrinsics")


def test_missing_zero_byte_and_corrupt_images(scene, tmp_path):
    (scene / "train" / "r_1.png").unlink()
    assert_one_line_error(run_nerf(scene, tmp_path), "image not found: ./train/r_1")
    (scene / "train" / "r_1.png").write_bytes(b"")
    assert_one_line_error(run_nerf(scene, tmp_path), "r_1.png is empty (0 bytes)")
    (scene / "train" / "r_1.png").write_bytes(b"\x89PNG\r\n\x1a\nthis is not a png")
    assert_one_line_error(run_nerf(scene, tmp_path), "r_1.png cannot be read")


def test_images_of_different_sizes(scene, tmp_path):
    Image.new("RGBA", (20, 20)).save(scene / "train" / "r_3.png")
    assert_one_line_error(run_nerf(scene, tmp_path), "differ in size: ", "r_3.png")


@pytest.mark.parametrize(
    "args, message",
    [
        (("--scorer", "nope"), "unknown scorer 'nope'; choose one of:"),
        (("--selector", "nope"), "unknown selector 'nope'; choose one of:"),
        (("--width", "0"), "--width must be a positive integer"),
        (("--width", "-4"), "--width must be a positive integer"),
        (("--width", "1000"), "larger than the model's widest prunable layer (256)"),
        (("--keep", "0"), "--keep must be in (0, 1]"),
        (("--keep", "1.5"), "--keep must be in (0, 1]"),
        (("--width", "64", "--keep", "0.5"), "exactly one of --width or --keep"),
        (("--retrain", "sometimes"), "--retrain must be finetune or scratch"),
        (("--preset", "huge"), "unknown preset 'huge'"),
        (("--device", "tpu"), "--device must be auto, cpu or cuda"),
    ],
)
def test_bad_flags(tmp_path, args, message):
    proc = prunekit("run", "nerf", *SMOKE, "--out", tmp_path / "o", *args)
    assert_one_line_error(proc, message)
    assert not (tmp_path / "o" / "report.json").exists()


def test_unknown_target(tmp_path):
    assert_one_line_error(
        prunekit("run", "nope", "--out", tmp_path / "o"), "unknown target 'nope'; choose one of:", "nerf"
    )


def test_out_is_a_file_or_unwritable_or_finished(tmp_path):
    f = tmp_path / "file"
    f.write_text("keep me")
    assert_one_line_error(prunekit("run", "digits", "--iters", "2", "--out", f), "is an existing file")
    assert f.read_text() == "keep me"
    assert_one_line_error(prunekit("run", "digits", "--iters", "2", "--out", f / "sub"), "is not writable")
    out = tmp_path / "done"
    assert prunekit("run", "digits", "--iters", "2", "--out", out).returncode == 0
    before = (out / "report.json").read_bytes()
    assert_one_line_error(prunekit("run", "digits", "--iters", "2", "--out", out), "holds a finished run", "--force")
    assert (out / "report.json").read_bytes() == before
    assert prunekit("run", "digits", "--iters", "2", "--out", out, "--force").returncode == 0


def test_unusual_but_valid_images(tmp_path):
    """file_path with an extension, grayscale, RGB without alpha and 16-bit PNGs, in a path with spaces."""
    scene = write_blender(tmp_path / "dir with spaces ü", with_extension=True)
    for i, path in enumerate(sorted((scene / "train").glob("*.png"))):
        rgba = np.asarray(Image.open(path).convert("RGBA"))
        if i % 3 == 0:
            Image.fromarray(rgba[..., :3]).save(path)  # RGB, no alpha
        elif i % 3 == 1:
            Image.fromarray(rgba[..., :3].mean(-1).astype(np.uint8)).save(path)  # grayscale
        else:
            Image.fromarray(rgba[..., 0].astype(np.uint16) * 257).save(path)  # 16-bit gray
    proc = run_nerf(scene, tmp_path)
    assert proc.returncode == 0, proc.stderr


def test_prune_and_inspect_commands(tmp_path):
    from mlps import TwoHeadField

    path = pk.save(TwoHeadField(width=32), tmp_path / "field.safetensors")
    out = tmp_path / "pruned.safetensors"
    proc = prunekit(
        "prune",
        path,
        "--input-dims",
        "3,3",
        "--width",
        "8",
        "--selector",
        "topk",
        "--trust",  # the class lives in the tests' own module, which no plug-in registers
        "--out",
        out,
        env={"PYTHONPATH": os.path.dirname(__file__)},
    )
    assert proc.returncode == 0, proc.stderr
    shown = prunekit("inspect", out, env={"PYTHONPATH": os.path.dirname(__file__)})
    assert json.loads(shown.stdout)["widths"]["feat"] == 8
    assert_one_line_error(
        prunekit("prune", path, "--input-dims", "3,3", "--out", out, env={"PYTHONPATH": os.path.dirname(__file__)}),
        "already exists",
    )
    assert_one_line_error(prunekit("prune", path, "--input-dims", "x", "--out", tmp_path / "z"), "--input-dims")
    assert_one_line_error(prunekit("inspect", tmp_path / "missing.safetensors"), "not found")
    data = out.read_bytes()
    out.write_bytes(data[:100])
    assert_one_line_error(
        prunekit("inspect", out, env={"PYTHONPATH": os.path.dirname(__file__)}), "truncated or corrupt"
    )


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    model = torch.nn.Linear(2, 1)
    state = tmp_path / "state.safetensors"

    def loss_at(step):
        loss = model(torch.ones(1, 2)).sum() ** 2
        return loss * float("nan") if step == 7 else loss

    with pytest.raises(TrainingDiverged, match="loss became nan at step 7; the last good checkpoint"):
        train({"m": model}, loss_at, 20, lambda s: 1e-2, state, checkpoint_every=3)
    from safetensors import safe_open

    with safe_open(str(state), "pt") as f:
        assert f.metadata()["step"] == "6"


def _metrics(r):
    return {
        s: {k: v for k, v in r[s].items() if k in ("params", "accuracy", "test_loss", "widths")}
        for s in ("dense", "pruned")
    }


def test_kill_9_then_resume_matches_an_uninterrupted_run(tmp_path):
    args = ("run", "digits", "--iters", "300", "--selector", "coreset", "--width", "48", "--seed", "3")
    whole = tmp_path / "whole"
    assert prunekit(*args, "--out", whole).returncode == 0
    out = tmp_path / "killed"
    env = dict(os.environ, PRUNEKIT_PROGRESS="0")
    exe = os.path.join(os.path.dirname(sys.executable), "prunekit")
    proc = subprocess.Popen(
        [exe, *args, "--out", str(out)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    state = out / "dense" / "train_state.safetensors"
    deadline = time.time() + 120
    while not state.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL and not (out / "report.json").exists()
    resumed = prunekit(*args, "--out", out, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert _metrics(report(out)) == _metrics(report(whole))
    assert report(out)["training"]["dense"]["resumed_from"] > 0


def test_ctrl_c_saves_a_checkpoint_and_exits_cleanly(tmp_path):
    out = tmp_path / "int"
    exe = os.path.join(os.path.dirname(sys.executable), "prunekit")
    proc = subprocess.Popen(
        [exe, "run", "digits", "--iters", "100000", "--out", str(out)],
        env=dict(os.environ, PRUNEKIT_PROGRESS="0"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    state = out / "dense" / "train_state.safetensors"
    deadline = time.time() + 120
    while not state.exists() and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.strip().startswith("error: interrupted") and "--resume" in err and "Traceback" not in err
    assert state.exists()


def test_same_seed_same_metrics(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        assert prunekit("run", "digits", "--iters", "40", "--out", out).returncode == 0
    assert _metrics(report(a)) == _metrics(report(b))
