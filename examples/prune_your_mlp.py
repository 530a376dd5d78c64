"""Prune an MLP prunekit has never seen — with a skip concatenation and a residual sum — in a few lines.

Run: python examples/prune_your_mlp.py [output directory]
"""

import sys
import tempfile
from pathlib import Path

import torch
from torch import nn

import prunekit
from prunekit.surgery import output_error


class MyMLP(nn.Module):
    def __init__(self, d_in: int = 8, width: int = 128, d_out: int = 2) -> None:
        super().__init__()
        self.config = {"d_in": d_in, "width": width, "d_out": d_out}  # lets prunekit.load rebuild it
        self.inp = nn.Linear(d_in, width)
        self.mid = nn.Linear(width + d_in, width)  # reads cat([x, h]): a skip concatenation
        self.res = nn.Linear(width, width)
        self.out = nn.Linear(width, d_out)

    def forward(self, x):
        h = torch.relu(self.inp(x))
        h = torch.relu(self.mid(torch.cat([x, h], dim=-1)))
        h = h + torch.relu(self.res(h))  # a residual sum couples mid and res
        return self.out(h)


def main(out_dir: Path) -> None:
    torch.manual_seed(0)
    model = MyMLP()
    x = torch.randn(4096, 8)
    y = torch.stack([x[:, :4].sum(1).sin(), x[:, 4:].prod(1).tanh()], 1)
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    for _ in range(300):  # a quick fit, so that pruning has something to lose
        opt.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        opt.step()

    pruned = prunekit.prune(
        model, (x[:64],), scorer="w_out", selector="topk", width=48, calibration=(x[:2048],), refit=True
    )

    test = torch.randn(1024, 8)
    print(f"parameters: {prunekit.count_params(model):,} -> {prunekit.count_params(pruned):,}")
    print(f"relative output error vs dense: {output_error(model, pruned, (test,)):.3f}")
    path = prunekit.save(pruned, out_dir / "my_mlp_pruned.safetensors")
    again = prunekit.load(path, cls=MyMLP)  # cls= because MyMLP lives in __main__ here
    print(f"reloaded from {path.name}: identical outputs = {output_error(pruned, again, (test,)) == 0.0}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp()))
