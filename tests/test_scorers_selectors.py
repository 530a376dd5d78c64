import pytest
import torch
from mlps import TwoHeadField
from torch import nn

import prunekit as pk
from prunekit import plugins
from prunekit.calibration import calibrate
from prunekit.graph import ModelGraph
from prunekit.selectors import inclusion_probabilities, systematic_sample


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(2, 3)
        self.b = nn.Linear(2 + 3, 2)

    def forward(self, x):
        return self.b(torch.cat([x, self.a(x).relu()], -1))


@pytest.fixture
def tiny():
    m = Tiny()
    with torch.no_grad():
        m.a.weight.copy_(torch.tensor([[1.0, -1.0], [0.5, 0.5], [0.0, 4.0]]))
        m.a.bias.fill_(100.0)  # never part of a weight score
        m.b.weight.copy_(torch.tensor([[9.0, 9.0, 1.0, 2.0, 3.0], [9.0, 9.0, -1.0, 0.0, 5.0]]))
    return m, ModelGraph(m, (torch.randn(4, 2),)).layers["a"]


def test_weight_scorers(tiny):
    _, layer = tiny
    w_in = plugins.get_scorer("w_in").score(layer)
    w_out = plugins.get_scorer("w_out").score(layer)
    assert torch.allclose(w_in, torch.tensor([1.0, 0.5, 2.0]))
    assert torch.allclose(w_out, torch.tensor([1.0, 1.0, 4.0]))  # columns 2..4: the concat offset
    assert torch.allclose(plugins.get_scorer("product").score(layer), w_in * w_out)


def test_activation_scorer_reads_what_consumers_read(tiny):
    m, _ = tiny
    x = torch.randn(50, 2)
    g = ModelGraph(m, (x,))
    calib = calibrate(g, (x,))["a"]
    expected = m.a(x).relu().abs().mean(0)
    assert torch.allclose(plugins.get_scorer("activation").score(g.layers["a"], calib), expected)


def test_random_scorer_is_seeded_through_prune():
    import prunekit

    m, x = TwoHeadField(width=32), (torch.randn(8, 3), torch.randn(8, 3))
    p1 = prunekit.plan(m, x, scorer="random", selector="topk", width=8, seed=1)
    p2 = prunekit.plan(m, x, scorer="random", selector="topk", width=8, seed=1)
    p3 = prunekit.plan(m, x, scorer="random", selector="topk", width=8, seed=2)
    assert p1.to_dict() == p2.to_dict() != p3.to_dict()


def test_topk_and_uniform(tiny):
    _, layer = tiny
    scores = torch.tensor([0.1, 5.0, 0.3, 4.0, 0.2])
    idx, scales = plugins.get_selector("topk").select(scores, 2, layer, torch.Generator().manual_seed(0))
    assert idx.tolist() == [1, 3] and scales is None
    uni = plugins.get_selector("uniform")
    a = uni.select(scores, 3, layer, torch.Generator().manual_seed(5))[0]
    b = uni.select(scores, 3, layer, torch.Generator().manual_seed(5))[0]
    assert a.tolist() == b.tolist() and len(set(a.tolist())) == 3


def test_inclusion_probabilities_cap_and_sum():
    s = torch.tensor([100.0, 1.0, 1.0, 2.0, 0.0, 4.0])
    pi = inclusion_probabilities(s, 3)
    assert pi[0] == 1.0 and torch.isclose(pi.sum(), torch.tensor(3.0, dtype=pi.dtype))
    assert (pi <= 1).all() and (pi > 0).all()
    assert torch.allclose(pi[1:] / pi[1:].sum(), (s[1:] / s[1:].sum()).double(), atol=1e-6)


def test_coreset_is_exact_k_and_unbiased():
    torch.manual_seed(0)
    scores = torch.rand(40) ** 2
    values = torch.randn(40)  # a neuron's contribution to the next layer
    pi = inclusion_probabilities(scores, 10)
    g = torch.Generator().manual_seed(0)
    counts = torch.zeros(40)
    estimates = []
    coreset = plugins.get_selector("coreset")
    for _ in range(4000):
        idx, scales = coreset.select(scores, 10, None, g)
        assert len(idx) == 10 and len(set(idx.tolist())) == 10
        assert torch.allclose(scales.double(), 1 / pi[idx])
        counts[idx] += 1
        estimates.append(float((values[idx] * scales).sum()))
    assert torch.allclose(counts / 4000, pi.float(), atol=0.03)  # each neuron kept with probability pi
    mean = torch.tensor(estimates).mean()
    assert abs(float(mean) - float(values.sum())) < 4 * torch.tensor(estimates).std() / 4000**0.5


def test_systematic_sample_with_certain_units():
    pi = torch.tensor([1.0, 1.0, 0.5, 0.5], dtype=torch.float64)
    for seed in range(20):
        idx = systematic_sample(pi, torch.Generator().manual_seed(seed))
        assert {0, 1} <= set(idx.tolist()) and len(set(idx.tolist())) == 3


def test_torch_pruning_magnitude_ranks_as_its_formula_and_every_tp_scorer_prunes_a_field():
    """tp.magnitude (group L2) of a hidden neuron: the squared weights of its row in the layer that makes it
    plus of its column in the layer that reads it; the ranking must be that sum's, worked out here."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 6, bias=False), nn.ReLU(), nn.Linear(6, 2, bias=False))
    x = torch.randn(8, 5)
    plan = pk.plan(model, x, scorer="tp.magnitude", selector="topk", width=3)
    by_hand = model[0].weight.pow(2).sum(1) + model[2].weight.pow(2).sum(0)
    assert plan.layers["0"].kept == sorted(by_hand.argsort(descending=True)[:3].tolist())
    field = TwoHeadField(width=16)
    inputs = (torch.randn(32, 3), torch.nn.functional.normalize(torch.randn(32, 3), dim=-1))
    for scorer in ("tp.magnitude", "tp.l1", "tp.lamp", "tp.fpgm", "tp.taylor", "tp.hessian"):
        pruned = pk.prune(field, inputs, scorer=scorer, selector="topk", width=8)  # verified inside
        assert pruned.prunekit_plan.widths["layers.0"] == 8 and pruned.prunekit_plan.info["scorer"] == scorer


def test_torch_pruning_hessian_weighs_squared_weights_by_the_per_sample_fisher():
    """tp.hessian of a hidden neuron: Σ w² · F over its row in the layer that makes it and its column in the
    layer that reads it, F the mean over calibration samples of the squared gradient of each sample's output
    energy 0.5·|y|² (8 samples, fewer than the 64 slices asked: one sample per slice)."""
    torch.manual_seed(3)  # a case where this ranking differs from the whole batch's squared gradient's and
    model = nn.Sequential(nn.Linear(5, 6, bias=False), nn.ReLU(), nn.Linear(6, 2, bias=False))  # magnitude's
    x = torch.randn(8, 5)
    fisher = [torch.zeros_like(model[0].weight), torch.zeros_like(model[2].weight)]
    for sample in x:
        y = model(sample[None])
        grads = torch.autograd.grad(0.5 * y.pow(2).sum(), [model[0].weight, model[2].weight])
        fisher = [f + g.pow(2) / len(x) for f, g in zip(fisher, grads)]
    by_hand = (model[0].weight.pow(2) * fisher[0]).sum(1) + (model[2].weight.pow(2) * fisher[1]).sum(0)
    plan = pk.plan(model, x, scorer="tp.hessian", selector="topk", width=3, calibration=x)
    assert plan.layers["0"].kept == sorted(by_hand.argsort(descending=True)[:3].tolist())
    assert all(p.grad is None for p in model.parameters())  # the plan leaves no gradients behind
