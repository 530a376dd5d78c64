"""Scoring + selection + surgery + verification of a coarse + fine pair of vanilla NeRF MLPs to half the
parameters, graph building included. Prints seconds and the ratio to raw torch-pruning graph building.

    python bench/prune_speed.py [--selector coreset] [--repeats 5] [--out bench/results/prune_speed.json]
"""

from __future__ import annotations

import argparse

import torch
import torch_pruning as tp
from common import add_out, cpu_model, median_time, save
from prunekit_nerf.field import NeRFField

import prunekit


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--selector", default="coreset")
    ap.add_argument("--scorer", default="w_out")
    ap.add_argument("--repeats", type=int, default=5)
    add_out(ap, "prune_speed")
    args = ap.parse_args()
    torch.manual_seed(0)
    models = {"coarse": NeRFField(), "fine": NeRFField()}
    inputs = (torch.randn(64, 3), torch.nn.functional.normalize(torch.randn(64, 3), dim=-1))

    def prune_pair():
        return {
            n: prunekit.prune(m, inputs, scorer=args.scorer, selector=args.selector, keep=0.5)
            for n, m in models.items()
        }

    def raw_graphs():
        for m in models.values():
            tp.DependencyGraph().build_dependency(
                m, example_inputs=inputs, forward_fn=lambda m, xs: m(*xs), verbose=False
            )

    pruned = prune_pair()
    ours = median_time(prune_pair, args.repeats)
    raw = median_time(raw_graphs, args.repeats)
    dense_params = sum(prunekit.count_params(m) for m in models.values())
    pruned_params = sum(prunekit.count_params(m) for m in pruned.values())
    print(f"cpu: {cpu_model()}, {torch.get_num_threads()} threads")
    print(
        f"pair of NeRF MLPs: {dense_params:,} -> {pruned_params:,} parameters ({args.scorer}/{args.selector}, keep 0.5)"
    )
    print(f"prunekit prune (graph + score + select + surgery + verify), both models: {ours * 1e3:.1f} ms")
    print(f"raw torch-pruning dependency graphs alone, both models:                {raw * 1e3:.1f} ms")
    print(
        f"ratio prunekit / raw graph building: {ours / raw:.2f}; goal <= 100 ms: {'met' if ours <= 0.1 else 'missed'}"
    )
    settings = {"scorer": args.scorer, "selector": args.selector, "keep": 0.5, "repeats": args.repeats}
    save(args.out, settings, params={"dense": dense_params, "pruned": pruned_params}, prunekit_seconds=ours,
         raw_graph_seconds=raw)  # fmt: skip


if __name__ == "__main__":
    main()
