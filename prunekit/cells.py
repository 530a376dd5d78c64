"""A sweep's cells read back: each file checked for what the tables read, grouped by strategy, budget and
retrain mode, scored in the headline's direction (a collapsed run at the target's floor), paired by seed."""

from __future__ import annotations

import math
from pathlib import Path

from prunekit.files import read_json
from prunekit.intervals import Interval, _median, paired_ci


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


def direction(rows: list[dict]) -> bool:
    """True when the sweep's headline is better higher (PSNR, accuracy), False for a loss; rows made before
    targets declared it were all higher-is-better."""
    return bool(rows[0].get("higher_is_better", True))


def better(a: float, b: float, higher: bool) -> bool:
    """Whether score ``a`` is better than ``b`` in the headline's direction."""
    return a > b if higher else a < b


def _paired(a: dict[int, float], b: dict[int, float]) -> Interval:
    return paired_ci(a[s] - b[s] for s in sorted(a) if s in b)


def _word(higher: bool) -> str:
    return "higher is better" if higher else "lower is better"


def _dense_sec(rows: list[dict]) -> float:
    """The dense model's seconds per step: the median of its in-cell timings (else its seed's timing)."""
    timed = [r["timing"]["dense_sec_per_iter"] for r in rows if r.get("timing")]
    return _median(timed) if timed else _median([r["dense"]["sec_per_iter"] for r in rows])
