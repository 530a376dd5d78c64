"""Layer-wise (global) allocation and joint pruning + quantization."""

import json

import pytest
import torch
from cli import assert_one_line_error, prunekit, report
from mlps import TwoHeadField

import prunekit as pk
from prunekit.budget import Budget, allocate, min_width, params_after
from prunekit.graph import ModelGraph
from prunekit.quantize import quantized_copy
from prunekit.surgery import output_error

X, D = torch.randn(32, 3), torch.randn(32, 3)


def skewed_field():
    """Layers 2 and 3 have a few dominant neurons; a global allocation should take from them."""
    torch.manual_seed(0)
    m = TwoHeadField()
    with torch.no_grad():
        for name in ("layers.3", "layers.4"):
            w = m.get_submodule(name).weight
            w.mul_(0.01)
            w[:, :16] *= 100.0
    return m


@pytest.mark.parametrize("keep", [0.25, 0.5])
def test_global_allocation_meets_the_budget_within_bounds(keep):
    m = skewed_field()
    g = ModelGraph(m, (X, D))
    scores = {n: pk.plugins.get_scorer("w_out").score(layer) for n, layer in g.layers.items()}
    uniform = allocate(g, Budget(keep=keep))
    widths = allocate(g, Budget(keep=keep, allocation="global"), scores)
    assert params_after(g, widths) <= params_after(g, uniform)
    assert params_after(g, widths) >= 0.97 * params_after(g, uniform)
    for n, k in widths.items():
        assert min_width(g.layers[n].width) <= k <= g.layers[n].width
    assert widths["layers.2"] < uniform["layers.2"] and widths["layers.3"] < uniform["layers.3"]
    pruned = pk.prune(m, (X, D), selector="topk", keep=keep, allocation="global")  # verified surgery
    assert pruned.prunekit_plan.widths == widths
    assert pk.count_params(pruned) == params_after(g, widths)


def test_unknown_allocation():
    with pytest.raises(pk.PrunekitError, match="--allocation must be one of uniform, global"):
        pk.prune(TwoHeadField(width=32), (X, D), width=8, allocation="greedy")


@pytest.mark.parametrize("mode, tol", [("int8", 0.05), ("fp16", 2e-3), ("bf16", 2e-2)])
def test_quantized_save_reload_round_trip(tmp_path, mode, tol):
    pruned = pk.prune(TwoHeadField(), (X, D), selector="topk", width=128)
    q = quantized_copy(pruned, mode)
    assert 0 < output_error(pruned, q, (X, D)) < tol
    path = pk.save(q, tmp_path / "q.safetensors")
    fp32 = pk.save(pruned, tmp_path / "f.safetensors")
    assert path.stat().st_size < (0.3 if mode == "int8" else 0.55) * fp32.stat().st_size
    again = pk.load(path, cls=TwoHeadField)
    assert again.prunekit_quantization == mode
    assert output_error(q, again, (X, D)) == 0.0
    assert again.prunekit_plan.widths == pruned.prunekit_plan.widths


def test_run_with_global_allocation_and_int8(tmp_path):
    out = tmp_path / "q"
    proc = prunekit(
        "run",
        "fake",
        "--keep",
        "0.5",
        "--allocation",
        "global",
        "--quantize",
        "int8",
        "--preset",
        "smoke",
        "--iters",
        "3",
        "--out",
        out,
    )
    assert proc.returncode == 0, proc.stderr
    r = report(out)
    assert r["budget"] == {"keep": 0.5, "allocation": "global", "round_to": "auto"}
    assert len(set(r["pruned"]["widths"]["a"][:2])) > 1  # not one width for all
    assert r["quantized"]["mode"] == "int8"
    assert r["quantized"]["size_on_disk_mb"] < 0.45 * r["pruned"]["size_on_disk_mb"]
    reloaded = pk.load(out / "quantized" / "a.safetensors")
    assert reloaded.prunekit_quantization == "int8"
    assert [m.out_features for m in reloaded.hidden] == r["pruned"]["widths"]["a"][:2]
    assert "pruned + int8" in (out / "report.md").read_text()


def test_bad_quantize_flag(tmp_path):
    assert_one_line_error(
        prunekit("run", "digits", "--quantize", "int4", "--out", tmp_path / "o"),
        "--quantize must be one of int8, fp16, bf16",
    )


def test_tampered_quantization_record(tmp_path):
    q = quantized_copy(pk.prune(TwoHeadField(width=32), (X, D), selector="topk", width=8), "int8")
    path = pk.save(q, tmp_path / "q.safetensors")
    desc = json.loads(path.with_suffix(".json").read_text())
    desc["quantization"]["mode"] = "int3"
    path.with_suffix(".json").write_text(json.dumps(desc))
    with pytest.raises(pk.PrunekitError, match="bad quantization record"):
        pk.load(path, cls=TwoHeadField)
