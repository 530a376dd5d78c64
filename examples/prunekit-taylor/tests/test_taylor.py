import torch
from torch import nn

import prunekit
from prunekit.calibration import calibrate
from prunekit.graph import ModelGraph


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 16)
        self.b = nn.Linear(16, 2)

    def forward(self, x):
        return self.b(self.a(x).relu())


def test_taylor_matches_a_hand_computed_gradient():
    torch.manual_seed(0)
    net, x = Net(), torch.randn(32, 4)
    scorer = prunekit.registry().get("scorer", "taylor")
    graph = ModelGraph(net, (x,))
    calib = calibrate(graph, (x,), gradients=True)["a"]
    a = net.a(x).relu().detach().requires_grad_(True)
    (0.5 * net.b(a).pow(2).sum(1).mean()).backward()
    assert torch.allclose(scorer.score(graph.layers["a"], calib), (a * a.grad).abs().mean(0), atol=1e-6)


def test_taylor_prunes_by_name():
    net = Net()
    pruned = prunekit.prune(net, (torch.randn(64, 4),), scorer="taylor", selector="topk", width=4)
    assert pruned.a.out_features == 4 and pruned.prunekit_plan.info["scorer"] == "taylor"
