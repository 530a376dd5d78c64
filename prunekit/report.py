"""Reports: report.json for machines, report.md for people."""

from __future__ import annotations

import math
from pathlib import Path

from prunekit.files import json_safe, write_json, write_text


def _fmt(value) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_fmt(v)}" for k, v in value.items())
    if isinstance(value, list):
        return "×".join(str(v) for v in value)
    return str(value)


def markdown_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def write_report(out: Path, report: dict) -> None:
    write_json(out / "report.json", json_safe(report))
    dense, pruned, quantized = report["dense"], report["pruned"], report.get("quantized")
    keys = [k for k in dense if k not in ("widths", "views", "val") and k in pruned]
    stages = [dense, pruned] + ([quantized] if quantized else [])
    rows = [
        [
            k,
            *(st.get(k, "") for st in stages),
            (pruned[k] / dense[k]) if isinstance(dense[k], (int, float)) and dense[k] else "",
        ]
        for k in keys
    ]
    md = [
        f"# prunekit run: {report['target']}\n",
        f"scorer `{report['scorer']}`, selector `{report['selector']}`, budget {_fmt(report['budget'])}, "
        f"retrain `{report['retrain']}`, refit {report['refit']}, distill {report['distill']}, "
        f"seed {report['seed']}, preset `{report['preset']}`, "
        f"{report['iters']} iterations per stage on {report['device']}; "
        f"pruning took {report['prune_seconds']:.3f} s.\n",
        markdown_table(
            ["", "dense", "pruned", *([f"pruned + {quantized['mode']}"] if quantized else []), "pruned ÷ dense"], rows
        ),
        "\nWidths of the linear layers (outputs):\n",
        markdown_table(
            ["model", "dense", "pruned"], [[n, dense["widths"][n], pruned["widths"][n]] for n in dense["widths"]]
        ),
        "\nBefore retraining, the pruned model scored: "
        f"{_fmt({k: v for k, v in report['pruned_before_retrain'].items() if k != 'views'})}.\n",
        "\nPruned ÷ dense, timed interleaved in this run: "
        f"{_fmt({k: round(v, 3) for k, v in report['ratios'].items()})}.\n",
    ]
    if report.get("rounding"):
        rows = [
            [name, layer, asked, r["built"][layer], r["multiple"]]
            for name, r in report["rounding"].items()
            for layer, asked in r["asked"].items()
        ]
        md.append("\nWidths asked for by the budget and built (`--round-to`):\n")
        md.append(markdown_table(["model", "layer", "asked", "built", "multiple of"], rows))
    if dense.get("views"):
        md.append(f"\nScored on {len(dense['views'])} test views: {', '.join(map(str, dense['views']))}.\n")
    if report.get("files"):
        md.append("\n" + "\n".join(f"![{f}]({f})" for f in report["files"] if f.endswith(".png")) + "\n")
        for f in (f for f in report["files"] if f.endswith(".txt")):  # text samples, shown as written
            md.append(f"\n`{f}`:\n\n```text\n{(out / f).read_text(encoding='utf-8').strip()}\n```\n")
    write_text(out / "report.md", "".join(md))
