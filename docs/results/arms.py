"""One table for the arms of an ablation: sweep folders that cut the same strategy at the same budget from
the same dense models (made with --dense-from), each arm against its equal-budget dense reference and
against one baseline arm, paired by seed with 95 % CIs, on the validation views (where the choice is made)
and the test views (what is reported).

python docs/results/arms.py FOLDER ... --versus FOLDER [--out FILE.md]

Every number is recomputed from the folders' cells/ (prunekit.study's own reading and statistics).
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from prunekit.cells import _by_seed, _equal_budget, _paired, _test, _val, equal_budget_baselines, read_cells
from prunekit.files import write_text


def arm(folder: Path) -> dict:
    (cells,) = {tuple(sorted({(r["scorer"], r["selector"], r["retrain"]) for r in read_cells(folder)}))}
    if len(cells) != 1:
        raise SystemExit(f"{folder}: an arm holds one strategy and retrain mode, found {cells}")
    rows, refs = read_cells(folder), equal_budget_baselines(folder / "cells")
    mode, h = rows[0]["retrain"], rows[0]["headline"]
    return {
        "rows": rows,
        "test": _by_seed(rows, h),
        "val": _by_seed(rows, h, _val),
        "ref": _equal_budget(refs, h, _test, mode),
        "ref_val": _equal_budget(refs, h, _val, mode),
        "collapsed": sum(bool(r["pruned"].get("collapsed")) for r in rows),
        "ratio": statistics.median(r["timing"]["ratio"] for r in rows if r.get("timing")),
    }


def mean(d: dict[int, float]) -> str:
    return f"{statistics.fmean(d.values()):.2f}" if d else "—"


def table(folders: list[Path], versus: Path) -> str:
    arms = {f.name: arm(f) for f in folders}
    base = arm(versus)
    lines = [
        f"| arm | seeds | val PSNR | test PSNR | Δ test vs equal-budget dense | Δ val vs {versus.name} "
        f"| Δ test vs {versus.name} | wins (test) | step ÷ dense | collapsed |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, a in arms.items():
        vs_test, vs_val = _paired(a["test"], base["test"]), _paired(a["val"], base["val"])
        wins = sum(a["test"][s] > base["test"][s] for s in a["test"] if s in base["test"])
        same = name == versus.name
        lines.append(
            f"| {name} | {','.join(map(str, sorted(a['test'])))} | {mean(a['val'])} | {mean(a['test'])} "
            f"| {_paired(a['test'], a['ref']).text()} | {'' if same else vs_val.text()} "
            f"| {'' if same else vs_test.text()} | {'' if same else f'{wins}/{vs_test.n}'} "
            f"| {a['ratio']:.2f} | {a['collapsed']}/{len(a['rows'])} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("folders", type=Path, nargs="+")
    ap.add_argument("--versus", type=Path, required=True, help="the baseline arm (e.g. one-shot)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    text = table(args.folders, args.versus)
    print(text, end="")
    if args.out:
        write_text(args.out, text)


if __name__ == "__main__":
    main()
