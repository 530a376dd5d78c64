import json

import pytest
import torch
from mlps import ResidualMLP, TwoHeadField

import prunekit
from prunekit.budget import Budget, allocate, params_after
from prunekit.errors import BadInput, CheckpointError
from prunekit.graph import ModelGraph
from prunekit.plugin import ScorerBase
from prunekit.surgery import output_error

X, D = torch.randn(32, 3), torch.randn(32, 3)


def test_width_budget_matches_the_nerf_count():
    g = ModelGraph(TwoHeadField(), (X, D))
    kept = allocate(g, Budget(width=128))
    assert kept["branch"] == 64 and all(kept[f"layers.{i}"] == 128 for i in range(8))
    assert params_after(g, kept) == 158_660


@pytest.mark.parametrize("keep", [0.5, 0.25, 0.9])
def test_keep_budget_is_close_and_counted_exactly(keep):
    m = TwoHeadField()
    pruned = prunekit.prune(m, (X, D), scorer="w_out", selector="topk", keep=keep)
    assert abs(prunekit.count_params(pruned) / prunekit.count_params(m) - keep) < 0.01
    g = ModelGraph(m, (X, D))
    assert params_after(g, pruned.prunekit_plan.widths) == prunekit.count_params(pruned)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"width": 0}, "positive"),
        ({"width": -3}, "positive"),
        ({"width": 999}, "larger than"),
        ({"keep": 0.0}, "(0, 1]"),
        ({"keep": 1.5}, "(0, 1]"),
        ({}, "exactly one"),
    ],
)
def test_bad_budgets(kwargs, message):
    with pytest.raises(BadInput, match=message.replace("(", r"\(").replace("]", r"\]")):
        prunekit.prune(TwoHeadField(width=32), (X, D), **kwargs)


def test_bad_names_list_the_choices():
    with pytest.raises(prunekit.PrunekitError, match="unknown scorer 'nope'; choose one of: .*w_out"):
        prunekit.prune(TwoHeadField(width=32), (X, D), scorer="nope", width=8)
    with pytest.raises(prunekit.PrunekitError, match="unknown selector 'nope'; choose one of: .*coreset"):
        prunekit.prune(TwoHeadField(width=32), (X, D), selector="nope", width=8)


def test_plan_json_round_trip_and_apply_gives_the_same_model(tmp_path):
    m = TwoHeadField(width=64)
    pruned = prunekit.prune(m, (X, D), scorer="product", selector="coreset", width=32, seed=3)
    plan = pruned.prunekit_plan
    plan.save(tmp_path / "plan.json")
    again = prunekit.Plan.load(tmp_path / "plan.json")
    assert again.to_dict() == plan.to_dict()
    rebuilt = prunekit.apply(m, again, (X, D))
    for (n1, a), (n2, b) in zip(pruned.state_dict().items(), rebuilt.state_dict().items()):
        assert n1 == n2 and torch.equal(a, b)
    prunekit.apply(m, again, (X, D), refit=True)
    assert again.to_dict() == plan.to_dict()  # applying records the refit in the result's plan, not the caller's


def test_tampered_plan_is_rejected(tmp_path):
    plan = prunekit.plan(TwoHeadField(width=32), (X, D), width=8, selector="topk")
    data = plan.to_dict()
    data["layers"]["feat"]["kept"] = [5, 3]
    (tmp_path / "p.json").write_text(json.dumps(data))
    with pytest.raises(CheckpointError, match="sorted distinct"):
        prunekit.Plan.load(tmp_path / "p.json")


@pytest.mark.parametrize("factory", [lambda: TwoHeadField(width=64), ResidualMLP])
def test_save_load_round_trip(tmp_path, factory):
    m = factory()
    inputs = (X, D) if isinstance(m, TwoHeadField) else (torch.randn(16, 10),)
    pruned = prunekit.prune(m, inputs, width=16, selector="topk")
    path = prunekit.save(pruned, tmp_path / "model.safetensors")
    with pytest.raises(CheckpointError, match="--trust"):  # a class no plug-in registers is not imported
        prunekit.load(path)
    loaded = prunekit.load(path, cls=type(m))
    assert type(loaded) is type(m) and type(prunekit.load(path, trust=True)) is type(m)
    assert output_error(pruned, loaded, inputs) == 0.0
    assert loaded.prunekit_plan.to_dict() == pruned.prunekit_plan.to_dict()


def test_truncated_and_mismatched_checkpoints(tmp_path):
    pruned = prunekit.prune(TwoHeadField(width=32), (X, D), width=8, selector="topk")
    path = prunekit.save(pruned, tmp_path / "m.safetensors")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        prunekit.load(path, cls=TwoHeadField)
    path.write_bytes(data)
    desc = json.loads(path.with_suffix(".json").read_text())
    desc["shapes"]["feat.weight"] = [9, 9]
    path.with_suffix(".json").write_text(json.dumps(desc))
    with pytest.raises(CheckpointError, match="feat.weight"):
        prunekit.load(path, cls=TwoHeadField)
    desc["class"] = "os:system"
    path.with_suffix(".json").write_text(json.dumps(desc))
    with pytest.raises(CheckpointError, match="--trust"):
        prunekit.load(path)
    with pytest.raises(CheckpointError, match="not an nn.Module"):
        prunekit.load(path, trust=True)


def test_refit_reduces_the_output_error():
    torch.manual_seed(1)
    m = TwoHeadField(width=64)
    calib = (torch.randn(2048, 3), torch.randn(2048, 3))
    held_out = (torch.randn(1024, 3), torch.randn(1024, 3))
    plain = prunekit.prune(m, (X, D), selector="coreset", width=32, calibration=calib)
    refit = prunekit.prune(m, (X, D), selector="coreset", width=32, calibration=calib, refit=True)
    assert output_error(m, refit, held_out) < 0.7 * output_error(m, plain, held_out)


def test_gradient_scorers_differentiate_the_loss_they_are_given():
    """|a · dL/da| averaged over rows, with L = sum of the outputs: dL/da_j = Σ_i W_proj[i, j] = 0, 2, 1
    for W_proj = [[1, 2, .5], [-1, 0, .5]]; activations [1, 0, 1], [0, 2, 2], [3, 1, 4] → 0, 2, 7/3."""
    from mlps import three_unit_layer

    class Gradient(ScorerBase):
        name, needs_calibration, needs_gradients = "a_grad", True, True

        def score(self, layer, calibration=None):
            return (calibration.activations * calibration.gradients).abs().mean(0)

    model, x = three_unit_layer()
    plan = prunekit.plan(model, (x,), scorer=Gradient(), selector="topk", width=2, loss=lambda out, inputs: out.sum())
    assert plan.layers["fc"].scores == pytest.approx([0.0, 2.0, 7 / 3])
    energy = prunekit.plan(model, (x,), scorer=Gradient(), selector="topk", width=2)  # the default loss differs
    assert energy.layers["fc"].scores != pytest.approx([0.0, 2.0, 7 / 3])
