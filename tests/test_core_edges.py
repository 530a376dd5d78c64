"""Core edge cases: splits and chunks, neurons read through untraced operations, forward passes that
fail after surgery, coreset scales under smooth activations, and the API's objects and defaults."""

import math

import pytest
import torch
from torch import nn

import prunekit as pk
from prunekit.errors import VerificationError
from prunekit.graph import ModelGraph
from prunekit.plugin import ScorerBase


class Chunked(nn.Module):
    """The hidden layer's first half feeds ``b``, its second half ``c``: ``b`` reads the second part."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b, self.c = nn.Linear(4, 8), nn.Linear(4, 3), nn.Linear(4, 3)

    def forward(self, x):
        first, second = torch.relu(self.a(x)).chunk(2, dim=-1)
        return self.c(first) + self.b(second)  # used in the other order than the parts


class Sliced(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(4, 8), nn.Linear(4, 3)

    def forward(self, x):
        return self.b(torch.relu(self.a(x))[:, :4])


def test_chunk_maps_each_neuron_to_the_consumer_that_reads_it():
    m = Chunked()
    layer = ModelGraph(m, torch.randn(2, 4)).layers["a"]
    columns = {c.name: c.columns.tolist() for c in layer.consumers}
    assert columns == {"c": [0, 1, 2, 3, -1, -1, -1, -1], "b": [-1, -1, -1, -1, 0, 1, 2, 3]}
    # w_out by hand: neuron i < 4 is read by c (column i), neuron i ≥ 4 by b (column i − 4)
    w_b, w_c = m.b.weight.detach(), m.c.weight.detach()
    by_hand = [w_c[:, i].abs().mean() if i < 4 else w_b[:, i - 4].abs().mean() for i in range(8)]
    plan = pk.plan(m, torch.randn(16, 4), scorer="w_out", selector="topk", width=4)
    assert plan.layers["a"].scores == pytest.approx([float(v) for v in by_hand], rel=1e-6)
    pruned = pk.prune(m, torch.randn(16, 4), scorer="w_out", selector="topk", width=4)  # verified inside
    assert pruned.b.in_features + pruned.c.in_features == 4


def test_a_neuron_read_through_slicing_leaves_its_layer_whole():
    graph = ModelGraph(Sliced(), torch.randn(2, 4))
    assert "a" not in graph.layers and "reach no traced consumer" in graph.fixed["a"]


class BadForward(nn.Module):
    """Insists on its hidden width, which surgery changes."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(4, 8), nn.Linear(8, 3)

    def forward(self, x):
        h = torch.relu(self.a(x))
        if h.shape[-1] != 8:
            raise RuntimeError(f"expected 8 hidden features, got {h.shape[-1]}")
        return self.b(h)


def test_a_forward_pass_that_fails_after_surgery_is_a_verification_error():
    with pytest.raises(VerificationError, match="forward pass failed .last layer entered: 'a'.: expected 8"):
        pk.prune(BadForward(), torch.randn(16, 4), selector="topk", width=4)


@pytest.mark.parametrize("activation", [nn.GELU(), nn.Tanh(), nn.SiLU(), nn.Sigmoid()])
def test_coreset_scales_are_the_horvitz_thompson_estimator_for_any_activation(activation):
    """One hidden layer: the pruned output must be Σ_kept w_j / π_j · f(z_j) + b, written out by hand."""
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(5, 16), activation, nn.Linear(16, 2))
    x = torch.randn(32, 5)
    pruned = pk.prune(m, x, scorer="w_out", selector="coreset", width=6, seed=3)
    lp = pruned.prunekit_plan.layers["0"]
    kept, scales = lp.kept, torch.tensor(lp.scales)
    hidden = activation(m[0](x))[:, kept]
    by_hand = hidden @ (m[2].weight[:, kept] * scales).T + m[2].bias
    assert torch.allclose(pruned(x), by_hand, atol=1e-5)


def test_api_takes_scorer_and_selector_objects():
    class Norm(ScorerBase):
        name = "norm"
        needs_calibration = False

        def score(self, layer, calibration=None):
            return layer.incoming().norm(dim=1)

    class Last:
        name = "last"

        def select(self, scores, k, layer, generator):
            return torch.arange(layer.width - k, layer.width), None

    assert isinstance(Norm(), pk.Scorer) and isinstance(Last(), pk.Selector)
    m = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    pruned = pk.prune(m, torch.randn(8, 4), scorer=Norm(), selector=Last(), width=3)
    assert pruned.prunekit_plan.layers["0"].kept == [5, 6, 7]
    assert pruned.prunekit_plan.info["scorer"] == "norm" and pruned.prunekit_plan.info["selector"] == "last"
    assert callable(pk.hookimpl) and callable(pk.plan)
    import prunekit.plans

    assert prunekit.plans.Plan is pk.Plan  # the module and the function no longer share a name


def test_plan_and_apply_agree_with_prune():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 2))
    x = torch.randn(64, 4)
    plan = pk.plan(m, x, scorer="activation", selector="topk", width=8)  # data-aware, no calibration given
    direct = pk.prune(m, x, scorer="activation", selector="topk", width=8, refit=True)
    assert plan.layers["0"].kept == direct.prunekit_plan.layers["0"].kept
    plan.info["refit"] = True
    again = pk.apply(m, plan, x)  # the plan says refit: apply refits too
    assert torch.allclose(again(x), direct(x), atol=1e-5)
    assert not torch.allclose(pk.apply(m, plan, x, refit=False)(x), direct(x), atol=1e-3)


def test_hand_worked_w_out_on_a_concatenation_is_unchanged():
    """A skip concatenation: the neuron's column sits after the skipped input's 3 columns."""

    class Skip(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = nn.Linear(3, 4), nn.Linear(7, 2)

        def forward(self, x):
            return self.b(torch.cat([x, torch.relu(self.a(x))], dim=-1))

    m = Skip()
    scores = pk.plan(m, torch.randn(4, 3), scorer="w_out", selector="topk", width=2).layers["a"].scores
    w = m.b.weight.detach()
    assert scores == pytest.approx([float(w[:, 3 + i].abs().mean()) for i in range(4)])
    assert not any(math.isnan(s) for s in scores)


def test_data_aware_sensitivity_by_hand():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2))
    x = torch.randn(64, 4)
    scores = pk.plan(m, x, scorer="act_w_out", selector="topk", width=4).layers["0"].scores
    with torch.no_grad():
        by_hand = torch.relu(x @ m[0].weight.T + m[0].bias).abs().mean(0) * m[2].weight.abs().mean(0)
    assert scores == pytest.approx(by_hand.tolist(), rel=1e-5)
