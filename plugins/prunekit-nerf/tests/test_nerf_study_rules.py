"""The NeRF target's share of the study's rules: its collapse rule, the test views it scores (spread,
named) and the splits and factors of its scenes."""

import pytest
import torch
from cli import assert_one_line_error, prunekit

from prunekit.target import RunOptions


def test_the_one_db_margin_of_the_collapse_rule():
    from prunekit_nerf.evaluation import collapsed

    healthy = {"opacity": 0.4, "spread_ratio": 1.0, "floor": 10.0}
    assert collapsed({**healthy, "psnr": 10.99})  # within 1 dB of a constant colour
    assert not collapsed({**healthy, "psnr": 11.01})
    assert collapsed({**healthy, "psnr": 25.0, "opacity": 0.009})
    assert collapsed({**healthy, "psnr": 25.0, "spread_ratio": 0.19})


def test_views_are_spread_over_the_whole_split():
    from prunekit_nerf.evaluation import spread_indices

    assert spread_indices(200, 25) == list(range(0, 200, 8))  # every 8th official lego test view
    assert spread_indices(10, 4) == [0, 2, 5, 7]
    assert spread_indices(3, 10) == [0, 1, 2]


def test_the_official_test_views_scored_are_spread_and_named(lego_official_100):
    from prunekit_nerf.presets import PRESETS
    from prunekit_nerf.task import NerfTask

    root = lego_official_100
    assert PRESETS["study"].max_test_views == 25
    task = NerfTask(RunOptions(data=root, preset="smoke"))  # 2 test views: the first and the 101st
    assert task.views["test"].names == ["r_0.png", "r_100.png"]


def test_every_score_names_its_views():
    from prunekit_nerf.task import NerfTask

    class Grey(torch.nn.Module):
        def forward(self, x, d):
            return torch.full((len(x), 3), 0.5), torch.full((len(x), 1), 1.0)

    task = NerfTask(RunOptions(preset="smoke"))
    metrics = task.evaluate({"coarse": Grey(), "fine": Grey()}).metrics
    assert metrics["views"] == task.views["test"].names and len(metrics["views"]) == 2


def test_fern_holds_out_every_8th_view_for_test_and_the_views_between_for_validation(fern):
    from prunekit_nerf.data import load_scene

    scene = load_scene(fern)
    names = sorted(p.name for p in (fern / "images_8").iterdir())
    assert scene.splits["test"].names == [names[i] for i in (0, 8, 16)]
    assert scene.splits["val"].names == [names[i] for i in (4, 12)]
    assert len(scene.splits["train"].names) == 15 and scene.splits["train"].hw == (378, 504)
    assert not set(scene.splits["train"].names) & set(scene.splits["test"].names + scene.splits["val"].names)


def test_the_llff_factor_is_explicit(tmp_path):
    from prunekit_nerf.data import load_scene
    from test_nerf_reference import _write_llff_by_hand

    from prunekit.errors import BadInput

    root = _write_llff_by_hand(tmp_path / "llff")
    (root / "images_8").rename(root / "images_4")
    with pytest.raises(
        BadInput, match=r"no images_8/ folder for factor 8 \(found images_4; choose it with -O factor=N\)"
    ):
        load_scene(root)
    assert load_scene(root, factor=4).splits["train"].hw == (4, 6)


def test_target_options_are_checked_before_any_work(tmp_path):
    out = tmp_path / "r"
    run = ("run", "nerf", "--preset", "smoke", "--out", out)
    assert_one_line_error(
        prunekit(*run, "-O", "bogus=1"), "-O bogus: the nerf target has no such option (its options: factor, field)"
    )
    assert_one_line_error(prunekit(*run, "-O", "factor=eight"), "-O factor=eight: expected int")
    assert_one_line_error(prunekit(*run, "-O", "factor"), "-O expects KEY=VALUE")
    assert_one_line_error(
        prunekit("sweep", "digits", "--widths", "8", "--out", tmp_path / "s", "-O", "factor=8"),
        "the digits target has no such option (its options: none)",
    )
    assert not (out / "dense").exists()
