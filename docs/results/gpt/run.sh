#!/usr/bin/env bash
# The transformer study, resumable: bash docs/results/gpt/run.sh ROOT SEEDS (e.g. runs/gpt-a 0,1,2).
# Every step resumes where it stopped; run it again after an interruption. gather.sh then merges the
# cells of every ROOT into docs/results/gpt/ and rebuilds the tables.
set -euo pipefail
root=$1 seeds=$2
text=${TEXT:-../shared/data/text/tinyshakespeare/input.txt}
common=(--data "$text" --preset study --seeds "$seeds" --at-cut --val)
# 1. every scorer with top-k at three feed-forward widths (of 512), the uniform-random baseline beside
prunekit sweep gpt "${common[@]}" --out "$root/main" --widths 384,256,128 \
  --scorers w_in,w_out,product,activation,tp.magnitude,tp.taylor,tp.hessian,wanda_sp,flap --selectors topk
# 2. refit (the least-squares remedy, compared with FLAP's bias compensation) at half, same dense models
prunekit sweep gpt "${common[@]}" --out "$root/refit" --dense-from "$root/main" --widths 256 --refit \
  --no-uniform --scorers product,activation,wanda_sp,flap --selectors topk
# 3. the coreset against top-k for the paper's scorers
prunekit sweep gpt "${common[@]}" --out "$root/main" --widths 384,256,128 \
  --no-uniform --scorers w_out,product --selectors coreset
# 4. global allocation (FLAP's adaptive structure) at half
prunekit sweep gpt "${common[@]}" --out "$root/main" --widths 256 --allocations global \
  --no-uniform --scorers product,flap --selectors topk
