#!/usr/bin/env bash
# The 64-wide remedies study, one seed at a time: the product coreset cut to width 64 and retrained the way
# each arm says, every arm in its own sweep folder ROOT/<arm>, resumable (a finished cell is never redone):
#   bash docs/results/remedies.sh SCENE S [ARM ...]      SCENE: lego_official_100 or fern; default: every arm
# An arm named half-ARM cuts to keep 0.483 (≈ half the parameters) instead of width 64.
# The one-shot arm trains the seed's dense model and its equal-budget reference (fern: copies both from the
# headline sweep's runs/fern/sS); every other arm copies them from the one-shot arm (--dense-from), so all
# arms of a seed are cut from one dense model and compared with one reference.
set -euo pipefail
SCENE=$1; S=$2; shift 2
case $SCENE in
  lego_official_100) DATA=../shared/data/nerf_synthetic/lego_official_100; FIRST=""; ROOT=${ROOT:-runs/remedies} ;;
  fern) DATA=../shared/data/nerf_llff/fern; FIRST="--dense-from runs/fern/s$S"; ROOT=${ROOT:-runs/remedies-fern} ;;
  *) echo "unknown scene $SCENE (lego_official_100 or fern)" >&2; exit 2 ;;
esac
COMMON=(--data "$DATA" --preset study --scorers product --selectors coreset --no-uniform --val --seeds "$S")
declare -A ARMS=(
  [oneshot]=""
  [steps3]="--steps 3"
  [steps3-linear]="--steps 3 --schedule linear"
  [distill05]="--distill 0.5"
  [steps3-distill05]="--steps 3 --distill 0.5"
  [refit]="--refit"
  [refit-distill05]="--refit --distill 0.5"
  # the paper's protocol: the pruned architecture retrained for the dense model's whole budget, from random
  # initialisation or from the kept weights; each is compared with the dense model retrained the same way
  [scratch1000]="--retrain scratch --retrain-iters 1000"
  [finetune1000]="--retrain-iters 1000"
)
arms=("$@")
[ ${#arms[@]} -gt 0 ] || arms=(steps3 steps3-linear distill05 steps3-distill05 refit-distill05 scratch1000 finetune1000)
for arm in oneshot "${arms[@]}"; do
  base=${arm#half-}
  [ -n "${ARMS[$base]+set}" ] || { echo "unknown arm $arm" >&2; exit 2; }
  cut="--widths 64"; [ "$base" = "$arm" ] || cut="--keeps 0.483"
  if [ "$arm" = oneshot ]; then extra="$cut $FIRST"; else extra="$cut ${ARMS[$base]} --dense-from $ROOT/oneshot"; fi
  # shellcheck disable=SC2086
  prunekit sweep nerf "${COMMON[@]}" $extra --out "$ROOT/$arm"
done
