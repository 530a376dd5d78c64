"""A NeRF run through onnxruntime: the same renders, to fp32 rounding."""

import json

import pytest
from cli import prunekit

pytest.importorskip("onnxruntime", reason="the deploy extra is not installed")


def test_a_nerf_run_renders_the_same_through_onnxruntime(tmp_path):
    run = tmp_path / "run"
    assert prunekit("run", "nerf", "--preset", "smoke", "--iters", "5", "--width", "64", "--out", run).returncode == 0
    proc = prunekit("export", run)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (run / "export" / "pruned").glob("*.onnx")) == ["coarse.onnx", "fine.onnx"]
    assert prunekit("eval", run).returncode == 0
    assert prunekit("eval", run, "--backend", "onnxruntime").returncode == 0
    torch_eval = json.loads((run / "eval-test.json").read_text())
    engine = json.loads((run / "eval-test-onnxruntime.json").read_text())
    for stage in ("dense", "pruned"):  # the same images to within fp32 rounding: PSNR to 1e-3 dB
        assert abs(engine[stage]["psnr"] - torch_eval[stage]["psnr"]) < 1e-3
        assert engine[stage]["render_seconds"] > 0 and engine[stage]["views"] == torch_eval[stage]["views"]
