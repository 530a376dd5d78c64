"""Loading a checkpoint from elsewhere never runs code it names, and never allocates what it claims
before checking it against the file."""

import json
import re
import sys

import pytest
import torch
from cli import assert_one_line_error, prunekit
from torch import nn

import prunekit as pk
from prunekit.errors import CheckpointError


@pytest.fixture
def booby_trap(tmp_path, monkeypatch):
    """An importable module whose import writes a marker file, and a saved model that names it."""
    marker = tmp_path / "imported.txt"
    (tmp_path / "trap_module.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('ran')\nimport torch\n"
        "class Net(torch.nn.Linear):\n    pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    path = pk.save(nn.Linear(3, 4), tmp_path / "model.safetensors", config={"in_features": 3, "out_features": 4})
    desc = json.loads(path.with_suffix(".json").read_text())
    desc["class"] = "trap_module:Net"
    path.with_suffix(".json").write_text(json.dumps(desc))
    yield path, marker
    sys.modules.pop("trap_module", None)


def test_load_refuses_to_import_an_unregistered_class(booby_trap):
    path, marker = booby_trap
    with pytest.raises(CheckpointError, match="--trust"):
        pk.load(path)
    assert not marker.exists()
    loaded = pk.load(path, trust=True)  # asked for explicitly: now the module is imported
    assert marker.exists() and type(loaded).__name__ == "Net"


def test_inspect_reads_the_description_only(booby_trap, tmp_path):
    path, marker = booby_trap
    proc = prunekit("inspect", path)
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["class"] == "trap_module:Net" and info["params"] == 3 * 4 + 4 and info["widths"] == {"": 4}
    assert not marker.exists()
    desc = json.loads(path.with_suffix(".json").read_text())
    desc["class"] = "this:Nope"  # importing `this` prints the Zen of Python
    path.with_suffix(".json").write_text(json.dumps(desc))
    proc = prunekit("inspect", path)
    assert proc.returncode == 0 and "Beautiful is better" not in proc.stdout + proc.stderr


def test_cli_refuses_without_trust_and_says_so(booby_trap, tmp_path):
    path, marker = booby_trap
    proc = prunekit("prune", path, "--input-dims", "3", "--width", "2", "--out", tmp_path / "p.safetensors")
    assert_one_line_error(proc, "--trust")
    assert not marker.exists()
    assert_one_line_error(prunekit("inspect", tmp_path / "missing.safetensors"), "not found")
    (tmp_path / "other.json").write_text('{"format": "something else"}')
    assert_one_line_error(prunekit("inspect", tmp_path / "other.json"), "not a prunekit model description")


def test_description_is_built_on_the_meta_device_and_checked_against_the_file(tmp_path):
    """A torch.nn.Linear said to be 10⁷ × 10⁷ dense (400 TB) whose file holds a 4 × 3 layer is refused
    without allocating the dense size; a description that disagrees with the file is refused."""
    small = nn.Linear(3, 4)
    path = pk.save(small, tmp_path / "m.safetensors", config={"in_features": 10**7, "out_features": 10**7})
    with pytest.raises(CheckpointError, match="where the config builds \\[10000000\\]: no plan explains it"):
        pk.load(path)
    desc = json.loads(path.with_suffix(".json").read_text())
    desc["config"] = {"in_features": 3, "out_features": 4}
    path.with_suffix(".json").write_text(json.dumps(desc))
    assert torch.equal(pk.load(path).weight, small.weight)
    desc["shapes"]["weight"] = [10**7, 10**7]
    path.with_suffix(".json").write_text(json.dumps(desc))
    with pytest.raises(CheckpointError, match="weight is \\[4, 3\\] in the file"):
        pk.load(path)
    desc["shapes"]["weight"] = [4, 3]
    desc["config"] = {"in_features": 2, "out_features": 2}  # stored tensors larger than the architecture
    path.with_suffix(".json").write_text(json.dumps(desc))
    with pytest.raises(CheckpointError, match="larger than the model's"):
        pk.load(path)


def test_shapes_the_config_and_plan_do_not_explain_are_refused_before_allocating(tmp_path):
    """A description may say its layer is 3,000,000 inputs wide while the file holds 3: building that
    for real would allocate 48 MB here, gigabytes for a NeRF encoding; the shapes alone refuse it."""
    path = pk.save(nn.Linear(3, 4), tmp_path / "m.safetensors", config={"in_features": 3, "out_features": 4})
    assert json.loads(prunekit("inspect", path).stdout)["check"] == "ok"
    desc = json.loads(path.with_suffix(".json").read_text())
    desc["config"]["in_features"] = 3_000_000
    path.with_suffix(".json").write_text(json.dumps(desc))
    expected = "tensor weight is stored as [4, 3] where the config builds [4, 3000000]: no plan explains it"
    with pytest.raises(CheckpointError, match=re.escape(expected)):
        pk.load(path)
    assert json.loads(prunekit("inspect", path).stdout)["check"] == [expected]


def test_a_plan_explains_at_most_the_neurons_it_drops():
    from prunekit.checkpoint import mismatches
    from prunekit.plans import LayerPlan, Plan

    plan = Plan({"0": LayerPlan(width=8, kept=[0, 2, 5], members=["0"])})  # drops 5 of 8
    built = {"0.weight": [8, 4], "0.bias": [8], "2.weight": [2, 8]}
    assert mismatches(built, {"0.weight": [3, 4], "0.bias": [3], "2.weight": [2, 3]}, plan) == []
    assert mismatches(built, {"0.weight": [3, 4], "0.bias": [3], "2.weight": [2, 2]}, plan) == [
        "tensor 2.weight is stored as [2, 2] where the config builds [2, 8]: more than the plan's 5 dropped neurons"
    ]
    assert (
        mismatches({**built, "0.weight": [16, 4]}, {"0.weight": [3, 4], "0.bias": [3], "2.weight": [2, 3]}, plan)[-1]
        == "layer 0 is built 16 wide, the plan pruned it from 8"
    )
    assert mismatches(built, {"0.weight": [3, 4], "0.bias": [3]}, plan) == ["tensor 2.weight is built but not stored"]
