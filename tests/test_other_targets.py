"""Targets that are not NeRF, the example scorer package and the user-model example, through the real CLI."""

import subprocess
import sys
from pathlib import Path

import pytest
from cli import prunekit, report

ROOT = Path(__file__).resolve().parents[1]


def test_digits_issue_command(tmp_path):
    out = tmp_path / "digits"
    proc = prunekit("run", "digits", "--scorer", "w_out", "--selector", "coreset", "--width", "32", "--out", out)
    assert proc.returncode == 0, proc.stderr
    r = report(out)
    for stage in ("dense", "pruned"):
        assert {"params", "size_mb", "widths", "sec_per_iter", "accuracy"} <= set(r[stage])
    assert r["pruned"]["params"] < r["dense"]["params"]
    assert r["pruned"]["widths"]["mlp"] == [32, 32, 10]
    assert 0.1 < r["dense"]["accuracy"] <= 1.0


def test_photo_regression_target(tmp_path):
    out = tmp_path / "photo"
    proc = prunekit("run", "photo", "--keep", "0.3", "--selector", "topk", "--out", out)
    assert proc.returncode == 0, proc.stderr
    r = report(out)
    assert r["headline"] == "psnr" and r["pruned"]["params"] < r["dense"]["params"]
    assert (out / "renders" / "photo_gt_dense_pruned.png").exists()


def test_third_party_scorer_is_listed_and_used_by_name(tmp_path):
    listing = prunekit("plugins", "--json")
    assert '"taylor"' in listing.stdout and "prunekit-taylor" in listing.stdout
    out = tmp_path / "taylor"
    proc = prunekit("run", "digits", "--scorer", "taylor", "--selector", "topk", "--width", "16", "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert report(out)["scorer"] == "taylor"


def test_prune_your_mlp_example(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "prune_your_mlp.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "parameters: 35,458 -> " in proc.stdout and "identical outputs = True" in proc.stdout
    assert (tmp_path / "my_mlp_pruned.safetensors").exists() and (tmp_path / "my_mlp_pruned.json").exists()


@pytest.mark.parametrize("target", ["digits", "photo"])
def test_targets_reject_data(tmp_path, target):
    proc = prunekit("run", target, "--data", tmp_path, "--out", tmp_path / "o")
    assert proc.returncode == 2 and "does not use --data" not in proc.stderr.lower() or "not used" in proc.stderr
