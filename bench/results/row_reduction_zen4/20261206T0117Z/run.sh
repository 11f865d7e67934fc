#!/bin/bash
# One-row Q4_K and Q6_K kernels: four superblocks per lane reduction (new, /work/main/build)
# vs one (base = d6004a2's kernels, /tmp/wt/build), same machine, alternating.
set -u
M=$HOME/.cache/tandem/models/qwen2.5-coder-1.5b.gguf
echo "# started $(date -u +%FT%TZ); uptime: $(uptime)"
for round in 1 2 3; do
  for side in new base; do
    B=/work/main/build; [ $side = base ] && B=/tmp/wt/build
    echo "## round $round $side bench_kernels"
    $B/bench/kernels/bench_kernels --benchmark_filter='MatMul/q(4|6)_K/(8960x1536|1536x8960)/m:1/threads:(1|2)' --benchmark_repetitions=3 --benchmark_report_aggregates_only=true 2>&1 | grep median | awk '{print $1, $2, $3}'
    for t in 1 2; do
      r=$($B/bench/model/tandem_model_bench $M --threads $t --prompt 64 --decode 32 --reps 3 --verify 5 2>&1 | tail -2 | tr '\n' ' ')
      echo "## round $round $side threads $t: $r"
    done
  done
done
echo "# finished $(date -u +%FT%TZ); uptime: $(uptime)"
