#!/bin/bash
# K-quant tiles in weight-row pairs (default) vs one row at a time (TANDEM_K_SINGLE=1), same binary, alternating.
set -u
B=${B:-/work/main/build}
M=$HOME/.cache/tandem/models/qwen2.5-coder-1.5b.gguf
echo "# started $(date -u +%FT%TZ); uptime: $(uptime)"
for round in 1 2 3; do
  for form in pairs single; do
    e=""; [ $form = single ] && e="TANDEM_K_SINGLE=1"
    for t in 1 2; do
      echo "## round $round form $form threads $t: $(env $e $B/bench/model/tandem_model_bench $M --threads $t --prompt 64 --decode 16 --reps 3 --verify 5 2>&1 | tail -2 | tr '\n' ' ')"
    done
  done
done
echo "# finished $(date -u +%FT%TZ); uptime: $(uptime)"
