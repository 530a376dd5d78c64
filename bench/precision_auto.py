"""What ``--precision auto`` measures on this device: bf16 autocast ÷ fp32 seconds of a 256-wide linear
layer's forward and backward on 16,384 rows (interleaved pairs), and the precision it picks. Run it on a
quiet machine; the raw figures go to ``--out`` as JSON.

    python bench/precision_auto.py [--device auto] [--out bench/results/precision_auto.json]
"""

from __future__ import annotations

import argparse

from common import add_out, save

from prunekit.precision import GAIN, bf16_native, measure
from prunekit.runtime import resolve_device


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="auto")
    add_out(ap, "precision_auto")
    args = ap.parse_args()
    device = resolve_device(args.device)
    if not bf16_native(device):
        print("no native bf16 on this device: --precision auto runs fp32 without measuring")
        return
    found = measure(device)
    print(f"bf16 autocast ÷ fp32: {found['bf16_over_fp32']:.3f} (bf16 at {GAIN} or less); picks {found['preferred']}")
    save(args.out, {"device": str(device), "gain": GAIN}, **found)


if __name__ == "__main__":
    main()
