"""Export: a pruned model leaves PyTorch as ONNX or a torch.export program that gives PyTorch's outputs at
any batch size, runs in onnxruntime (fp32 and int8) through `prunekit eval`, or is refused in one line."""

import json
import os
import subprocess
import sys

import pytest
import torch
from cli import _exe, assert_one_line_error, prunekit
from mlps import TwoHeadField

import prunekit as pk
from conftest import cli_env
from prunekit.deploy import ExportError, verify

pytest.importorskip("onnxruntime", reason="the deploy extra is not installed")


@pytest.fixture(scope="module")
def pruned_field():
    torch.manual_seed(0)
    field = TwoHeadField(width=32)
    inputs = (torch.randn(16, 3), torch.nn.functional.normalize(torch.randn(16, 3), dim=-1))
    return pk.prune(field, inputs, width=8, selector="topk"), inputs


@pytest.mark.parametrize("suffix", [".onnx", ".pt2"])
def test_an_export_gives_pytorchs_outputs_at_another_batch_size(pruned_field, tmp_path, suffix):
    model, inputs = pruned_field
    path = tmp_path / f"field{suffix}"
    record = pk.export(model, inputs, path)
    assert record["relative_error"] <= 1e-5 and record["tolerance"] == 1e-5
    x, d = torch.randn(37, 3), torch.nn.functional.normalize(torch.randn(37, 3), dim=-1)
    engine = pk.load_exported(path)
    if suffix == ".onnx":
        engine.rows = 8  # 37 rows in five engine calls, as a large image goes
    with torch.no_grad():
        want, got = model(x, d), engine(x, d)
    for w, g in zip(want, got):  # rgb (37, 3) and density (37, 1), as the model gives them
        assert g.shape == w.shape and torch.allclose(g, w, rtol=1e-5, atol=1e-6)


def test_a_tampered_onnx_file_fails_verification(pruned_field, tmp_path):
    import onnx
    from onnx import numpy_helper

    model, inputs = pruned_field
    path = tmp_path / "field.onnx"
    pk.export(model, inputs, path)
    graph = onnx.load(str(path))
    weights = max(graph.graph.initializer, key=lambda t: len(t.raw_data))  # the largest weight matrix
    array = numpy_helper.to_array(weights).copy()
    array.flat[0] += 1.0
    weights.CopyFrom(numpy_helper.from_array(array, weights.name))
    onnx.save(graph, str(path))
    with pytest.raises(ExportError, match="does not reproduce the model"):
        verify(path, model, inputs)


def test_what_export_refuses(pruned_field, tmp_path):
    model, inputs = pruned_field
    with pytest.raises(pk.PrunekitError, match="must end in .onnx or .pt2"):
        pk.export(model, inputs, tmp_path / "field.bin")
    with pytest.raises(pk.PrunekitError, match="at least two rows"):
        pk.export(model, tuple(t[:1] for t in inputs), tmp_path / "field.onnx")
    assert not list(tmp_path.iterdir())  # nothing half-written


DIGITS = ("run", "digits", "--preset", "smoke", "--iters", "60", "--retrain-iters", "30", "--width", "32")


def test_export_and_evaluate_a_run_in_onnxruntime(tmp_path):
    run = tmp_path / "run"
    assert prunekit(*DIGITS, "--out", run).returncode == 0
    proc = prunekit("export", run, "--int8")
    assert proc.returncode == 0, proc.stderr
    described = json.loads((run / "export" / "pruned" / "mlp.json").read_text())
    assert described["shapes"]["hidden.0.weight"] == [32, 64]  # the checkpoint's description, plus the export
    assert described["export"]["inputs"] == [[None, 64]] and described["export"]["int8"]["file"] == "mlp.int8.onnx"
    assert prunekit("eval", run).returncode == 0
    torch_eval = json.loads((run / "eval-test.json").read_text())
    assert prunekit("eval", run, "--backend", "onnxruntime").returncode == 0
    engine = json.loads((run / "eval-test-onnxruntime.json").read_text())
    for stage in ("dense", "pruned"):  # the same predictions: fp32 differs from torch by rounding only
        assert engine[stage]["accuracy"] == torch_eval[stage]["accuracy"]
    assert engine["pruned"]["bytes_on_disk"] < engine["dense"]["bytes_on_disk"]
    assert prunekit("eval", run, "--backend", "onnxruntime-int8").returncode == 0
    int8 = json.loads((run / "eval-test-onnxruntime-int8.json").read_text())
    assert int8["pruned"]["bytes_on_disk"] < 0.6 * engine["pruned"]["bytes_on_disk"]  # 1-byte weights, not 4
    assert abs(int8["dense"]["accuracy"] - torch_eval["dense"]["accuracy"]) < 0.05

    onnx_file = run / "export" / "pruned" / "mlp.onnx"
    data = onnx_file.read_bytes()
    onnx_file.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # one bit of the file flipped
    assert_one_line_error(prunekit("eval", run, "--backend", "onnxruntime"), "SHA-256 differs")
    assert_one_line_error(prunekit("export", run, "--format", "tflite"), "--format must be one of onnx, pt2")
    assert_one_line_error(prunekit("export", run, "--format", "pt2", "--int8"), "--int8 quantizes ONNX exports")


def _full_disk_at(limit: int):
    """A child's file size limit, as a full disk is met: a write past ``limit`` bytes fails (EFBIG)."""
    import resource
    import signal

    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails instead of the process being killed
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="file size limits as Linux sets them")
def test_a_full_disk_during_export_leaves_the_last_export_whole_and_nothing_partial(tmp_path):
    run = tmp_path / "run"
    assert prunekit(*DIGITS, "--out", run).returncode == 0
    assert prunekit("export", run, "--int8").returncode == 0
    before = {p: p.read_bytes() for p in (run / "export").rglob("*") if p.is_file()}
    proc = subprocess.run(
        [_exe(), "export", str(run), "--int8"], env=cli_env(), capture_output=True, text=True,
        preexec_fn=_full_disk_at(60_000),  # below the dense model's ONNX file
    )  # fmt: skip
    assert_one_line_error(proc, "File too large")
    assert {p: p.read_bytes() for p in (run / "export").rglob("*") if p.is_file()} == before

    # int8 quantization writes a shape-inferred copy elsewhere first: its failure is named, nothing is left
    temp, out = tmp_path / "temp", tmp_path / "int8"
    temp.mkdir(), out.mkdir()
    source, target = str(run / "export" / "dense" / "mlp.onnx"), str(out / "m.onnx")
    code = f"from prunekit.deploy import quantize_int8; quantize_int8({source!r}, {target!r})"
    proc = subprocess.run(
        [sys.executable, "-c", code], env={**cli_env(), "TMPDIR": str(temp)}, capture_output=True, text=True,
        preexec_fn=_full_disk_at(20_000),  # below the int8 file
    )  # fmt: skip
    assert proc.returncode != 0 and "File too large" in proc.stderr.splitlines()[-1], proc.stderr
    assert not list(out.iterdir()) and not [p for p in temp.rglob("*") if "onnx" in p.name or p.is_dir()]


def test_without_the_extra_the_command_says_how_to_install_it(tmp_path):
    blocker = tmp_path / "site" / "onnxruntime"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('not installed here')\n")
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), os.environ.get("PYTHONPATH", "")])}
    proc = prunekit("eval", tmp_path, "--backend", "onnxruntime", env=env)
    assert_one_line_error(proc, 'pip install -e ".[deploy]"')
