"""Widths rounded to multiples of N (``round_to``): what fast matrix kernels want, still within the budget."""

import pytest
import torch
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


# --- --round-to auto: the multiple measured per device (faked here, never timed), the budget within 1 % ---


def test_the_measurement_prefers_the_multiple_a_faked_kernel_runs_fastest():
    from prunekit.alignment import measure

    def aligned_is_faster(width, device):  # a kernel that runs a weight 1.5x as long off multiples of 16
        return 1.0 if width % 16 == 0 else 1.5

    found = measure(torch.device("cpu"), aligned_is_faster)
    # probes 88, 120, 175, 200 are off 16; rounded to 16, 32 or 64 every one lands on a multiple of 16
    # (2/3 of the time), to 8 only 175 does: (1 · 1 · 2/3 · 1)^(1/4) = 0.904, not within 0.02 of the best
    assert found["ratios"][16] == pytest.approx(2 / 3) and found["ratios"][8] == pytest.approx((2 / 3) ** 0.25)
    assert found["preferred"] == 16  # the smallest of the equally fast
    assert measure(torch.device("cpu"), lambda width, device: 1.0)["preferred"] == 1  # rounding does not help


@pytest.mark.parametrize(
    "width, settled",
    [
        (96, 16),  # already a multiple of 16: the same parameters
        # 100 → 96 (16) has 10,273 parameters, 104 (8) 11,961, against 11,101 exact: both beyond 1 %; 100 (4) is exact
        (100, 4),
        (175, 1),  # 176 (any multiple up to 16) adds 362 of 32,551 parameters, 1.1 %: exact widths
    ],
)
def test_auto_rounds_within_one_percent_of_the_budget_or_not_at_all(monkeypatch, width, settled):
    from prunekit import alignment
    from prunekit.budget import settle
    from prunekit.graph import ModelGraph

    monkeypatch.setattr(alignment, "preferred_multiple", lambda device: 16)
    model = torch.nn.Sequential(
        torch.nn.Linear(8, 256), torch.nn.ReLU(), torch.nn.Linear(256, 256), torch.nn.ReLU(), torch.nn.Linear(256, 1)
    )
    graph = ModelGraph(model, (torch.randn(16, 8),))
    assert settle(graph, Budget(width=width, round_to="auto")).round_to == settled


def test_auto_on_the_command_line_shows_the_widths_asked_for_and_built(tmp_path):
    import json

    from conftest import cli_env
    from prunekit.measured import key

    cache = tmp_path / "cache"
    (cache / "prunekit").mkdir(parents=True)
    (cache / "prunekit" / "measured.json").write_text(
        json.dumps({key(torch.device("cpu")): {"round_to": {"preferred": 16}}})
    )
    env = {**cli_env(), "XDG_CACHE_HOME": str(cache)}  # a machine whose kernels prefer multiples of 16
    common = ("run", "fake", "--preset", "smoke", "--iters", "2", "--keep", "0.6")
    assert prunekit(*common, "--round-to", "1", "--out", tmp_path / "exact", env=env).returncode == 0
    proc = prunekit(*common, "--out", tmp_path / "auto", env=env)  # auto: the run's default
    assert proc.returncode == 0, proc.stderr
    exact, auto = report(tmp_path / "exact"), report(tmp_path / "auto")
    assert "rounding" not in exact and auto["budget"] == {"keep": 0.6, "round_to": "auto"}
    # worked by hand: model a (8 → k → k → 1, k² + 11k + 1 parameters) keeps 0.6 of 4,801 at k = 48, a
    # multiple of 16; model b (8 → j → 1, 10j + 1) at j = 19, where 16, 20 (4) or 20 (2) move it over 1 %
    assert {n: r["multiple"] for n, r in auto["rounding"].items()} == {"a": 16, "b": 1}
    for name, r in auto["rounding"].items():
        assert all(w % r["multiple"] == 0 for w in r["built"].values())
        assert r["asked"] == {layer: len(kept) for layer, kept in _kept(tmp_path / "exact", name).items()}
    assert abs(auto["pruned"]["params"] - exact["pruned"]["params"]) <= 0.01 * exact["pruned"]["params"]
    assert "Widths asked for by the budget and built" in (tmp_path / "auto" / "report.md").read_text()
    assert_one_line_error(prunekit(*common, "--round-to", "fast", "--out", tmp_path / "x"), "--round-to must be")


def _kept(run, name):
    import json

    description = json.loads((run / "pruned" / f"{name}.json").read_text())
    return {layer: lp["kept"] for layer, lp in description["plan"]["layers"].items()}


def test_measuring_the_device_leaves_the_random_stream_as_it_was(tmp_path, monkeypatch):
    from prunekit import alignment

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # nothing cached: the device is measured
    monkeypatch.setattr(alignment, "measure", lambda device: (torch.randn(8), {"ratios": {}, "preferred": 16})[1])
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    assert alignment.preferred_multiple(torch.device("cpu")) == 16
    assert torch.equal(torch.rand(3), expected)  # what a coreset or a batch draws next is unchanged
