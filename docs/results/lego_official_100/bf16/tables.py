"""bf16 autocast against fp32 at the study preset, paired by seed: the tables of this folder's README.

python docs/results/lego_official_100/bf16/tables.py [FOLDER]

FOLDER holds ``bf16/`` and ``fp32/``, each a sweep's cells (``cells/*.json``) of the same seeds: the dense
models (after 1,000 iterations, and their equal-budget references fine-tuned 300 more), product coreset
at half (keep 0.483) and at 64 wide. Every number is recomputed from the cells; Δ = bf16 − fp32 PSNR,
95 % paired-t CI over the seeds both hold; writes ``tables.md`` and ``tables.json`` there.
"""

from __future__ import annotations

import statistics
import sys
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


def main() -> None:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent
    (b_rows, b_refs), (f_rows, f_refs) = read(root / "bf16"), read(root / "fp32")
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
    dense_step = {p: statistics.median(r["timing"]["dense_sec_per_iter"] for r in rows if r.get("timing"))
                  for p, rows in (("bf16", b_rows), ("fp32", f_rows))}  # fmt: skip
    out["dense_seconds_per_iter_median"] = dense_step
    lines += [
        "",
        f"Collapsed cells (counted at the floor): bf16 {collapsed['bf16'] or 'none'}, "
        f"fp32 {collapsed['fp32'] or 'none'}. "
        "Dense step timed in the cells (median, two sweeps sharing 2 cores, one thread each): "
        f"bf16 {dense_step['bf16']:.3f} s, "
        f"fp32 {dense_step['fp32']:.3f} s ({dense_step['bf16'] / dense_step['fp32']:.2f}×).",
    ]
    write_text(root / "tables.md", "\n".join(lines) + "\n")
    write_json(root / "tables.json", out)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
