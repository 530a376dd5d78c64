"""Print the study's headline tables from a sweep folder's cells (what docs/results/*/README.md quote).

    python docs/results/study_tables.py docs/results/lego_100

1. The paper's table: PSNR mean ± std over seeds per strategy and budget, and in brackets the Δ against
   the dense model trained for the same number of iterations (paired by seed).
2. Paired comparisons: strategy A − strategy B on the same seed (hence the same dense model), mean ± std
   over seeds and how many seeds A won.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

BUDGETS = [('≈ half, "288K" (keep 0.483)', "keep", 0.483), ("width 128", "width", 128), ("width 64", "width", 64)]
STRATEGIES = [("random", "uniform")] + [(s, t) for t in ("topk", "coreset") for s in ("w_in", "w_out", "product")]
PAIRS = [
    (("w_out", "topk"), ("w_in", "topk")),
    (("w_out", "topk"), ("random", "uniform")),
    (("w_in", "topk"), ("random", "uniform")),
    (("product", "topk"), ("w_out", "topk")),
    (("w_in", "coreset"), ("w_in", "topk")),
    (("w_out", "coreset"), ("w_out", "topk")),
    (("product", "coreset"), ("product", "topk")),
]


def signed(x: float) -> str:
    return f"{x:+.2f}".replace("-", "−")


def main(folder: Path) -> None:
    cells = [json.loads(p.read_text()) for p in sorted((folder / "cells").glob("*.json"))]
    rows = [r for r in cells if "scorer" in r and not r["collapsed"]]
    equal = {r["seed"]: r["psnr"] for r in cells if "scorer" not in r}

    def psnr(scorer: str, selector: str, key: str, value) -> dict[int, float]:
        return {
            r["seed"]: r["pruned"]["psnr"]
            for r in rows
            if (r["scorer"], r["selector"], r.get(key)) == (scorer, selector, value)
            and r["retrain"] == "finetune"
            and r.get("allocation", "uniform") == "uniform"
            and r.get("round_to", 1) == 1
        }

    print("| budget | params / net | " + " | ".join(f"{s} {t}" for s, t in STRATEGIES) + " |")
    print("|---" * (2 + len(STRATEGIES)) + "|")
    for label, key, value in BUDGETS:
        stats = []
        for s, t in STRATEGIES:
            by_seed = psnr(s, t, key, value)
            vals = list(by_seed.values())
            delta = statistics.fmean(v - equal[seed] for seed, v in by_seed.items())
            stats.append((statistics.fmean(vals), statistics.stdev(vals) if len(vals) > 1 else 0.0, delta, len(vals)))
        best = max(m for m, *_ in stats)
        texts = [
            (f"**{m:.2f}**" if m == best else f"{m:.2f}") + f" ± {sd:.2f} ({signed(d)})" + ("" if n == 3 else f" [{n}]")
            for m, sd, d, n in stats
        ]
        params = next(r for r in rows if r.get(key) == value)["pruned"]["params"] // 2
        print(f"| {label} | {params:,} | " + " | ".join(texts) + " |")

    print("\n| A − B (same seed) | " + " | ".join(label for label, *_ in BUDGETS) + " |")
    print("|---" * (1 + len(BUDGETS)) + "|")
    for a, b in PAIRS:
        texts = []
        for _, key, value in BUDGETS:
            x, y = psnr(*a, key, value), psnr(*b, key, value)
            diffs = [x[s] - y[s] for s in x if s in y]
            sd = statistics.stdev(diffs) if len(diffs) > 1 else 0.0
            texts.append(f"{signed(statistics.fmean(diffs))} ± {sd:.2f} ({sum(d > 0 for d in diffs)}/{len(diffs)})")
        print(f"| {a[0]} {a[1]} − {b[0]} {b[1]} | " + " | ".join(texts) + " |")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
