"""Options that do not apply are refused, and every hash-grid config field is checked at load."""

import json

import pytest
from cli import assert_one_line_error, prunekit
from prunekit_nerf.commands import view
from prunekit_nerf.hashgrid import HashGridField
from scenes import write_blender, write_llff

from prunekit.errors import CheckpointError
from prunekit.plugin import BadInput

SMOKE = ("run", "nerf", "--preset", "smoke", "--iters", "2", "--retrain-iters", "1")


def test_an_llff_factor_is_refused_on_blender_data_and_outside_its_domain(tmp_path):
    blender = write_blender(tmp_path / "lego")
    llff = write_llff(tmp_path / "fern")
    out = tmp_path / "r"
    proc = prunekit(*SMOKE, "--data", blender, "-O", "factor=4", "--out", out)
    assert_one_line_error(proc, "-O factor applies to LLFF captures only", "a blender scene")
    assert_one_line_error(prunekit(*SMOKE, "-O", "factor=4", "--out", out), "not to the built-in scene")
    for bad in ("0", "-8"):
        assert_one_line_error(prunekit(*SMOKE, "--data", llff, "-O", f"factor={bad}", "--out", out), "positive integer")
    assert not out.exists()  # nothing written for a refused run


@pytest.mark.parametrize(
    "change, message",
    [
        ({"bound": float("nan")}, "bound"),
        ({"bound": -1.0}, "bound"),
        ({"levels": 0}, "levels"),
        ({"hidden": 2.5}, "hidden"),
    ],
)
def test_every_hash_grid_config_field_is_checked_where_a_saved_model_is_built(tmp_path, change, message):
    import prunekit

    path = prunekit.save(HashGridField(levels=2, log2_table=8, hidden=8, colour_hidden=8), tmp_path / "f.safetensors")
    description = json.loads((tmp_path / "f.json").read_text())
    description["config"].update(change)
    (tmp_path / "f.json").write_text(json.dumps(description))  # NaN as JSON's NaN, as a hand edit writes it
    with pytest.raises(CheckpointError, match=message):
        prunekit.load(path)


def test_the_hash_grid_default_budget_follows_its_64_wide_layers(tmp_path):
    out = tmp_path / "r"
    proc = prunekit(*SMOKE, "-O", "field=hashgrid", "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((out / "report.json").read_text())["budget"] == {"width": 32, "round_to": "auto"}


def test_an_empty_viewer_host_is_refused(tmp_path):
    with pytest.raises(BadInput, match="--host is empty"):
        view(run_dir=tmp_path, data=None, port=7007, host=" ", preview=24, height=None, device="cpu")
