#!/usr/bin/env bash
# Copy every arm's finished cells (ROOT/<arm>, see remedies.sh) into DEST/<arm> and rebuild its tables.
#   bash docs/results/gather_arms.sh ROOT DEST      e.g. runs/remedies docs/results/lego_official_100/remedies
set -euo pipefail
same_json() { python3 -c 'import json, sys; sys.exit(json.load(open(sys.argv[1])) != json.load(open(sys.argv[2])))' "$1" "$2"; }
ROOT=$1; DEST=$2
for folder in "$ROOT"/*/; do
  arm=$(basename "$folder")
  if [ -f "$DEST/$arm/sweep.json" ]; then
    same_json "$folder/sweep.json" "$DEST/$arm/sweep.json" || { echo "$folder was run with other settings" >&2; exit 1; }
  fi
  cells=("$folder"/cells/*)
  [ -e "${cells[0]}" ] || continue  # an arm that has not finished a reference or a cell yet
  mkdir -p "$DEST/$arm/cells"
  cp "$folder/sweep.json" "$DEST/$arm/"
  cp "${cells[@]}" "$DEST/$arm/cells/"
  prunekit results "$DEST/$arm" > /dev/null
done
