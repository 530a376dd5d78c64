#!/bin/bash
# Copies the finished cells of runs/bf16study/{bf16,fp32}/sS (one sweep per precision and seed, see
# README.md) into this folder and rebuilds tables.md / tables.json from them.
set -euo pipefail
here=$(dirname "$0"); runs=${1:-runs/bf16study}
for p in bf16 fp32; do
  mkdir -p "$here/$p/cells"
  for s in "$runs/$p"/s*; do
    [ -f "$s/sweep.json" ] || continue
    python - "$s/sweep.json" "$here/$p/sweep.json" <<'PY'
import json, sys
settings = json.load(open(sys.argv[1]))
settings["data"] = "../shared/data/nerf_synthetic/lego_official_100"  # where the checkout sees it
open(sys.argv[2], "w").write(json.dumps(settings, indent=2) + "\n")
PY
    cp "$s"/cells/*.json "$here/$p/cells/" 2>/dev/null || true
  done
done
python "$here/tables.py" "$here"
