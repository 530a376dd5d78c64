"""Retraining against the dense model (``--distill``): reported, changing only the retraining, bounded."""

import pytest
from cli import assert_one_line_error, prunekit, report


def test_distill_changes_retraining_and_is_reported(tmp_path):
    common = ("run", "digits", "--selector", "topk", "--width", "16", "--iters", "20")
    plain = prunekit(*common, "--out", tmp_path / "plain")
    taught = prunekit(*common, "--distill", "0.7", "--out", tmp_path / "taught")
    assert plain.returncode == 0 and taught.returncode == 0, taught.stderr
    a, b = report(tmp_path / "plain"), report(tmp_path / "taught")
    assert a["distill"] == 0 and b["distill"] == 0.7
    assert a["dense"]["accuracy"] == b["dense"]["accuracy"]  # same dense model and the same cut
    assert a["pruned_before_retrain"]["test_loss"] == b["pruned_before_retrain"]["test_loss"]
    assert a["pruned"]["test_loss"] != b["pruned"]["test_loss"]  # only the retraining loss differs
    assert "distill 0.7" in (tmp_path / "taught" / "report.md").read_text()


@pytest.mark.parametrize("value", ["1.5", "-0.1"])
def test_distill_out_of_range(tmp_path, value):
    assert_one_line_error(
        prunekit("run", "digits", "--distill", value, "--out", tmp_path / "r"), "--distill must be in [0, 1]"
    )
