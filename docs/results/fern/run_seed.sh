#!/usr/bin/env bash
# One seed of the fern study's headline cells, resumable (a finished cell is never redone):
#   bash docs/results/fern/run_seed.sh S [ROOT]      (from the project root; ROOT defaults to runs/fern)
# then docs/results/fern/gather.sh copies the finished cells of every seed here.
set -euo pipefail
S=$1
ROOT=${2:-runs/fern}
F=(--data ../shared/data/nerf_llff/fern --preset study --keeps 0.483 --widths 64 --seeds "$S" --out "$ROOT/s$S")
prunekit sweep nerf "${F[@]}" --scorers w_out,product --selectors topk
prunekit sweep nerf "${F[@]}" --scorers product --selectors coreset --no-uniform
