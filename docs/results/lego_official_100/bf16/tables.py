"""bf16 autocast against fp32 at the study preset, paired by seed: the tables of this folder's README.

python docs/results/lego_official_100/bf16/tables.py

``bf16/`` (this folder) holds the bf16 sweeps' cells; the fp32 arm is the official split's protocol-3
study (``../protocol3``), the same seeds, preset and code path; ``fp32_rerun/`` holds fp32 cells rerun
on the machine that ran the bf16 arm, compared value by value with the protocol-3 ones. Read: the dense
models (after 1,000 iterations, and their equal-budget references fine-tuned 300 more), product coreset
at half (keep 0.483) and at 64 wide. Every number is recomputed from the cells; Δ = bf16 − fp32 PSNR,
95 % paired-t CI over the seeds both hold; writes ``tables.md`` and ``tables.json`` here.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from prunekit.cells import _by_seed, _equal_budget, _test, _val, collapsed_seeds, equal_budget_baselines, read_cells
from prunekit.files import write_json, write_text
from prunekit.intervals import paired_ci

BAND = 0.2  # dB: the goal, bf16 − fp32 within ±0.2 dB with the whole CI inside
STAGES = {  # row label → how to read seed → PSNR from a sweep's cells (test or validation views)
    "dense, 1,000 it.": lambda rows, refs, where: _by_seed(_one_per_seed(rows), "psnr", where, "dense"),
    "dense, equal budget (1,300 it.)": lambda rows, refs, where: _equal_budget(refs, "psnr", where),
    "product coreset, half (keep 0.483)": lambda rows, refs, where: _by_seed(_cells(rows, "keep"), "psnr", where),
    "product coreset, 64 wide": lambda rows, refs, where: _by_seed(_cells(rows, "width"), "psnr", where),
}


def _one_per_seed(rows: list[dict]) -> list[dict]:
    return list({r["seed"]: r for r in rows}.values())  # every cell of a seed carries the same dense model


def _cells(rows: list[dict], budget: str) -> list[dict]:
    return [r for r in rows if r.get(budget) is not None and (r["scorer"], r["selector"]) == ("product", "coreset")]


def read(folder: Path) -> tuple[list[dict], list[dict]]:
    return read_cells(folder), equal_budget_baselines(folder / "cells")


def rerun_check(rerun: Path, fp32: Path) -> dict:
    """Every quality figure of the rerun's cells beside the same cell's in the fp32 arm: how many, and the
    largest difference (timings, which vary by machine, left out)."""
    pairs: list[tuple[float, float]] = []
    paths = sorted((rerun / "cells").glob("*.json"))
    for path in paths:
        pairs += _pairs(json.loads(path.read_text()), json.loads((fp32 / "cells" / path.name).read_text()))
    worst = max((abs(a - b) for a, b in pairs), default=0.0)
    return {"cells": len(paths), "numbers": len(pairs), "largest_difference": worst}


def _pairs(a, b, skip=("seconds", "sec_per_iter", "timing")) -> list[tuple[float, float]]:
    """The numbers ``a`` and ``b`` hold at the same places (keys both have)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [p for k in sorted(a.keys() & b.keys()) if not any(w in k for w in skip) for p in _pairs(a[k], b[k])]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [p for x, y in zip(a, b) for p in _pairs(x, y)]
    number = (int, float)
    if isinstance(a, number) and isinstance(b, number) and not isinstance(a, bool):
        return [(float(a), float(b))]
    return []


def main() -> None:
    root = Path(__file__).parent
    (b_rows, b_refs), (f_rows, f_refs) = read(root / "bf16"), read(root.parent / "protocol3")
    out: dict = {"stages": {}}
    lines = [
        "| | fp32, mean (n) | bf16, mean (n) | Δ bf16 − fp32, test views | CI inside ±0.2 dB | per seed "
        "| Δ, validation views |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, read_stage in STAGES.items():
        row = {}
        for views, where in (("test", _test), ("val", _val)):
            b, f = read_stage(b_rows, b_refs, where), read_stage(f_rows, f_refs, where)
            seeds = sorted(set(b) & set(f))
            diffs = [b[s] - f[s] for s in seeds]
            row[views] = {"bf16": b, "fp32": f, "seeds": seeds, "delta": diffs, "ci": paired_ci(diffs)}
        t, v = row["test"], row["val"]
        ci = t["ci"]
        inside = ci.n > 1 and -BAND <= ci.low and ci.high <= BAND
        out["stages"][label] = {
            views: {**r, "ci": [r["ci"].mean, r["ci"].low, r["ci"].high] if r["ci"].n > 1 else None}
            for views, r in row.items()
        } | {"ci_inside_band": inside}
        fmean = lambda d: f"{statistics.fmean(d.values()):.2f} dB ({len(d)})" if d else "—"  # noqa: E731
        per_seed = ", ".join(f"{d:+.2f}" for d in t["delta"])
        lines.append(
            f"| {label} | {fmean(t['fp32'])} | {fmean(t['bf16'])} | {ci.text() or '—'} (n = {ci.n}) "
            f"| {'yes' if inside else 'no'} | {per_seed} | {v['ci'].text() or '—'} |"
        )
    collapsed = {p: collapsed_seeds(rows) for p, rows in (("bf16", b_rows), ("fp32", f_rows))}
    out["collapsed"] = collapsed
    rerun = read_cells(root / "fp32_rerun")
    step = {  # the dense step timed in the cells of the seeds rerun in fp32 on the bf16 arm's machine
        p: statistics.median(r["timing"]["dense_sec_per_iter"] for r in rows if r.get("timing") and r["seed"] in
                             {c["seed"] for c in rerun})
        for p, rows in (("bf16", b_rows), ("fp32", rerun))
    }  # fmt: skip
    out["dense_seconds_per_iter_median_same_machine"] = step
    check = rerun_check(root / "fp32_rerun", root.parent / "protocol3")
    out["fp32_rerun"] = check
    lines += [
        "",
        f"Collapsed cells (counted at the floor): bf16 {collapsed['bf16'] or 'none'}, "
        f"fp32 {collapsed['fp32'] or 'none'}.",
        "",
        f"The fp32 arm rerun on the bf16 arm's machine ({check['cells']} cells, seeds "
        f"{sorted({c['seed'] for c in rerun})}): {check['numbers']} quality figures, the largest difference from the "
        f"protocol-3 cells {check['largest_difference']:.3g}. Dense step timed in those seeds' cells (median, each "
        f"sweep on one thread beside another sweep): bf16 {step['bf16']:.3f} s, fp32 {step['fp32']:.3f} s "
        f"({step['bf16'] / step['fp32']:.2f}×).",
    ]
    write_text(root / "tables.md", "\n".join(lines) + "\n")
    write_json(root / "tables.json", out)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
