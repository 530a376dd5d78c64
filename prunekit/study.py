"""A sweep's cells turned into evidence: results.json, results.md with paired 95 % confidence intervals,
and plots with error bars.

Every pruned cell is paired by seed with its seed's dense model retrained exactly as the pruned one was
(the equal-budget reference, see ``prunekit.sweep``), so the seed-to-seed spread of the dense models
cancels. Strategies are compared the same way, seed by seed. A collapsed run (one the target flags as
having learned nothing) is never dropped: it counts at the target's floor (``floor`` in its metrics: the
score of a model that learned nothing, e.g. a constant colour's PSNR), and every table says how many runs
collapsed beside the mean they enter. A seed without a reference is named, never dropped silently.
"""

from __future__ import annotations

from pathlib import Path

from prunekit.cells import (
    _by_seed,
    _dense_sec,
    _equal_budget,
    _paired,
    _test,
    _val,
    _word,
    collapsed_seeds,
    direction,
    equal_budget_baselines,
    groups,
    read_cell,
    read_cells,
    score,
)
from prunekit.comparing import REFERENCE, comparisons
from prunekit.files import read_json, write_json, write_text
from prunekit.intervals import LEVEL, Interval, _median, mean_std_text, paired_ci
from prunekit.plots import plots
from prunekit.report import markdown_table

__all__ = ["REFERENCE", "comparisons", "paired_ci", "read_cell", "read_cells", "write_results"]


def _collapse_text(group: list[dict], stage: str = "pruned") -> str:
    evaluated = sum(1 for r in group if r.get(stage))
    return f"{len(collapsed_seeds(group, stage=stage))}/{evaluated}"


def _cell_ratio(r: dict) -> float:
    """Pruned ÷ dense seconds per step, both timed in this cell in alternating blocks (cells made before
    protocol 3: the pruned time over the seed's dense time, measured once)."""
    if r.get("timing"):  # the median of the cell's rounds: robust to one round disturbed by another job
        return _median(r["timing"]["block_ratios"])
    return r["pruned"]["sec_per_iter"] / r["dense"]["sec_per_iter"]


def _step_ratio(group: list[dict]) -> float:
    """Median over cells of the in-cell step ratio."""
    return _median([_cell_ratio(r) for r in group])


def _ratio_text(group: list[dict]) -> str:
    """The median in-cell step ratio with its range over cells."""
    ratios = [_cell_ratio(r) for r in group]
    if len(ratios) == 1:
        return f"{ratios[0]:.2f}"
    return f"{_median(ratios):.2f} ({min(ratios):.2f}–{max(ratios):.2f})"


def write_results(out: Path, rows: list[dict], reference: str = REFERENCE) -> None:
    """results.json, results.md and the plots, from the cells of one sweep folder; ``reference``: the
    scorer every other scorer is compared with, seed by seed. Everything is computed before the first
    file is written, so a cell the tables cannot read leaves the previous results as they were."""
    failed = [read_json(p) for p in sorted((out / "cells").glob("*.failed.json"))]
    if not rows:
        write_json(out / "results.json", rows)
        if failed:
            write_text(out / "results.md", "# Sweep\n\nNo cell finished.\n" + _failures(failed))
        return
    h = rows[0]["headline"]
    longer = equal_budget_baselines(out / "cells")
    modes = sorted({r["retrain"] for r in rows})
    equal = {m: _equal_budget(longer, h, mode=m) for m in modes}
    equal_val = {m: _equal_budget(longer, h, _val, m) for m in modes}
    by = groups(rows)
    deltas = {key: _paired(_by_seed(g, h), equal[key[1]]) for key, g in by.items()}

    setup = out / "sweep.json"
    shared = ", ".join(f"{k} `{v}`" for k, v in read_json(setup).items() if k != "target") if setup.exists() else ""
    md = [f"# Sweep: {rows[0]['target']}\n\n"]
    if shared:
        md.append(f"Settings: {shared}.\n\n")
    md.append(
        "Δ is paired by seed with the same seed's dense model retrained exactly as the pruned one was (same "
        "steps, schedule, fresh optimizer and batches; `scratch` from a fresh initialisation); the interval is "
        f"a {LEVEL:.0%} paired-t confidence interval over seeds, and * marks one that excludes zero. "
        "Scores are on the test views unless a column says val (validation views, where settings are chosen). "
        "Step ÷ dense is the median over cells (range in brackets) of the pruned model's seconds per training "
        "step over the dense model's, both timed in the same cell in alternating blocks. A collapsed run "
        "(one that learned nothing) counts at the floor, the score of a constant prediction, and the "
        "collapsed column says how many of the runs in each mean did.\n\n"
    )
    views = _views(rows)
    if views:
        md.append(views)
    if any(equal.values()):
        md.append(_summary(by, deltas, h, direction(rows)))
    md.append(f"\n## Every setting\n\n{_settings_table(rows, by, deltas, longer, equal, equal_val)}")
    if not longer:
        md.append("\nNo equal-budget dense model in this folder: the paired Δ columns are empty.\n")
    unpaired = sorted({r["seed"] for r in rows if r["seed"] not in equal[r["retrain"]]})
    if longer and unpaired:
        md.append(
            f"\n**Seeds without an equal-budget dense model: {', '.join(map(str, unpaired))}.** Their cells "
            "are in the mean ± std column but not in the paired Δ; the seeds column says how many were paired.\n"
        )
    if failed:
        md.append(_failures(failed))
    found = comparisons(rows, reference)
    if found:
        val = [[c.val.text(3)] if any(x.val.n for x in found) else [] for c in found]
        md.append(
            f"\n## Strategies compared on the same seeds (A − B, {h}, {_word(direction(rows))}, mean [95 % CI])\n\n"
        )
        md.append(
            markdown_table(
                ["budget", "retrain", "A", "B", "A − B", *(["A − B (val)"] if val[0] else []), "seeds", "A better"],
                [[c.budget, c.mode, c.a, c.b, c.test.text(3), *v, c.test.n, c.wins] for c, v in zip(found, val)],
            )
        )
    if any(r.get("pruned_before_retrain") for r in rows):
        md.append(_at_cut(by, h))
    if any(r.get("quantized") for r in rows):
        md.append(_quantized(by, h))
    plots(out, rows, equal)
    write_text(out / "results.md", "".join(md))
    write_json(out / "results.json", rows)


def _summary(by: dict, deltas: dict[tuple, Interval], h: str, higher: bool = True) -> str:
    """One line per budget and retrain mode, one column per strategy: the paired Δ (test views), with the
    runs that collapsed (counted at the floor) named beside it, and the strategy with the best mean Δ in
    the headline's direction (the interval says whether it is apart from the next)."""
    names = sorted({name for _, _, name in by})
    lines = sorted({(budget, mode) for budget, mode, _ in by})
    table = []
    for budget, mode in lines:
        cells = []
        for n in names:
            group = by.get((budget, mode, n))
            if group is None:
                cells.append("")
                continue
            ci = deltas[(budget, mode, n)]
            bad = collapsed_seeds(group)
            text = "no pair" if not ci.n else _with_n(ci)
            cells.append(text + (f"; **{len(bad)}/{len(group)} collapsed**" if bad else ""))
        ratio = _ratio_text([r for (b, m, _), g in by.items() if (b, m) == (budget, mode) for r in g])
        paired = {
            n: deltas[(budget, mode, n)].mean for n in names if (budget, mode, n) in by and deltas[(budget, mode, n)].n
        }
        best = (max if higher else min)(paired, key=paired.get) if paired else ""
        table.append([budget, mode, *cells, best, ratio])
    return (
        f"## Summary: Δ{h} vs the equal-budget dense model ({_word(higher)}; test views, mean [95 % CI], n seeds)"
        "\n\n" + markdown_table(["budget", "retrain", *names, "best mean Δ", "step ÷ dense (range over cells)"], table)
    )


def _with_n(ci: Interval) -> str:
    return ci.text(2) + (f" (n={ci.n})" if ci.n > 1 else "")  # one seed says so itself


def _views(rows: list[dict]) -> str:
    """Which views the scores were computed on, when the target names them."""
    found = []
    for label, pick in (("test", _test), ("validation", _val)):
        names = next(
            ((pick(r["pruned"]) or {}).get("views") for r in rows if (pick(r["pruned"]) or {}).get("views")), None
        )
        if names:
            found.append(f"{label} views ({len(names)}): {', '.join(map(str, names))}")
    return ("Scored on " + "; ".join(found) + ".\n\n") if found else ""


def _settings_table(rows, by, deltas, longer, equal, equal_val) -> str:
    h = rows[0]["headline"]
    with_val = any(equal_val.values()) and any("val" in r["pruned"] for r in rows)
    dense = {r["seed"]: r["dense"] for r in rows}
    d0 = next(iter(dense.values()))
    d_minutes = _dense_sec(rows) * 1e5 / 60

    header = ["strategy", "budget", "retrain", "params", "MB (fp32)", "min / 100k iters (median)", "step ÷ dense"]
    header += [f"{h} mean ± std", f"Δ{h} vs equal-budget dense, paired, mean [95 % CI]"]
    header += [f"Δ{h} (val)"] if with_val else []
    header += ["seeds", "collapsed (at the floor)"]

    def line(name, budget, mode, params, mb, minutes, ratio, values, delta, delta_val, seeds, collapsed):
        return (
            [name, budget, mode, params, mb, minutes, ratio, mean_std_text(values) if values else "", delta]
            + ([delta_val] if with_val else [])
            + [seeds, collapsed]
        )

    d_scores = [score(d, h) for d in dense.values()]
    d_bad = sum(bool(d.get("collapsed")) for d in dense.values())
    table = [line("dense", "—", "—", d0["params"], d0["size_mb"], d_minutes, "1", d_scores, "", "", len(dense), d_bad)]
    for mode in sorted(equal):
        refs = [r for r in longer if r["retrain"] == mode]
        if not refs:
            continue
        gain = paired_ci(equal[mode][s] - score(dense[s], h) for s in equal[mode] if s in dense)
        what = "fine-tuned" if mode == "finetune" else "trained from scratch"
        table.append(
            line(
                f"dense, {what} {refs[0].get('retrain_iters', refs[0]['iters'])} it. (equal budget, "
                f"{refs[0]['iters']} it. in all)",
                "—",
                mode,
                d0["params"],
                d0["size_mb"],
                d_minutes,
                "1",
                list(equal[mode].values()),
                f"{gain.text()} (vs dense)",
                "",
                len(refs),
                sum(bool(r.get("collapsed")) for r in refs),
            )
        )
    for key, group in sorted(by.items()):
        budget, mode, name = key
        delta = deltas[key]
        seeds = f"{delta.n} of {len(group)}" if delta.n != len(group) else str(len(group))
        table.append(
            line(
                name,
                budget,
                mode,
                group[0]["pruned"]["params"],
                group[0]["pruned"]["size_mb"],
                _median([r["pruned"]["sec_per_iter"] for r in group]) * 1e5 / 60,
                _ratio_text(group),
                list(_by_seed(group, h).values()),
                delta.text(3),
                _paired(_by_seed(group, h, _val), equal_val[mode]).text(3) if with_val else "",
                seeds,
                _collapse_text(group),
            )
        )
    return markdown_table(header, table)


def _quantized(by: dict, h: str) -> str:
    """Each retrained model with its weights quantized: the size of its files and what it costs in quality,
    paired with the same model unquantized."""
    table = []
    for (budget, mode, name), group in sorted(by.items()):
        quantized = [r for r in group if r.get("quantized")]
        if not quantized:
            continue
        q = {r["seed"]: score(r["quantized"], h) for r in quantized}
        size = _median([r["quantized"]["size_on_disk_mb"] for r in quantized])
        table.append(
            [budget, mode, name, quantized[0]["quantized"]["mode"], f"{size:.3f}", mean_std_text(list(q.values()))]
            + [_paired(q, _by_seed(group, h)).text(3), len(q)]
        )
    return f"\n## Quantized weights ({h}, test views)\n\n" + markdown_table(
        ["budget", "retrain", "strategy", "weights", "MB on disk (all networks)", f"{h} mean ± std"]
        + ["Δ vs the same model in fp32 [95 % CI]", "seeds"],
        table,
    )


def _at_cut(by: dict, h: str) -> str:
    """Each strategy right after surgery and after retraining, on the seeds evaluated at both, and the
    coreset − top-k difference at both moments. A model that collapsed at the cut counts at the floor, and
    the table says how many did: a difference between two near-blank cuts explains nothing."""
    cut = "pruned_before_retrain"
    table, versus = [], []
    for (budget, mode, name), group in sorted(by.items()):
        at = _by_seed(group, h, stage=cut)
        if not at:
            continue
        end = {s: v for s, v in _by_seed(group, h).items() if s in at}
        table.append(
            [
                budget,
                mode,
                name,
                mean_std_text(list(at.values())),
                _collapse_text(group, cut),
                mean_std_text(list(end.values())),
                len(at),
            ]
        )
        scorer, selector = name.split("/")
        rival = by.get((budget, mode, f"{scorer}/topk"))
        if selector == "coreset" and rival:
            rival_at = _by_seed(rival, h, stage=cut)
            seeds = set(at) & set(rival_at)
            rival_end = {s: v for s, v in _by_seed(rival, h).items() if s in seeds}
            both = [r for r in group + rival if r["seed"] in seeds]
            versus.append(
                [
                    budget,
                    mode,
                    f"{name} − {scorer}/topk",
                    _paired(at, rival_at).text(3),
                    _collapse_text(both, cut),
                    _paired({s: end[s] for s in seeds if s in end}, rival_end).text(3),
                    len(seeds),
                ]
            )
    md = (
        f"\n## Right after surgery and after retraining ({h}, test views, same seeds)\n\n"
        "A cut that collapsed (renders nothing better than a constant) counts at the floor.\n\n"
    )
    md += markdown_table(
        ["budget", "retrain", "strategy", "at the cut", "collapsed at the cut", "after retraining", "seeds"], table
    )
    if versus:
        md += "\n" + markdown_table(
            ["budget", "retrain", "A − B", "at the cut", "collapsed at the cut (A and B)", "after retraining", "seeds"],
            versus,
        )
    return md


def _failures(failed: list[dict]) -> str:
    return f"\n## Failed cells ({len(failed)}; rerun the same command to retry them)\n\n" + markdown_table(
        ["cell", "error"], [[f["id"], f["error"]] for f in failed]
    )
