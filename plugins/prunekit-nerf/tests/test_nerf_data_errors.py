"""Bad NeRF data through the real CLI: each fault named in one line, exit 2, no traceback; unusual but
valid images still work."""

import json
import os

import numpy as np
import pytest
from cli import assert_one_line_error, prunekit
from PIL import Image
from scenes import write_blender

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


def test_a_fifo_for_a_json_file_is_refused_not_read(scene, tmp_path):
    (scene / "transforms_train.json").unlink()
    os.mkfifo(scene / "transforms_train.json")
    assert_one_line_error(run_nerf(scene, tmp_path), "transforms_train.json is not a regular file")


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda raw: raw.__setitem__(slice(None), 0.0), "row 0 has no rotation matrix"),
        (lambda raw: raw[:, 15].__setitem__(slice(None), -1.0), "row 0 needs 0 < near < far"),
        (lambda raw: raw[1].__setitem__(14, 0.0), "row 1 needs a positive height, width and focal length"),
    ],
)
def test_bad_llff_cameras_are_named_as_bad_data(tmp_path, change, message):
    from test_nerf_reference import _write_llff_by_hand

    root = _write_llff_by_hand(tmp_path / "llff")
    raw = np.load(root / "poses_bounds.npy")
    change(raw)
    np.save(root / "poses_bounds.npy", raw)
    assert_one_line_error(run_nerf(root, tmp_path), message)


def test_an_all_zero_blender_pose_is_bad_data(scene, tmp_path):
    edit_json(scene / "transforms_train.json", lambda m: m["frames"][0].update(transform_matrix=[[0] * 4] * 4))
    assert_one_line_error(run_nerf(scene, tmp_path), "frame 0: transform_matrix has no rotation")
