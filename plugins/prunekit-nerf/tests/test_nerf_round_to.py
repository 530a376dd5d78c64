"""Widths rounded to multiples of N on the NeRF field: the study's 288K budget, kept within the budget."""

import torch
from prunekit_nerf.field import NeRFField

import prunekit as pk


def field_inputs(n=64):
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, 3, generator=g), torch.randn(n, 3, generator=g)


def linear_widths(model):
    return [m.out_features for m in model.modules() if isinstance(m, torch.nn.Linear)]


def test_keep_with_round_to_16_on_the_nerf_field():
    torch.manual_seed(0)
    dense = NeRFField()
    exact = pk.prune(dense, field_inputs(), selector="topk", keep=0.483)
    rounded = pk.prune(dense, field_inputs(), selector="topk", keep=0.483, round_to=16)
    assert linear_widths(exact)[:8] == [175] * 8  # the study's "288K" budget
    trunk, view = linear_widths(rounded)[:8], linear_widths(rounded)[-2]
    assert all(w % 16 == 0 for w in trunk) and view % 16 == 0
    target = 0.483 * pk.count_params(dense)
    assert abs(pk.count_params(rounded) - target) / target < 0.03  # the nearest aligned budget
    assert rounded.prunekit_plan.info["budget"] == {"keep": 0.483, "round_to": 16}


def test_global_allocation_rounds_every_layer():
    torch.manual_seed(0)
    pruned = pk.prune(NeRFField(), field_inputs(), selector="topk", keep=0.4, allocation="global", round_to=8)
    widths = linear_widths(pruned)
    assert all(w % 8 == 0 for w in widths[:8] + [widths[-2]])
