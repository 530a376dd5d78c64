import pytest
import torch
import torch_pruning as tp
from mlps import ResidualMLP, TwoHeadField
from torch import nn

import prunekit
from prunekit.errors import VerificationError
from prunekit.graph import ModelGraph
from prunekit.surgery import output_error, verify

X, D = torch.randn(32, 3), torch.randn(32, 3)


@pytest.mark.parametrize("module_encoding", [True, False])
def test_concat_offsets_and_heads(module_encoding):
    g = ModelGraph(TwoHeadField(module_encoding=module_encoding), (X, D))
    assert sorted(g.heads) == ["alpha", "color"]
    assert list(g.layers) == [f"layers.{i}" for i in range(8)] + ["feat", "branch"]
    # layer 4's neurons land after the 63 encoded inputs in layer 5
    (consumer,) = g.layers["layers.4"].consumers
    assert consumer.name == "layers.5" and consumer.columns.tolist() == list(range(63, 63 + 256))
    assert {c.name for c in g.layers["layers.7"].consumers} == {"feat", "alpha"}
    assert g.layers["feat"].consumers[0].columns.tolist() == list(range(256))


def test_raw_torch_pruning_misses_the_plain_code_encoding():
    """The trap prunekit works around: without it, the skip concat loses its encoded input."""
    m = TwoHeadField(module_encoding=False)
    dg = tp.DependencyGraph().build_dependency(m, example_inputs=(X, D), forward_fn=lambda m, xs: m(*xs), verbose=False)
    cat = [n for n in dg.module2node.values() if n.type == tp.ops.OPTYPE.CONCAT]
    assert any(len(n.inputs) < 2 for n in cat)
    ours = ModelGraph(TwoHeadField(module_encoding=False), (X, D)).dg
    assert all(len(n.inputs) >= 2 for n in ours.module2node.values() if n.type == tp.ops.OPTYPE.CONCAT)


def test_verify_catches_a_wrong_model():
    m = TwoHeadField()
    pruned = prunekit.prune(m, (X, D), scorer="w_out", selector="topk", width=64)
    with torch.no_grad():
        pruned.layers[5].weight[:, 70] += 1.0  # a mis-mapped column would look like this
    with pytest.raises(VerificationError):
        verify(m, pruned, pruned.prunekit_plan, (X, D))


def test_black_box_nerf_shaped_mlp_half_zeroed():
    """The issue's check: half of every layer's outgoing weights zeroed, w_out + topk at width 128."""
    for module_encoding in (True, False):
        m = TwoHeadField(module_encoding=module_encoding)
        g = ModelGraph(m, (X, D))
        with torch.no_grad():
            for layer in g.layers.values():
                dead = torch.randperm(layer.width)[: layer.width // 2]
                for c in layer.consumers:
                    c.module.weight[:, c.columns[dead]] = 0
        x, d = torch.randn(500, 3), torch.randn(500, 3)
        pruned = prunekit.prune(m, (X, D), scorer="w_out", selector="topk", width=128)
        assert prunekit.count_params(pruned) == 158_660
        assert output_error(m, pruned, (x, d)) <= 1e-5


def test_residual_layers_are_coupled():
    m = ResidualMLP()
    x = torch.randn(64, 10)
    g = ModelGraph(m, (x,))
    stream = [layer for layer in g.layers.values() if len(layer.members) > 1]
    assert len(stream) == 1 and {mm.name for mm in stream[0].members} == {"stem", "down.0", "down.1"}
    pruned = prunekit.prune(m, (x,), scorer="w_in", selector="topk", width=16)
    assert pruned.stem.out_features == pruned.down[1].out_features == pruned.head.in_features == 8
    assert pruned.up[0].out_features == 16


def test_model_without_prunable_layer():
    with pytest.raises(prunekit.PrunekitError, match="no prunable layer"):
        prunekit.prune(nn.Sequential(nn.Linear(4, 2)), (torch.randn(3, 4),), width=1)


def test_a_bias_free_consumer_on_sequences_is_prunable_and_a_hand_written_attention_is_not():
    """A linear layer on (batch, time, features) runs as view → mm → view: that product is the consumer's
    own. A product of two activations (q · kᵀ, attention written by hand) mixes neurons: refused."""
    import pytest

    from prunekit.errors import BadInput

    seq = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3, bias=False), nn.GELU(), nn.Linear(3, 2))
    x = torch.randn(2, 5, 4)
    assert list(ModelGraph(seq, (x,)).layers) == ["0", "2"]

    class HandAttention(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.q, self.k, self.out = nn.Linear(4, 8), nn.Linear(4, 8), nn.Linear(5, 2)

        def forward(self, x):
            return self.out(self.q(x) @ self.k(x).transpose(1, 2))

    with pytest.raises(BadInput, match="cannot prune q: its neurons pass through"):
        ModelGraph(HandAttention(), (x,), prunable=["q"])
