"""Widths rounded to multiples of N (``round_to``): what fast matrix kernels want, still within the budget."""

import pytest
import torch
from cli import assert_one_line_error, prunekit, report
from prunekit_nerf.field import NeRFField

import prunekit as pk
from prunekit.budget import Budget, aligned
from prunekit.errors import BadInput


def field_inputs(n=64):
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, 3, generator=g), torch.randn(n, 3, generator=g)


def linear_widths(model):
    return [m.out_features for m in model.modules() if isinstance(m, torch.nn.Linear)]


@pytest.mark.parametrize(
    ("k", "width", "q", "expected"),
    [(175, 256, 16, 176), (88, 128, 16, 96), (5, 256, 16, 16), (250, 250, 16, 250), (3, 2, 8, 2), (175, 256, 1, 175)],
)
def test_aligned(k, width, q, expected):
    assert aligned(k, width, q) == expected


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


def test_bad_round_to(tmp_path):
    with pytest.raises(BadInput, match="--round-to"):
        Budget(width=64, round_to=0)
    assert_one_line_error(prunekit("run", "digits", "--round-to", "0", "--out", tmp_path / "r"), "--round-to")


def test_cli_round_to(tmp_path):
    proc = prunekit("run", "digits", "--width", "30", "--round-to", "16", "--iters", "5", "--out", tmp_path / "r")
    assert proc.returncode == 0, proc.stderr
    assert report(tmp_path / "r")["pruned"]["widths"]["mlp"] == [32, 32, 10]
