"""Wanda-sp on a 3-unit layer, against scores worked out by hand."""

import math

import pytest
from mlps import three_unit_layer

import prunekit


def test_wanda_sp_scores_a_three_unit_layer_as_worked_by_hand():
    model, x = three_unit_layer()
    plan = prunekit.plan(model, (x,), scorer="wanda_sp", selector="topk", width=2)
    # hidden activations [1, 0, 1], [0, 2, 2], [3, 1, 4]: column norms √10, √5, √21;
    # |outgoing weights| of [[1, 2, .5], [-1, 0, .5]] summed per column: 2, 2, 1
    assert plan.layers["fc"].scores == pytest.approx([2 * math.sqrt(10), 2 * math.sqrt(5), math.sqrt(21)], rel=1e-6)
    assert plan.layers["fc"].kept == [0, 2]  # 6.32 and 4.58 beat 4.47
