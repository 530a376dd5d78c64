"""The sweep's figures: quality and Δ against parameters, step time, the cut against retraining, the
trend over training lengths and a grid of renders; each written atomically, as every file is."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from prunekit.cells import _by_seed, _dense_sec, _word, direction, groups, score, strategy
from prunekit.files import atomic_write
from prunekit.intervals import Interval, _median, paired_ci


def _pyplot():
    """matplotlib's pyplot on the file-only backend (no display is needed or opened)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: Path) -> None:
    """A matplotlib figure as a PNG at ``path`` (temporary file, then rename), then closed."""
    import matplotlib.pyplot as plt

    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120))
    plt.close(fig)


def plots(out: Path, rows: list[dict], equal: dict[str, dict[int, float]]) -> None:
    """{headline}_vs_params.png (mean ± std), delta_vs_params.png (paired Δ with 95 % CIs),
    time_vs_params.png (medians), render_grid.png (one seed's previews)."""
    plt = _pyplot()

    h = rows[0]["headline"]
    series: dict[tuple[str, str], dict[int, list[dict]]] = {}
    for r in rows:
        series.setdefault((strategy(r), r["retrain"]), {}).setdefault(r["pruned"]["params"], []).append(r)
    x_label = "parameters (all networks of a model)"

    def figure(name: str, ylabel: str, draw) -> None:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        draw(ax)
        ax.set_xscale("log")
        ax.set_xlabel(x_label)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
        fig.tight_layout()
        save_figure(fig, out / name)

    def quality(ax) -> None:
        dense = [score(r["dense"], h) for r in rows]
        if dense:
            ax.errorbar([rows[0]["dense"]["params"]], [np.mean(dense)], yerr=[np.std(dense)], fmt="k*", ms=12)
        for (name, mode), points in sorted(series.items()):
            xs = sorted(points)
            ys = [np.mean([score(r["pruned"], h) for r in points[x]]) for x in xs]
            es = [np.std([score(r["pruned"], h) for r in points[x]]) for x in xs]
            ax.errorbar(xs, ys, yerr=es, marker="o", capsize=3, label=f"{name} ({mode})")

    def delta(ax) -> None:
        ax.axhline(0, color="k", lw=0.8)
        for (name, mode), points in sorted(series.items()):
            xs, ys, lo, hi = [], [], [], []
            for x in sorted(points):
                ref = equal.get(mode, {})
                ci = paired_ci(score(r["pruned"], h) - ref[r["seed"]] for r in points[x] if r["seed"] in ref)
                if ci.n > 1:
                    xs.append(x), ys.append(ci.mean), lo.append(ci.mean - ci.low), hi.append(ci.high - ci.mean)
            if xs:
                ax.errorbar(xs, ys, yerr=[lo, hi], marker="o", capsize=3, label=f"{name} ({mode})")

    def timing(ax) -> None:
        ax.plot([rows[0]["dense"]["params"]], [_dense_sec(rows)], "k*", ms=12)
        for (name, mode), points in sorted(series.items()):
            xs = sorted(points)
            ys = [_median([r["pruned"]["sec_per_iter"] for r in points[x]]) for x in xs]
            ax.plot(xs, ys, "o-", label=f"{name} ({mode})")

    word = _word(direction(rows))
    figure(f"{h}_vs_params.png", f"{h}, {word} (mean ± std over seeds; ★ dense)", quality)
    if any(equal.values()):
        figure("delta_vs_params.png", f"Δ{h} vs equal-budget dense, {word} (95 % CI)", delta)
    figure("time_vs_params.png", "s / training iteration (median; ★ dense)", timing)
    _render_grid(out, rows, plt)
    _cut_plot(out, rows, plt)


def _trend_plot(out: Path, lengths: list[int], found: dict[tuple, list[Interval]], h: str) -> None:
    """delta_vs_training.png: one panel per budget, Δ with its 95 % CI against training length."""
    plt = _pyplot()

    panels = sorted({(b, m) for b, m, _ in found})
    fig, axes = plt.subplots(1, len(panels), figsize=(4.8 * len(panels), 4), squeeze=False)
    for ax, (budget, mode) in zip(axes.flat, panels):
        names = sorted(n for b, m, n in found if (b, m) == (budget, mode))
        for i, name in enumerate(names):
            cis = found[(budget, mode, name)]
            xs = [n * 1.03 ** (i - (len(names) - 1) / 2) for n in lengths]  # side by side, not on top
            ys = [ci.mean for ci in cis]
            errors = [
                [ci.mean - ci.low if ci.n > 1 else 0 for ci in cis],
                [ci.high - ci.mean if ci.n > 1 else 0 for ci in cis],
            ]
            ax.errorbar(xs, ys, yerr=errors, marker="o", capsize=3, label=name)
        ax.axhline(0, color="k", lw=0.8)
        ax.set_xscale("log")
        ax.set_xticks(lengths, [f"{n:,}" for n in lengths])
        ax.minorticks_off()  # the log axis would label 2×10³ between the lengths
        ax.set_xlabel("iterations of the equal-budget dense model")
        ax.set_ylabel(f"Δ{h} vs equal-budget dense (95 % CI)")
        ax.set_title(f"{budget} ({mode})", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, out / "delta_vs_training.png")


def _cut_plot(out: Path, rows: list[dict], plt) -> None:
    """cut_vs_retrained.png: each strategy right after surgery (hollow) and after retraining (filled),
    mean ± std over the seeds evaluated at both, one panel per budget."""
    h = rows[0]["headline"]
    by = {k: g for k, g in groups(rows).items() if _by_seed(g, h, stage="pruned_before_retrain")}
    budgets = sorted({(b, m) for b, m, _ in by})
    if not budgets:
        return
    fig, axes = plt.subplots(1, len(budgets), figsize=(4.5 * len(budgets), 4), squeeze=False)
    for ax, (budget, mode) in zip(axes.flat, budgets):
        names = sorted(n for b, m, n in by if (b, m) == (budget, mode))
        for x, name in enumerate(names):
            at = _by_seed(by[(budget, mode, name)], h, stage="pruned_before_retrain")
            end = [v for s, v in _by_seed(by[(budget, mode, name)], h).items() if s in at]
            for values, face in ((list(at.values()), "none"), (end, "C0")):
                ax.errorbar(
                    [x], [np.mean(values)], yerr=[np.std(values)], fmt="o", mfc=face, mec="C0", ecolor="C0", capsize=3
                )
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
        ax.set_title(f"{budget} ({mode})", fontsize=9)
        ax.set_ylabel(f"{h}: at the cut (hollow), after retraining (filled)", fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, out / "cut_vs_retrained.png")


def _render_grid(out: Path, rows: list[dict], plt) -> None:
    previews = [(r["id"], out / "cells" / f"{r['id']}.png") for r in rows if r["seed"] == rows[0]["seed"]]
    previews = [(i, p) for i, p in previews if p.exists()]
    if not previews:
        return
    from PIL import Image

    cols = min(4, len(previews))
    n_rows = math.ceil(len(previews) / cols)
    fig, axes = plt.subplots(n_rows, cols, figsize=(3 * cols, 3.2 * n_rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (cid, p) in zip(axes.flat, previews):
        ax.imshow(np.asarray(Image.open(p)))
        ax.set_title(cid.rsplit("-seed", 1)[0], fontsize=7)
    fig.tight_layout()
    save_figure(fig, out / "render_grid.png")
