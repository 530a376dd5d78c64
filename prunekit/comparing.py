"""Paired comparisons beyond a sweep's own tables: strategy against strategy (the list results.md shows,
and ``prunekit compare`` across two sweeps) and each Δ as training grows (``prunekit trend``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from prunekit.cells import (
    _by_seed,
    _equal_budget,
    _paired,
    _val,
    _word,
    better,
    direction,
    equal_budget_baselines,
    groups,
    read_cells,
)
from prunekit.errors import BadInput
from prunekit.files import write_text
from prunekit.intervals import LEVEL, Interval, mean_std_text, paired_ci
from prunekit.plots import _trend_plot
from prunekit.report import markdown_table

REFERENCE = "w_out"  # the scorer others are compared with by default: the paper's best (`--reference`)


@dataclass(frozen=True)
class Comparison:
    """Strategy ``a`` − strategy ``b`` on their common seeds, at one budget and retrain mode."""

    budget: str
    mode: str
    a: str
    b: str
    test: Interval
    val: Interval
    wins: str  # on how many common seeds a scored better, in the headline's direction (test views)
    cut: Interval  # right after surgery, on the seeds both were evaluated there (n = 0 if none)


def _versus(
    budget: str, mode: str, a: str, b: str, group: list[dict], other: list[dict], h: str, higher: bool = True
) -> Comparison:
    """``group`` (strategy ``a``) − ``other`` (strategy ``b``), paired by seed."""
    at, bt = _by_seed(group, h), _by_seed(other, h)
    test = _paired(at, bt)
    wins = f"{sum(better(at[s], bt[s], higher) for s in at if s in bt)}/{test.n}"
    val = _paired(_by_seed(group, h, _val), _by_seed(other, h, _val))
    stage = "pruned_before_retrain"
    cut = _paired(_by_seed(group, h, stage=stage), _by_seed(other, h, stage=stage))
    return Comparison(budget, mode, a, b, test, val, wins, cut)


def comparisons(rows: list[dict], reference: str = REFERENCE) -> list[Comparison]:
    """Every strategy against the uniform-random baseline, each coreset against top-k of its scorer and
    each other scorer against the ``reference`` scorer with its selector, within each budget and retrain
    mode, on test and (where scored) validation views."""
    h, higher = rows[0]["headline"], direction(rows)
    by = groups(rows)
    found = []
    for (budget, mode, name), group in sorted(by.items()):
        scorer, selector = name.split("/")
        rivals = []
        if name != "random/uniform":
            rivals.append("random/uniform")
        if selector == "coreset":
            rivals.append(f"{scorer}/topk")
        if scorer not in (reference, "random"):
            rivals.append(f"{reference}/{selector}")
        for rival in rivals:
            other = by.get((budget, mode, rival))
            if other is not None:
                found.append(_versus(budget, mode, name, rival, group, other, h, higher))
    return found


def compare(a: Path, b: Path, strategy: str | None = None, versus: str | None = None) -> str:
    """Markdown: ``strategy`` of sweep ``a`` − ``versus`` (default: the same strategy) of sweep ``b``,
    paired by seed at every budget and retrain mode both swept; without ``strategy``, every strategy both
    folders hold. For arms a sweep cannot hold side by side (``--refit``, ``--distill`` are sweep-wide) and
    for pairs ``results.md`` does not list."""
    if versus is not None and strategy is None:
        raise BadInput("--versus needs --strategy (the strategy it is compared with)")
    versus = versus or strategy
    same = Path(a).resolve() == Path(b).resolve()
    if same and versus == strategy:
        raise BadInput("that compares a sweep with itself: give --strategy and a different --versus")
    rows_a, rows_b = read_cells(a), read_cells(b)
    if not rows_a or not rows_b:
        raise BadInput(f"{a if not rows_a else b} holds no finished cell")
    h = rows_a[0]["headline"]
    if rows_b[0]["headline"] != h:
        raise BadInput(f"the sweeps score different things: {h} and {rows_b[0]['headline']}")
    by_b, higher = groups(rows_b), direction(rows_a)
    found = [
        _versus(budget, mode, name, versus or name, group, by_b[(budget, mode, versus or name)], h, higher)
        for (budget, mode, name), group in sorted(groups(rows_a).items())
        if strategy in (None, name) and (budget, mode, versus or name) in by_b
    ]
    if not found:
        wanted = f"{strategy} vs {versus}" if strategy else "any strategy"
        raise BadInput(f"the sweeps share no budget and retrain mode with {wanted}")

    def label(name: str, folder: Path) -> str:
        return name if same else f"{name} ({Path(folder).name})"

    md = (
        f"# A − B, {h} ({_word(higher)})\n\nA from `{a}`, B from `{b}`. Paired by seed: mean "
        f"[{LEVEL:.0%} paired-t CI], * where "
        "the interval excludes zero; test views unless marked val. At the cut: right after surgery, before "
        "retraining, on the seeds both were evaluated there.\n\n"
    )
    table = [
        [c.budget, c.mode, label(c.a, a), label(c.b, b), c.test.text(3), c.val.text(3), c.cut.text(3), c.test.n, c.wins]
        for c in found
    ]
    return md + markdown_table(
        ["budget", "retrain", "A", "B", "A − B", "A − B (val)", "at the cut", "seeds", "A better"], table
    )


def write_trend(folders: list[Path], out: Path) -> None:
    """trend.md and delta_vs_training.png: the same settings swept at several training lengths (one sweep
    folder each). Every Δ is taken on the seeds all folders share, so a column differs from the next only
    by training length, and the change from the shortest to the longest is itself paired by seed."""
    if len(folders) < 2:
        raise BadInput("give two or more sweep folders that differ in training length")
    sweeps = []
    for folder in folders:
        rows, longer = read_cells(folder), equal_budget_baselines(Path(folder) / "cells")
        if not rows or not longer:
            raise BadInput(f"{folder} holds no finished cell with an equal-budget dense model")
        h = rows[0]["headline"]
        equal = _equal_budget(longer, h)  # fine-tuning references: the trend is over fine-tuned cells
        deltas = {
            key: {s: v - equal[s] for s, v in _by_seed(g, h).items() if s in equal}
            for key, g in groups(rows).items()
            if key[1] == "finetune"
        }
        sweeps.append((next(r["iters"] for r in longer if r["retrain"] == "finetune"), equal, deltas))
    sweeps.sort(key=lambda sweep: sweep[0])
    lengths = [iters for iters, _, _ in sweeps]
    if len(set(lengths)) < len(lengths):
        raise BadInput(f"the folders must differ in training length, got {lengths} iterations")
    shared = sorted(set.intersection(*(set(d) for _, _, d in sweeps)))
    if not shared:
        raise BadInput("the folders share no setting (budget, retrain mode and strategy)")

    columns = [f"{n:,} it." for n in lengths]
    seeds = set.intersection(*(set(e) for _, e, _ in sweeps))
    table = [
        [
            "dense (equal budget)",
            "—",
            "—",
            *(mean_std_text([e[s] for s in seeds], 2) for _, e, _ in sweeps),
            "",
            len(seeds),
        ]
    ]
    found: dict[tuple, list[Interval]] = {}
    for key in shared:
        common = sorted(set.intersection(*(set(d[key]) for _, _, d in sweeps)))
        found[key] = [paired_ci(d[key][s] for s in common) for _, _, d in sweeps]
        moved = paired_ci(sweeps[-1][2][key][s] - sweeps[0][2][key][s] for s in common)
        budget, mode, name = key
        table.append([name, budget, mode, *(ci.text(2) for ci in found[key]), moved.text(2), len(common)])
    md = (
        f"# Δ{h} as training grows\n\n"
        "One column per sweep, named by the equal-budget dense model's iterations (dense training + "
        f"retraining). Δ{h} vs that model, paired by seed, on the test views and on the seeds every sweep has: "
        f"mean [{LEVEL:.0%} CI], * where the interval excludes zero. The dense row is the equal-budget model's "
        f"{h} (mean ± std). The last column is the longest sweep's Δ minus the shortest's, also paired by seed.\n\n"
    )
    md += markdown_table(
        ["strategy", "budget", "retrain", *columns, f"Δ moved ({columns[-1]} − {columns[0]})", "seeds"], table
    )
    left_out = set.union(*(set(d) for _, _, d in sweeps)) - set(shared)
    if left_out:
        md += f"\n{len(left_out)} setting(s) swept at some lengths only are left out.\n"
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "trend.md", md)
    _trend_plot(out, lengths, found, h)
