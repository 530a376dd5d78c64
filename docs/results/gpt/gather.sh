#!/usr/bin/env bash
# Merge the finished cells of every ROOT that run.sh wrote into docs/results/gpt/{main,refit}/cells, record
# the sweep settings (the data as the path relative to the checkout), and rebuild the tables:
#   bash docs/results/gpt/gather.sh runs/gpt-a runs/gpt-b
set -euo pipefail
dest=docs/results/gpt
for part in main refit; do
  mkdir -p "$dest/$part/cells"
  for root in "$@"; do
    [ -d "$root/$part/cells" ] && cp "$root/$part/cells/"*.json "$dest/$part/cells/"
  done
  python - "$1/$part/sweep.json" "$dest/$part/sweep.json" <<'PY'
import json, sys
settings = json.load(open(sys.argv[1]))
settings["data"] = "../shared/data/text/tinyshakespeare/input.txt"  # where the checkout sees it
json.dump(settings, open(sys.argv[2], "w"), indent=2)
PY
  prunekit results "$dest/$part"
done
python docs/results/gpt/choose.py "$@" > "$dest/choice.json"
python docs/results/gpt/tables.py > "$dest/tables.md"
