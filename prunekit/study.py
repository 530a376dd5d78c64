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

import math
import statistics
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from prunekit.files import atomic_write, read_json, write_json, write_text
from prunekit.report import markdown_table

LEVEL = 0.95
REFERENCE = "w_out"  # the scorer others are compared with by default: the paper's best (`--reference`)


@dataclass(frozen=True)
class Interval:
    """Mean of paired differences with a two-sided confidence interval (Student's t over n seeds)."""

    mean: float
    low: float
    high: float
    n: int

    @property
    def significant(self) -> bool:
        """The interval excludes zero."""
        return self.n > 1 and (self.low > 0 or self.high < 0)

    def text(self, digits: int = 2) -> str:
        if self.n == 0:
            return ""
        if self.n == 1:
            return f"{self.mean:+.{digits}f} (1 seed, no CI)"
        star = " *" if self.significant else ""
        return f"{self.mean:+.{digits}f} [{self.low:+.{digits}f}, {self.high:+.{digits}f}]{star}"


def paired_ci(differences: Iterable[float], level: float = LEVEL) -> Interval:
    """Mean and ``level`` confidence interval of paired differences (one per seed), by the paired t test
    (scipy's, on the differences)."""
    from scipy.stats import ttest_1samp

    d = [float(x) for x in differences]
    if not d:
        return Interval(math.nan, math.nan, math.nan, 0)
    mean = statistics.fmean(d)
    if len(d) == 1:
        return Interval(mean, math.nan, math.nan, 1)
    with warnings.catch_warnings():  # identical differences (no spread) are a result, not a precision problem
        warnings.simplefilter("ignore", RuntimeWarning)
        ci = ttest_1samp(d, 0.0).confidence_interval(level)
    return Interval(mean, float(ci.low), float(ci.high), len(d))


def _mean_std(values: list[float]) -> tuple[float, float]:
    if not values:
        return math.nan, math.nan
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def _median(values: list[float]) -> float:
    """Timings are medians over seeds: one step timed while the machine was busy should not move them."""
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else math.nan


def budget_label(r: dict) -> str:
    label = f"width {r['width']}" if r.get("width") is not None else f"keep {r['keep']:g}"
    if r.get("allocation", "uniform") != "uniform":
        label += f" ({r['allocation']})"
    if r.get("round_to", 1) != 1:
        label += f" (×{r['round_to']})"
    return label


def strategy(r: dict) -> str:
    return f"{r['scorer']}/{r['selector']}"


def groups(rows: list[dict]) -> dict[tuple[str, str, str], list[dict]]:
    """Cells by (budget, retrain mode, strategy), the seeds of one setting together."""
    out: dict[tuple[str, str, str], list[dict]] = {}
    for r in rows:
        out.setdefault((budget_label(r), r["retrain"], strategy(r)), []).append(r)
    return out


def read_cells(folder: Path) -> list[dict]:
    """The finished strategy cells of a sweep folder (not its dense baselines), in a stable order."""
    from prunekit.errors import BadInput

    if not (Path(folder) / "cells").is_dir():
        raise BadInput(f"{folder} holds no sweep (no cells/ folder)")
    paths = sorted((Path(folder) / "cells").glob("*.json"))
    return [r for r in (read_cell(p) for p in paths) if "scorer" in r]


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _non_finite(value) -> bool:
    """Whether a NaN or an infinity sits anywhere in ``value``: prunekit never writes one (JSON has none)."""
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_non_finite(v) for v in value.values())
    if isinstance(value, list):
        return any(_non_finite(v) for v in value)
    return False


def read_cell(path: Path) -> dict:
    """One cell (or reference) file, checked for what the tables read: a hand-edited or damaged file is
    named in one line instead of failing somewhere inside the statistics."""
    from prunekit.errors import CheckpointError

    row = read_json(path, "sweep cell")
    problem = None
    if not isinstance(row, dict) or not isinstance(row.get("seed"), int) or isinstance(row.get("seed"), bool):
        problem = "no integer seed"
    elif "scorer" in row:
        h = row.get("headline")
        texts = ("id", "scorer", "selector", "retrain", "headline")
        if not all(isinstance(row.get(k), str) for k in texts):
            problem = f"{', '.join(texts)} must be text"
        elif not all(isinstance(row.get(k), dict) for k in ("dense", "pruned")):
            problem = "no dense and pruned results"
        elif not all(_number(row[k].get(h)) for k in ("dense", "pruned")):
            problem = f"{h} is not a finite number"
    elif not isinstance(row.get("retrain"), str):
        problem = "a reference without its retrain mode"
    if problem is None and _non_finite(row):
        problem = "it holds NaN or an infinity"
    if problem:
        raise CheckpointError(f"{path} is not a usable sweep cell: {problem}")
    return row


def equal_budget_baselines(cells: Path) -> list[dict]:
    """The equal-budget dense references (``dense-seed{S}-{mode}{N}.json``; ``-plus{N}`` in folders made
    before the rule covered ``scratch``, which held fine-tuning references only)."""
    found = []
    for p in sorted(cells.glob("dense-seed*-*.json")):
        row = read_cell(p)
        row.setdefault("retrain", "finetune")
        found.append(row)
    return found


def _test(stage: dict) -> dict | None:
    return stage


def _val(stage: dict) -> dict | None:
    return stage.get("val")


def score(metrics: dict, h: str) -> float | None:
    """The headline of one evaluation; a collapsed model counts at the target's floor (what a model that
    learned nothing scores) when the evaluation names one."""
    if metrics.get("collapsed") and metrics.get("floor") is not None:
        return metrics["floor"]
    return metrics.get(h)


def _equal_budget(longer: list[dict], h: str, where=_test, mode: str = "finetune") -> dict[int, float]:
    """Seed → score of the equal-budget dense references of retrain ``mode`` (test views unless ``where``)."""
    found = {r["seed"]: where(r) for r in longer if r["retrain"] == mode}
    return {s: score(m, h) for s, m in found.items() if m and score(m, h) is not None}


def _by_seed(group: list[dict], h: str, where=_test, stage: str = "pruned") -> dict[int, float]:
    """Seed → score of every cell evaluated there, collapsed ones at the floor (``where``: test or val
    views; ``stage``: "pruned" after retraining, "pruned_before_retrain" right after surgery)."""
    found = {r["seed"]: where(r[stage]) for r in group if r.get(stage)}
    return {s: score(m, h) for s, m in found.items() if m and score(m, h) is not None}


def collapsed_seeds(group: list[dict], where=_test, stage: str = "pruned") -> list[int]:
    """The seeds whose model collapsed at ``stage`` (its own flag: a cut can collapse and recover)."""
    return sorted(r["seed"] for r in group if r.get(stage) and (where(r[stage]) or {}).get("collapsed"))


def _collapse_text(group: list[dict], stage: str = "pruned") -> str:
    evaluated = sum(1 for r in group if r.get(stage))
    return f"{len(collapsed_seeds(group, stage=stage))}/{evaluated}"


def direction(rows: list[dict]) -> bool:
    """True when the sweep's headline is better higher (PSNR, accuracy), False for a loss; rows made before
    targets declared it were all higher-is-better."""
    return bool(rows[0].get("higher_is_better", True))


def better(a: float, b: float, higher: bool) -> bool:
    """Whether score ``a`` is better than ``b`` in the headline's direction."""
    return a > b if higher else a < b


def _word(higher: bool) -> str:
    return "higher is better" if higher else "lower is better"


def _paired(a: dict[int, float], b: dict[int, float]) -> Interval:
    return paired_ci(a[s] - b[s] for s in sorted(a) if s in b)


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
    from prunekit.errors import BadInput

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


def _dense_sec(rows: list[dict]) -> float:
    """The dense model's seconds per step: the median of its in-cell timings (else its seed's timing)."""
    timed = [r["timing"]["dense_sec_per_iter"] for r in rows if r.get("timing")]
    return _median(timed) if timed else _median([r["dense"]["sec_per_iter"] for r in rows])


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


def write_trend(folders: list[Path], out: Path) -> None:
    """trend.md and delta_vs_training.png: the same settings swept at several training lengths (one sweep
    folder each). Every Δ is taken on the seeds all folders share, so a column differs from the next only
    by training length, and the change from the shortest to the longest is itself paired by seed."""
    from prunekit.errors import BadInput

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
            *(_mean_std_text([e[s] for s in seeds], 2) for _, e, _ in sweeps),
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


def _mean_std_text(values: list[float], digits: int = 3) -> str:
    m, s = _mean_std(values)
    return f"{m:.{digits}f} ± {s:.{digits}f}"


def _trend_plot(out: Path, lengths: list[int], found: dict[tuple, list[Interval]], h: str) -> None:
    """delta_vs_training.png: one panel per budget, Δ with its 95 % CI against training length."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
    atomic_write(out / "delta_vs_training.png", lambda tmp: fig.savefig(tmp, format="png", dpi=120))
    plt.close(fig)


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
            [name, budget, mode, params, mb, minutes, ratio, _mean_std_text(values) if values else "", delta]
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
            [budget, mode, name, quantized[0]["quantized"]["mode"], f"{size:.3f}", _mean_std_text(list(q.values()))]
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
                _mean_std_text(list(at.values())),
                _collapse_text(group, cut),
                _mean_std_text(list(end.values())),
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


def plots(out: Path, rows: list[dict], equal: dict[str, dict[int, float]]) -> None:
    """{headline}_vs_params.png (mean ± std), delta_vs_params.png (paired Δ with 95 % CIs),
    time_vs_params.png (medians), render_grid.png (one seed's previews)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
        atomic_write(out / name, lambda tmp: fig.savefig(tmp, format="png", dpi=120))
        plt.close(fig)

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
    atomic_write(out / "cut_vs_retrained.png", lambda tmp: fig.savefig(tmp, format="png", dpi=120))
    plt.close(fig)


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
    atomic_write(out / "render_grid.png", lambda tmp: fig.savefig(tmp, format="png", dpi=120))
    plt.close(fig)
