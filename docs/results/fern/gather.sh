#!/usr/bin/env bash
# Copy the finished cells of every seed folder (ROOT/sS, see run_seed.sh) here and rebuild the tables and plots.
set -euo pipefail
ROOT=${1:-runs/fern}
HERE=docs/results/fern
for folder in "$ROOT"/s*/; do
  cmp -s "$folder/sweep.json" "$HERE/sweep.json" || { echo "$folder was run with other settings" >&2; exit 1; }
  cells=("$folder"/cells/*)
  [ -e "${cells[0]}" ] && cp "${cells[@]}" "$HERE/cells/"
done
prunekit results "$HERE"
