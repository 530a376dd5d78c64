#!/usr/bin/env bash
# Copy the finished cells of every seed folder (ROOT/sS, see run_seed.sh) here and rebuild the tables and plots.
set -euo pipefail
same_json() { python3 -c 'import json, sys; sys.exit(json.load(open(sys.argv[1])) != json.load(open(sys.argv[2])))' "$1" "$2"; }
ROOT=${1:-runs/fern}
HERE=docs/results/fern
for folder in "$ROOT"/s*/; do
  same_json "$folder/sweep.json" "$HERE/sweep.json" || { echo "$folder was run with other settings" >&2; exit 1; }
  cells=("$folder"/cells/*)
  [ -e "${cells[0]}" ] && cp "${cells[@]}" "$HERE/cells/"
done
prunekit results "$HERE"
