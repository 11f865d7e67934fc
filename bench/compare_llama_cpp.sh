#!/usr/bin/env bash
# One command: tandem vs llama.cpp (llama-bench pp512 / tg128, 1 and 2
# threads, every bundled model in the model folder), raw results under
# bench/results/llama_cpp/<UTC time>/, then the markdown table (with the CPU
# model) printed and written into docs/benchmarks.md.
#
#   bench/compare_llama_cpp.sh [--no-docs] [compare_llama_bench.py flags...]
#   TANDEM_BUILD=build-cpu bench/compare_llama_cpp.sh --reps 2
#   bench/compare_llama_cpp.sh --all [bench/cpu_speed_table.py flags...]
#
# --all: every row of issue 16's table instead (llama-bench cells, speculative decoding vs
# llama-speculative-simple, loopback streams target-only vs speculative, served throughput vs
# llama-server, long context), one run, ~26 minutes on 2 cores; raw results under
# bench/results/cpu_speed_table/<UTC time>/ and one markdown table printed (bench/cpu_speed_table.py).
#
# Builds what is missing: llama.cpp's tools from the pinned sdist
# (bench/build_llama_cpp.sh) and tandem's tandem_model_bench in
# $TANDEM_BUILD (default build; configured Release if absent).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BUILD="${TANDEM_BUILD:-build}"
DOCS=1
ALL=0
if [[ "${1:-}" == "--no-docs" ]]; then DOCS=0; shift; fi
if [[ "${1:-}" == "--all" ]]; then ALL=1; shift; fi
PY="${PYTHON:-$ROOT/.venv/bin/python}"
# Help before any build: the flags pass through to the Python scripts, and
# their --help output must not be taken for a results folder.
for arg in "$@"; do
  if [[ "$arg" == "-h" || "$arg" == "--help" ]]; then
    # The comment block after the shebang, whatever its length.
    awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"
    echo
    echo "Flags without --all (bench/runtime/compare_llama_bench.py):"
    "$PY" bench/runtime/compare_llama_bench.py --help
    echo
    echo "Flags with --all (bench/cpu_speed_table.py):"
    "$PY" bench/cpu_speed_table.py --help
    exit 0
  fi
done

bench/build_llama_cpp.sh
if [[ ! -f "$BUILD/build.ninja" ]]; then
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release
fi
if [[ "$ALL" == 1 ]]; then
  ninja -C "$BUILD" -j "${JOBS:-2}" tandem_model_bench tandem
  exec "$PY" bench/cpu_speed_table.py --build "$BUILD" "$@"
fi
ninja -C "$BUILD" -j "${JOBS:-2}" tandem_model_bench
out="$("$PY" bench/runtime/compare_llama_bench.py --tandem-bench "$BUILD/bench/model/tandem_model_bench" \
  --llama-bench "${LLAMA_BUILD_DIR:-$ROOT/build-llama}/build/bin/llama-bench" "$@" | tail -1)"
if [[ "$DOCS" == 1 ]]; then
  "$PY" bench/runtime/llama_bench_table.py "$out" --update-docs docs/benchmarks.md
else
  "$PY" bench/runtime/llama_bench_table.py "$out"
fi
