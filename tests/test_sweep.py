"""A tiny sweep through the real CLI: two cells, smoke preset, resumable, results and plots written."""

import json

import pytest
from cli import assert_one_line_error, prunekit


def test_tiny_sweep_and_resume(tmp_path):
    out = tmp_path / "sweep"
    args = (
        "sweep",
        "fake",
        "--scorers",
        "w_out",
        "--selectors",
        "topk",
        "--widths",
        "32",
        "--seeds",
        "0",
        "--preset",
        "smoke",
        "--iters",
        "3",
        "--retrain-iters",
        "2",
        "--out",
        out,
    )
    proc = prunekit(*args)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads((out / "results.json").read_text())
    assert {(r["scorer"], r["selector"]) for r in rows} == {("random", "uniform"), ("w_out", "topk")}
    for r in rows:
        assert r["width"] == 32 and r["retrain"] == "finetune" and r["seed"] == 0 and "collapsed" in r
        for stage in ("dense", "pruned"):
            assert {"params", "size_mb", "sec_per_iter", "r2"} <= set(r[stage])
        assert r["pruned"]["params"] < r["dense"]["params"]
        assert (r["timing"]["steps"], len(r["timing"]["block_ratios"])) == (3, 3)  # smoke: one timed step a block
    assert (out / "cells" / "dense-seed0-finetune2.json").exists()  # the equal-budget dense reference
    assert "equal budget" in (out / "results.md").read_text()
    for name in ("results.md", "r2_vs_params.png", "time_vs_params.png"):
        assert (out / name).exists(), name
    cells = sorted((out / "cells").glob("*-seed0.json"))
    stamps = [c.stat().st_mtime_ns for c in cells]
    again = prunekit(*args)  # resumable: nothing recomputed
    assert again.returncode == 0 and "2 already done" in again.stderr
    assert [c.stat().st_mtime_ns for c in cells] == stamps
    # cells trained another way must not be mixed into this folder
    changed = [a if a != "2" else "5" for a in args]
    assert_one_line_error(prunekit(*changed), "other settings (retrain_iters 2 there, 5 now)")
    assert [c.stat().st_mtime_ns for c in cells] == stamps
    assert json.loads((out / "sweep.json").read_text())["retrain_iters"] == 2
    assert "Settings: " in (out / "results.md").read_text()
    # extending the sweep reuses the dense models' evaluation: the very same row, wall times included
    more = [a if a != "w_out" else "product" for a in args] + ["--no-uniform"]
    assert prunekit(*more).returncode == 0
    first, extended = (
        json.loads((out / "cells" / f"{s}-topk-width32-finetune-seed0.json").read_text()) for s in ("w_out", "product")
    )
    assert extended["dense"] == first["dense"]
    # ... unless the dense weights are not the ones it was computed from
    kept = out / "dense-seed0" / "evaluation.json"
    kept.write_text(json.dumps({**json.loads(kept.read_text()), "weights": "another model"}))
    (out / "cells" / "product-topk-width32-finetune-seed0.json").unlink()
    assert prunekit(*more).returncode == 0
    again = json.loads((out / "cells" / "product-topk-width32-finetune-seed0.json").read_text())
    assert again["dense"]["predict_seconds"] != first["dense"]["predict_seconds"]


def test_sweep_bad_input(tmp_path):
    assert_one_line_error(prunekit("sweep", "fake", "--out", tmp_path / "s"), "--widths and/or --keeps")
    assert_one_line_error(prunekit("sweep", "fake", "--widths", "a,b", "--out", tmp_path / "s"), "--widths must be")
    assert_one_line_error(
        prunekit("sweep", "fake", "--widths", "32", "--scorers", "w_out,bad", "--out", tmp_path / "s"),
        "unknown scorer 'bad'",
    )


def test_results_pair_by_seed_and_count_collapsed_runs(tmp_path):
    from prunekit.files import write_json
    from prunekit.study import write_results

    def row(seed, selector, psnr, collapsed=False):
        stage = {"params": 10, "size_mb": 4e-5, "sec_per_iter": 0.1, "psnr": psnr, "collapsed": collapsed}
        return {
            "id": f"w_out-{selector}-width8-finetune-seed{seed}",
            "target": "nerf",
            "scorer": "w_out",
            "selector": selector,
            "width": 8,
            "retrain": "finetune",
            "seed": seed,
            "headline": "psnr",
            "dense": {**stage, "params": 20, "psnr": 20.0 + seed},
            "pruned": stage,
            "collapsed": collapsed,
        }

    (tmp_path / "cells").mkdir()
    for seed in (0, 1):  # the equal-budget dense models differ by seed: 21 and 23 dB
        write_json(
            tmp_path / "cells" / f"dense-seed{seed}-plus5.json", {"seed": seed, "iters": 10, "psnr": 21 + 2 * seed}
        )
    rows = [row(0, "topk", 21.5), row(1, "topk", 23.5), row(0, "coreset", 5, True), row(1, "coreset", 5, True)]
    write_results(tmp_path, rows)
    md = (tmp_path / "results.md").read_text()
    topk = next(line for line in md.splitlines() if line.startswith("| w_out/topk"))
    assert "+0.500 [+0.500, +0.500] *" in topk  # paired: +0.5 on each seed, although the seeds' means differ by 2 dB
    coreset = next(line for line in md.splitlines() if line.startswith("| w_out/coreset"))
    # collapsed runs are kept (these name no floor, so at their own 5 dB): −16 and −18
    assert "-17.000 [" in coreset and coreset.rstrip(" |").endswith("2/2") and "nan" not in coreset


def _cell(seed, scorer, selector, psnr):
    stage = {"params": 10, "size_mb": 4e-5, "sec_per_iter": 0.1, "psnr": psnr, "collapsed": False}
    return {
        "id": f"{scorer}-{selector}-width8-finetune-seed{seed}",
        "target": "nerf",
        "scorer": scorer,
        "selector": selector,
        "width": 8,
        "retrain": "finetune",
        "seed": seed,
        "headline": "psnr",
        "dense": {**stage, "params": 20, "psnr": 20.0},
        "pruned": stage,
        "collapsed": False,
    }


def test_paired_confidence_interval_of_a_small_table():
    """Differences 1, 2, 3: mean 2, s = 1, t(0.975, 2 df) = 4.303 from the t table → 2 ± 4.303/√3."""
    from prunekit.study import paired_ci

    ci = paired_ci([1.0, 2.0, 3.0])
    assert (ci.mean, ci.n) == (2.0, 3)
    assert ci.low == pytest.approx(2 - 2.4842, abs=1e-3) and ci.high == pytest.approx(2 + 2.4842, abs=1e-3)
    assert not ci.significant and "*" not in ci.text()
    assert paired_ci([1.0, 1.1, 0.9, 1.05]).significant  # consistently positive
    assert paired_ci([0.4]).text() == "+0.40 (1 seed, no CI)"


def test_results_name_seeds_without_a_baseline_and_compare_strategies(tmp_path):
    from prunekit.files import write_json
    from prunekit.study import write_results

    (tmp_path / "cells").mkdir()
    for seed in (0, 1, 2):  # seed 3 has no equal-budget dense model
        write_json(tmp_path / "cells" / f"dense-seed{seed}-plus5.json", {"seed": seed, "iters": 10, "psnr": 20.0})
    rows = [_cell(s, "w_out", "topk", 20.0 + 0.1 * s) for s in range(4)]
    rows += [_cell(s, "w_out", "coreset", 19.0 + 0.1 * s + 0.01 * (s % 2)) for s in range(4)]
    rows += [_cell(s, "random", "uniform", 18.0) for s in range(4)]
    rows += [_cell(s, "product", "topk", 20.2 + 0.1 * s) for s in range(4)]
    write_results(tmp_path, rows)
    md = (tmp_path / "results.md").read_text()
    assert "Seeds without an equal-budget dense model: 3." in md
    topk = next(line for line in md.splitlines() if line.startswith("| w_out/topk"))
    assert "| 3 of 4 |" in topk
    # coreset − topk: −1.00, −0.99, −1.00, −0.99 on seeds 0..3 → mean −0.995, every seed lost
    versus = next(line for line in md.splitlines() if line.startswith("| width 8 | finetune | w_out/coreset | w_out/"))
    assert "-0.995 [" in versus and "*" in versus and "| 0/4 |" in versus
    scorers = next(line for line in md.splitlines() if "| product/topk | w_out/topk |" in line)
    assert "| +0.200 [+0.200, +0.200] * |" in scorers and "| 4/4 |" in scorers


def test_results_show_validation_step_ratio_and_the_cut_beside_retraining(tmp_path):
    """Two seeds, hand-worked: t(0.975, 1 df) = 12.706, so differences −0.25, +0.25 give 0 ± 3.177."""
    from prunekit.files import write_json
    from prunekit.study import write_results

    (tmp_path / "cells").mkdir()
    for seed in (0, 1):
        write_json(
            tmp_path / "cells" / f"dense-seed{seed}-plus5.json",
            {"seed": seed, "iters": 10, "psnr": 20.0, "val": {"psnr": 20.0}},
        )

    def cell(seed, selector, cut, after, val, step):
        row = _cell(seed, "w_out", selector, after)
        row["pruned"] = {**row["pruned"], "val": {"psnr": val}, "sec_per_iter": step}
        row["pruned_before_retrain"] = {"psnr": cut}
        row["quantized"] = {"psnr": after - 0.25, "mode": "int8", "size_on_disk_mb": 0.5}
        return row

    rows = [cell(0, "topk", 12.0, 20.25, 19.5, 0.05), cell(1, "topk", 13.0, 20.25, 19.7, 0.03)]
    rows += [cell(0, "coreset", 15.0, 20.0, 19.5, 0.05), cell(1, "coreset", 16.0, 20.5, 19.7, 0.03)]
    write_results(tmp_path, rows)
    md = (tmp_path / "results.md").read_text()
    topk = next(line for line in md.splitlines() if line.startswith("| w_out/topk | width 8"))
    assert "| 0.40 (0.30–0.50) |" in topk  # step ÷ dense: median (range) of 0.05/0.1 and 0.03/0.1
    assert "-0.400 [-1.671, +0.871]" in topk  # val: −0.5, −0.3 against 20.0
    assert (tmp_path / "cut_vs_retrained.png").exists()
    cut = next(line for line in md.splitlines() if "| w_out/coreset − w_out/topk |" in line)
    assert "| +3.000 [+3.000, +3.000] * | 0/4 | +0.000 [-3.177, +3.177] | 2 |" in cut
    int8 = next(line for line in md.splitlines() if line.startswith("| width 8 | finetune | w_out/topk | int8 |"))
    assert "| 0.500 | 20.000 ± 0.000 | -0.250 [-0.250, -0.250] * | 2 |" in int8
    summary = next(line for line in md.splitlines() if line.startswith("| width 8 | finetune |"))
    assert "+0.25 [+0.25, +0.25] * (n=2)" in summary  # top-k: +0.25 on both seeds


def test_trend_pairs_each_length_on_the_seeds_all_sweeps_share(tmp_path):
    """Δ at 10 it.: −1.0, −0.5 (seed 2's −3.0 has no partner at 40 it.); at 40 it.: −0.5, 0.0. With
    t(0.975, 1 df) = 12.706 and s = 0.3536, each interval is ± 3.18; the change is +0.5 on both seeds."""
    from prunekit.files import write_json

    def sweep(name, iters, deltas):
        cells = tmp_path / name / "cells"
        cells.mkdir(parents=True)
        for seed, delta in deltas.items():
            write_json(cells / f"dense-seed{seed}-plus5.json", {"seed": seed, "iters": iters, "psnr": 20.0})
            write_json(cells / f"w_out-topk-width8-finetune-seed{seed}.json", _cell(seed, "w_out", "topk", 20 + delta))
        return tmp_path / name

    long = sweep("long", 40, {0: -0.5, 1: 0.0})
    short = sweep("short", 10, {0: -1.0, 1: -0.5, 2: -3.0})
    proc = prunekit("trend", long, short, "--out", tmp_path / "trend")
    assert proc.returncode == 0, proc.stderr
    md = (tmp_path / "trend" / "trend.md").read_text()
    row = next(line for line in md.splitlines() if line.startswith("| w_out/topk"))
    assert "| -0.75 [-3.93, +2.43] | -0.25 [-3.43, +2.93] | +0.50 [+0.50, +0.50] * | 2 |" in row
    assert md.index("10 it.") < md.index("40 it.")  # shortest first, whatever the order given
    assert (tmp_path / "trend" / "delta_vs_training.png").exists()
    assert_one_line_error(prunekit("trend", short, "--out", tmp_path / "t"), "two or more sweep folders")
    assert_one_line_error(prunekit("trend", short, short, "--out", tmp_path / "t"), "differ in training length")


def test_compare_pairs_two_sweeps_or_two_strategies_by_seed(tmp_path):
    """Hand-worked, t(0.975, 2 df) = 4.303: differences 0.5, 0, 1.0 → +0.5 ± 4.303 · 0.5/√3 = ± 1.242;
    val 0.4, 0.1, 0.9 → +0.467 ± 1.004; at the cut 1, 0, 1 → +0.667 ± 1.434. Two seeds, t(0.975, 1 df) =
    12.706: differences 1.0, 0.5 → +0.75 ± 12.706 · 0.3536/√2 = ± 3.177."""
    from prunekit.files import write_json

    def sweep(name, cells):
        (tmp_path / name / "cells").mkdir(parents=True)
        for seed, selector, psnr, val, cut in cells:
            row = _cell(seed, "w_out", selector, psnr)
            row["pruned"] = {**row["pruned"], "val": {"psnr": val}}
            row["pruned_before_retrain"] = {"psnr": cut}
            write_json(tmp_path / name / "cells" / f"{row['id']}.json", row)
        return tmp_path / name

    # seed, selector, PSNR after retraining (test, val), PSNR at the cut
    refit = sweep("refit", [(0, "coreset", 20.5, 20.4, 15), (1, "coreset", 20, 20.1, 16), (2, "coreset", 21, 20.9, 17)])
    plain = sweep("plain", [(s, "coreset", 20.0, 20.0, c) for s, c in ((0, 14.0), (1, 16.0), (2, 16.0))])
    for seed, psnr in ((0, 19.0), (1, 19.5)):
        write_json(plain / "cells" / f"topk-{seed}.json", _cell(seed, "w_out", "topk", psnr))

    proc = prunekit("compare", refit, plain, "--out", tmp_path / "refit_vs_plain.md")
    assert proc.returncode == 0, proc.stderr
    row = next(line for line in proc.stdout.splitlines() if line.startswith("| width 8"))
    assert "| w_out/coreset (refit) | w_out/coreset (plain) | +0.500 [-0.742, +1.742] |" in row
    assert "| +0.467 [-0.537, +1.471] | +0.667 [-0.768, +2.101] | 3 | 2/3 |" in row
    assert row in (tmp_path / "refit_vs_plain.md").read_text()
    assert len([line for line in proc.stdout.splitlines() if line.startswith("| width 8")]) == 1  # top-k: plain only

    proc = prunekit("compare", plain, plain, "--strategy", "w_out/coreset", "--versus", "w_out/topk")
    assert proc.returncode == 0, proc.stderr
    assert "| w_out/coreset | w_out/topk | +0.750 [-2.427, +3.927] |" in proc.stdout and "| 2 | 2/2 |" in proc.stdout

    assert_one_line_error(prunekit("compare", plain, plain), "compares a sweep with itself")
    assert_one_line_error(prunekit("compare", refit, plain, "--versus", "w_out/topk"), "--versus needs --strategy")
    assert_one_line_error(prunekit("compare", refit, plain, "--strategy", "w_in/topk"), "share no budget")
    assert_one_line_error(prunekit("compare", refit, tmp_path), "holds no sweep")


def test_other_scorers_are_compared_with_the_chosen_reference():
    from prunekit.study import comparisons

    rows = [
        _cell(s, scorer, "topk", psnr + s)
        for s in (0, 1)
        for scorer, psnr in (("w_out", 20), ("product", 21), ("w_in", 19))
    ]
    pairs = {(c.a, c.b) for c in comparisons(rows)}
    assert ("product/topk", "w_out/topk") in pairs and ("w_in/topk", "w_out/topk") in pairs
    pairs = {(c.a, c.b): c for c in comparisons(rows, reference="product")}
    assert set(pairs) == {("w_out/topk", "product/topk"), ("w_in/topk", "product/topk")}
    assert pairs[("w_in/topk", "product/topk")].test.mean == -2.0  # 19 − 21 on each seed


def test_an_ablation_reuses_another_sweeps_dense_models_and_references(tmp_path):
    """--dense-from copies the other folder's finished dense models and reference rows instead of training
    them again: a marker file in its dense folder and a hand-set reference accuracy of 99 come across as they are
    (training here would have made neither); other dense training settings are refused."""
    base = ("sweep", "digits", "--scorers", "w_out", "--selectors", "topk", "--widths", "8", "--seeds", "0")
    base += ("--preset", "smoke", "--no-uniform")
    first = tmp_path / "oneshot"
    assert prunekit(*base, "--out", first).returncode == 0
    (first / "dense-seed0" / "marker").write_text("trained once")
    (reference,) = (first / "cells").glob("dense-seed0-finetune*.json")
    row = json.loads(reference.read_text())
    row["accuracy"] = 99.0  # no accuracy can be
    reference.write_text(json.dumps(row))

    second = tmp_path / "distilled"
    proc = prunekit(*base, "--distill", "0.5", "--dense-from", first, "--out", second)
    assert proc.returncode == 0, proc.stderr
    assert (second / "dense-seed0" / "marker").read_text() == "trained once"
    assert json.loads((second / "cells" / reference.name).read_text())["accuracy"] == 99.0
    cell = json.loads((second / "cells" / "w_out-topk-width8-finetune-seed0.json").read_text())
    assert cell["distill"] == 0.5 and not (second / "dense-seed0.partial").exists()

    # a longer retraining shares the dense models but not the reference: that one is trained here
    longer = tmp_path / "longer"
    assert prunekit(*base, "--retrain-iters", "7", "--dense-from", first, "--out", longer).returncode == 0
    assert (longer / "dense-seed0" / "marker").exists()
    assert json.loads((longer / "cells" / "dense-seed0-finetune7.json").read_text())["accuracy"] <= 1.0

    assert_one_line_error(
        prunekit(*base, "--iters", "7", "--dense-from", first, "--out", tmp_path / "other"), "trained its dense"
    )
    assert_one_line_error(prunekit(*base, "--dense-from", tmp_path, "--out", tmp_path / "x"), "not a sweep folder")
