#!/bin/bash
# Q4_K tile in weight-row pairs (new) vs one weight row at a time (TANDEM_Q4K_SINGLE=1), same binary, alternating.
set -u
B=/tmp/bx
M=$HOME/.cache/tandem/models/qwen2.5-coder-1.5b.gguf
echo "# started $(date -u +%FT%TZ); uptime: $(uptime)"
for round in 1 2; do
  for form in pairs single; do
    e=""; [ $form = single ] && e="TANDEM_Q4K_SINGLE=1"
    echo "## round $round form $form: bench_kernels q4_K m:5"
    env $e $B/bench/kernels/bench_kernels --benchmark_filter='MatMul/q4_K/(8960x1536|1536x8960|1536x1536)/m:(5|8)/threads:(1|2)' --benchmark_repetitions=3 --benchmark_report_aggregates_only=true 2>&1 | grep median | awk '{print $1, $2, $3}'
    for t in 1 2; do
      echo "## round $round form $form: tandem_model_bench 1.5B threads $t"
      env $e $B/bench/model/tandem_model_bench $M --threads $t --prompt 64 --decode 16 --reps 3 --verify 5 2>&1 | tail -2
    done
  done
done
echo "# finished $(date -u +%FT%TZ); uptime: $(uptime)"
