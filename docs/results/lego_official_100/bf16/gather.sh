#!/bin/bash
# Copies the finished cells of runs/bf16study/bf16/sS (one bf16 sweep per seed, see README.md) into bf16/,
# those of the fp32 reruns runs/bf16study/fp32/sS into fp32_rerun/, and rebuilds tables.md / tables.json.
set -euo pipefail
here=$(dirname "$0"); runs=${1:-runs/bf16study}
for p in bf16 fp32; do
  dest=$here/$p; [ $p = fp32 ] && dest=$here/fp32_rerun
  mkdir -p "$dest/cells"
  for s in "$runs/$p"/s*; do
    [ -f "$s/sweep.json" ] || continue
    python - "$s/sweep.json" "$dest/sweep.json" <<'PY'
import json, sys
settings = json.load(open(sys.argv[1]))
settings["data"] = "../shared/data/nerf_synthetic/lego_official_100"  # where the checkout sees it
open(sys.argv[2], "w").write(json.dumps(settings, indent=2) + "\n")
PY
    cp "$s"/cells/*.json "$dest/cells/" 2>/dev/null || true
  done
done
python "$here/tables.py"
