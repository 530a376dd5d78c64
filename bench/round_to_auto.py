"""What ``--round-to auto`` measures on this machine: for each candidate multiple, the geometric mean over
the probe widths of the time per weight at the width rounded to it ÷ at the width itself, and the
multiple it prefers. Run it on a quiet machine; the raw figures go to ``--out`` as JSON.

    python bench/round_to_auto.py [--device auto] [--out bench/results/round_to_auto.json]
"""

from __future__ import annotations

import argparse

from common import add_out, save

from prunekit.alignment import CANDIDATES, GAIN, PROBES, measure
from prunekit.runtime import resolve_device


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="auto")
    add_out(ap, "round_to_auto")
    args = ap.parse_args()
    device = resolve_device(args.device)
    found = measure(device)
    for m, ratio in found["ratios"].items():
        print(f"rounded to a multiple of {m:>2}: time per weight x {ratio:.3f}")
    print(f"preferred: {found['preferred']} (a multiple must reach x {GAIN} or less)")
    settings = {"device": str(device), "probes": PROBES, "candidates": CANDIDATES, "gain": GAIN}
    save(args.out, settings, **found)


if __name__ == "__main__":
    main()
