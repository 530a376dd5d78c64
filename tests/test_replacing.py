"""Nothing stale, nothing mislabelled: a replaced run leaves nothing to resume, export or evaluate as the
new one; an export is tied to its checkpoint; sweeps compare data by what it holds; a folder a command
did not write is never written into; one process writes a run folder at a time."""

import fcntl
import json
import shutil
from pathlib import Path

import pytest
from cli import assert_one_line_error, prunekit, report

DIGITS = ("run", "digits", "--preset", "smoke", "--iters", "40", "--retrain-iters", "20", "--width", "32")


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("replace") / "run"
    assert prunekit(*DIGITS, "--seed", "0", "--out", out).returncode == 0
    return out


def _copy(run: Path, tmp_path: Path, name: str = "run") -> Path:
    return Path(shutil.copytree(run, tmp_path / name))


def test_force_starts_over_even_with_resume_and_other_settings(finished, tmp_path):
    out = _copy(finished, tmp_path)
    before = (out / "dense" / "mlp.safetensors").read_bytes()
    assert prunekit(*DIGITS, "--seed", "4", "--out", out, "--resume", "--force").returncode == 0
    new = report(out)
    assert new["seed"] == 4 and new["training"]["dense"]["resumed_from"] == 0  # trained anew, not resumed
    assert (out / "dense" / "mlp.safetensors").read_bytes() != before


def test_force_clears_the_replaced_runs_exports_and_evaluations(finished, tmp_path):
    pytest.importorskip("onnxruntime")
    out = _copy(finished, tmp_path)
    assert prunekit("export", out).returncode == 0
    assert prunekit("eval", out, "--backend", "onnxruntime").returncode == 0
    (out / "notes.txt").write_text("mine")
    assert prunekit(*DIGITS, "--seed", "4", "--out", out, "--force").returncode == 0
    assert not (out / "export").exists() and not list(out.glob("eval-*.json"))
    assert (out / "notes.txt").read_text() == "mine"  # what prunekit did not write stays
    proc = prunekit("eval", out, "--backend", "onnxruntime")
    assert_one_line_error(proc, "run `prunekit export")


def test_an_export_of_another_checkpoint_is_refused_at_evaluation(finished, tmp_path):
    """A partial re-export: the dense export is fresh, the pruned one is the replaced run's."""
    pytest.importorskip("onnxruntime")
    old, new = _copy(finished, tmp_path, "old"), _copy(finished, tmp_path, "new")
    assert prunekit("export", old).returncode == 0
    assert prunekit(*DIGITS, "--seed", "5", "--out", new, "--force").returncode == 0
    assert prunekit("export", new, "--which", "dense").returncode == 0
    shutil.copytree(old / "export" / "pruned", new / "export" / "pruned")
    proc = prunekit("eval", new, "--backend", "onnxruntime")
    assert_one_line_error(proc, "exported from another checkpoint", "pruned/mlp.safetensors")


def test_export_refuses_a_folder_it_did_not_write(finished, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("keep me")
    assert_one_line_error(prunekit("export", finished, "--out", mine, "--format", "pt2"), "did not write")
    assert [p.name for p in mine.iterdir()] == ["thesis.tex"] and (mine / "thesis.tex").read_text() == "keep me"
    fresh = tmp_path / "fresh"
    assert prunekit("export", finished, "--out", fresh, "--format", "pt2").returncode == 0
    assert prunekit("export", finished, "--out", fresh, "--format", "pt2").returncode == 0  # its own: again


def test_a_second_process_cannot_write_a_run_folder_that_is_being_written(finished, tmp_path):
    out = _copy(finished, tmp_path)
    (out / "report.json").unlink()  # an interrupted run, which --resume continues
    with open(out / ".lock", "a+") as held:  # what the first process holds while it runs
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert_one_line_error(prunekit(*DIGITS, "--seed", "0", "--out", out, "--resume"), "another prunekit process")
    assert prunekit(*DIGITS, "--seed", "0", "--out", out, "--resume").returncode == 0  # once it is free


def _text(folder: Path, body: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "corpus.txt").write_text(body, encoding="utf-8")
    return folder


SWEEP = ("sweep", "gpt", "--preset", "smoke", "--scorers", "w_out", "--selectors", "topk", "--widths", "32",
         "--seeds", "0", "--no-uniform", "--data", "corpus.txt")  # fmt: skip


def test_a_sweep_compares_its_data_by_what_it_holds_not_by_the_text_typed(tmp_path):
    """The same relative --data from two working directories names two corpora: the second sweep into the
    same --out, and a --dense-from of the first, are refused; the same corpus by another path is not."""
    a = _text(tmp_path / "a", "to be or not to be, that is the question. " * 60)
    b = _text(tmp_path / "b", "all the world's a stage, and all the men and women merely players. " * 60)
    out = tmp_path / "sweep"
    assert prunekit(*SWEEP, "--out", out, cwd=a).returncode == 0
    assert_one_line_error(prunekit(*SWEEP, "--out", out, cwd=b), "other settings", "data")
    assert_one_line_error(prunekit(*SWEEP, "--out", tmp_path / "other", "--dense-from", out, cwd=b), "data")
    moved = tmp_path / "moved"
    shutil.copytree(a, moved)
    assert prunekit(*SWEEP, "--out", out, "--seeds", "0,1", cwd=moved).returncode == 0  # same corpus elsewhere
    settings = json.loads((out / "sweep.json").read_text())
    assert Path(settings["data"]).is_absolute() and settings["data_id"]


def test_round_to_larger_than_the_width_is_refused(tmp_path):
    proc = prunekit(*DIGITS[:-2], "--width", "16", "--round-to", "32", "--out", tmp_path / "r")
    assert_one_line_error(proc, "--round-to 32 is larger than --width 16")


def test_nan_in_a_checkpoint_is_named_with_its_tensor_at_load(finished, tmp_path):
    from safetensors.torch import load_file, save_file

    out = _copy(finished, tmp_path)
    weights = out / "pruned" / "mlp.safetensors"
    tensors = load_file(weights)
    tensors["hidden.1.weight"][0, 0] = float("nan")
    save_file(tensors, weights, metadata={"format": "pt"})
    for command in (("eval", out), ("export", out, "--format", "pt2"), ("inspect", weights)):
        proc = prunekit(*command)
        if command[0] == "inspect":  # reads the description alone: it must not call the file sound
            assert "check ok" not in proc.stdout
            continue
        assert_one_line_error(proc, "tensor hidden.1.weight holds NaN")


@pytest.mark.parametrize("value", ["null", "NaN", "1e400"])
def test_a_tampered_sweep_cell_is_named_and_the_results_stay_as_they_were(tmp_path, value):
    out = tmp_path / "sweep"
    sweep = ("sweep", "digits", "--preset", "smoke", "--iters", "6", "--retrain-iters", "3", "--widths", "32",
             "--scorers", "w_out", "--selectors", "topk", "--seeds", "0", "--out", out)  # fmt: skip
    assert prunekit(*sweep).returncode == 0
    before = {name: (out / name).read_bytes() for name in ("results.json", "results.md")}
    cell = next((out / "cells").glob("w_out-topk-*.json"))
    cell.write_text(cell.read_text().replace('"accuracy": ', f'"accuracy": {value}, "was": ', 1))
    assert_one_line_error(prunekit("results", out), cell.name, "not a usable sweep cell")
    assert {name: (out / name).read_bytes() for name in before} == before


def test_an_fp32_export_passed_off_as_int8_is_refused(finished, tmp_path):
    """The fp32 .onnx copied over the .int8.onnx, its recorded checksum edited to match: the file's own
    operators say it is not a quantization."""
    pytest.importorskip("onnxruntime")
    from prunekit.deploy import sha256

    out = _copy(finished, tmp_path)
    assert prunekit("export", out, "--int8").returncode == 0
    folder = out / "export" / "pruned"
    shutil.copyfile(folder / "mlp.onnx", folder / "mlp.int8.onnx")
    described = json.loads((folder / "mlp.json").read_text())
    described["export"]["int8"]["sha256"] = sha256(folder / "mlp.int8.onnx")
    (folder / "mlp.json").write_text(json.dumps(described))
    assert_one_line_error(prunekit("eval", out, "--backend", "onnxruntime-int8"), "holds no int8 operator")


def test_an_export_folder_that_cannot_be_made_is_one_line(finished, tmp_path):
    """Below a file, as below a read-only folder, the folder cannot be made: one line, not an OSError."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert_one_line_error(prunekit("export", finished, "--out", blocker / "x", "--format", "pt2"), "is not writable")


def test_an_int8_record_over_fp32_tensors_is_refused_at_load_and_named_by_inspect(tmp_path):
    """A quantization record that says int8 over tensors stored in fp32: the description claims what the
    file does not hold."""
    from torch import nn

    import prunekit as pk
    from prunekit.errors import CheckpointError

    path = pk.save(nn.Linear(4, 3), tmp_path / "m.safetensors", config={"in_features": 4, "out_features": 3})
    description = json.loads((tmp_path / "m.json").read_text())
    description["quantization"] = {"mode": "int8", "tensors": ["weight"]}
    (tmp_path / "m.json").write_text(json.dumps(description))
    with pytest.raises(CheckpointError, match="says int8, but weight is torch.float32"):
        pk.load(path)
    shown = prunekit("inspect", path)
    assert json.loads(shown.stdout)["check"] == ["quantization weight is torch.float32, not int8"]
