"""Widths rounded to multiples of N (``round_to``): what fast matrix kernels want, still within the budget."""

import pytest
from cli import assert_one_line_error, prunekit, report

from prunekit.budget import Budget, aligned
from prunekit.errors import BadInput


@pytest.mark.parametrize(
    ("k", "width", "q", "expected"),
    [(175, 256, 16, 176), (88, 128, 16, 96), (5, 256, 16, 16), (250, 250, 16, 250), (3, 2, 8, 2), (175, 256, 1, 175)],
)
def test_aligned(k, width, q, expected):
    assert aligned(k, width, q) == expected


def test_bad_round_to(tmp_path):
    with pytest.raises(BadInput, match="--round-to"):
        Budget(width=64, round_to=0)
    assert_one_line_error(prunekit("run", "digits", "--round-to", "0", "--out", tmp_path / "r"), "--round-to")


def test_cli_round_to(tmp_path):
    proc = prunekit("run", "digits", "--width", "30", "--round-to", "16", "--iters", "5", "--out", tmp_path / "r")
    assert proc.returncode == 0, proc.stderr
    assert report(tmp_path / "r")["pruned"]["widths"]["mlp"] == [32, 32, 10]
