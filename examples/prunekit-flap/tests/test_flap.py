"""FLAP's fluctuation metric on a 3-unit layer, against scores worked out by hand."""

import pytest
from mlps import three_unit_layer

import prunekit


def test_flap_scores_a_three_unit_layer_as_worked_by_hand():
    model, x = three_unit_layer()
    plan = prunekit.plan(model, (x,), scorer="flap", selector="topk", width=2)
    # hidden activations [1, 0, 1], [0, 2, 2], [3, 1, 4]: sample variances (n - 1) 7/3, 1, 7/3;
    # squared column norms of [[1, 2, .5], [-1, 0, .5]]: 2, 4, 0.5
    assert plan.layers["fc"].scores == pytest.approx([14 / 3, 4.0, 7 / 6], rel=1e-6)
    assert plan.layers["fc"].kept == [0, 1]
