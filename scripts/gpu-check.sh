#!/usr/bin/env bash
# One-command GPU check (docs/gpu.md): builds tandem with -DTANDEM_CUDA=ON,
# runs the GPU tests against the CPU reference, times decode / verify in real
# model shapes against the HBM roofline and prints a markdown table for
# docs/benchmarks.md. Needs only the working tree, the CUDA toolkit and the
# build dependencies (no network, no model files: weights are generated on
# the GPU). Budget: under 8 minutes on one H200.
#
# The decode benchmark (gpu_decode_bench) captures the kernel-level decode step
# in a CUDA graph itself; gpu_graph_test checks the backend's own graphs
# (CudaBackend::RunPass) against eager launches, bitwise, and times both.
#
# Usage: scripts/gpu-check.sh [--quick] [--hbm-gbps N] [--build DIR] [--prebuilt]
#   --quick      skip the Llama-3-8B shapes (bench only the 1.5B shapes)
#   --hbm-gbps   the roofline bandwidth in GB/s (default 4800, H200 HBM3e)
#   --build      build folder (default build-gpu)
#   --prebuilt   do not build: run the binaries already in DIR (made by
#                scripts/gpu-pack.sh on a machine that has the build
#                dependencies; DIR/lib holds the shared libraries they need)
# Every test and benchmark runs even after one fails; the exit status is 1
# when any failed, and the summary names them.
# Env: JOBS (default nproc), CUDA_ARCH (default: the GPU's, from nvidia-smi; 90 otherwise),
#      TEST_TIMEOUT / BENCH_TIMEOUT (seconds per test binary / benchmark run; 300 / 240).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

QUICK=0; HBM=4800; BUILD=build-gpu; PREBUILT=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) QUICK=1; shift ;;
    --hbm-gbps) HBM="$2"; shift 2 ;;
    --build) BUILD="$2"; shift 2 ;;
    --prebuilt) PREBUILT=1; shift ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "gpu-check: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
JOBS="${JOBS:-$(nproc)}"
START=$(date +%s)
step() { echo; echo "=== [gpu-check] $* (+$(( $(date +%s) - START ))s)"; }
fail() { echo "gpu-check: FAILED: $*" >&2; exit 1; }
FAILURES=()
failed() { echo "gpu-check: FAILED: $*" >&2; FAILURES+=("$*"); }

step "device"
export PATH="/usr/local/cuda/bin:$PATH"
if [[ $PREBUILT -eq 0 ]]; then command -v nvcc >/dev/null || fail "nvcc not found (CUDA toolkit missing)"; fi
command -v nvidia-smi >/dev/null || fail "nvidia-smi not found: no NVIDIA driver on this machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || fail "nvidia-smi cannot see a GPU"
GPU_NAME="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
if [[ -z "${CUDA_ARCH:-}" ]]; then
  CC="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .')"
  CUDA_ARCH="${CC:-90}"
fi
if command -v nvcc >/dev/null; then nvcc --version | tail -2; fi

TARGETS=(gpu_matvec_test gpu_matvec_int8_test gpu_backend_test gpu_spec_invariance_test gpu_graph_test gpu_decode_bench
         backend_factory_test device_dequant_host_test)
if [[ $PREBUILT -eq 0 ]]; then
  step "build (TANDEM_CUDA=ON, sm_${CUDA_ARCH})"
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTANDEM_CUDA=ON -DTANDEM_BUILD_SERVICES=OFF \
    -DCMAKE_CUDA_COMPILER="$(command -v nvcc)" -DCMAKE_CUDA_ARCHITECTURES="$CUDA_ARCH" >/dev/null
  ninja -C "$BUILD" -j "$JOBS" "${TARGETS[@]}"
else
  step "prebuilt binaries in $BUILD"
  [[ -x "$BUILD/tests/kernels/cuda/gpu_matvec_test" ]] || fail "--prebuilt: no binaries in $BUILD (run scripts/gpu-pack.sh)"
  [[ -d "$BUILD/lib" ]] && export LD_LIBRARY_PATH="$(cd "$BUILD/lib" && pwd)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  # cuBLAS is too large to carry: take this machine's (toolkit or pip wheel).
  if ldd "$BUILD/tests/kernels/cuda/gpu_backend_test" | grep -q "libcublas.*not found"; then
    for d in /usr/local/cuda/lib64 /usr/local/cuda/lib /usr/local/cuda/targets/x86_64-linux/lib \
             $(find / -xdev -name 'libcublasLt.so.13' -printf '%h\n' 2>/dev/null | head -3); do
      if [[ -e "$d/libcublas.so.13" && -e "$d/libcublasLt.so.13" ]]; then
        export LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$d"; echo "cuBLAS from $d"; break
      fi
    done
  fi
  missing="$(for t in "${TARGETS[@]}"; do ldd "$BUILD/tests/kernels/cuda/$t"; done | grep 'not found' | sort -u || true)"
  [[ -z "$missing" ]] || fail "--prebuilt: shared libraries missing on this machine: $missing"
fi

# A skipped GPU test on a GPU machine means the device was not usable: fail.
run_test() {
  local bin="$1" log
  log="$(mktemp)"
  echo "--- $bin"
  local t0=$(date +%s)
  if ! timeout "${TEST_TIMEOUT:-300}" "$BUILD/$bin" --gtest_brief=1 >"$log" 2>&1; then cat "$log"; failed "$bin"; rm -f "$log"; return 0; fi
  tail -3 "$log"
  echo "    ($(( $(date +%s) - t0 ))s)"
  if grep -q "SKIPPED" "$log"; then cat "$log"; failed "$bin skipped tests on a GPU machine"; fi
  rm -f "$log"
}

step "GPU tests against the CPU reference"
run_test tests/kernels/cuda/device_dequant_host_test
run_test tests/kernels/cuda/backend_factory_test
run_test tests/kernels/cuda/gpu_matvec_test
run_test tests/kernels/cuda/gpu_matvec_int8_test
run_test tests/kernels/cuda/gpu_backend_test
run_test tests/kernels/cuda/gpu_spec_invariance_test
# CUDA graphs of the forward pass: logits bitwise equal to eager launches
# (prefill, decode, verify-of-5), graphs instantiated once per row count and
# updated in place, no eager fallback; then the decode step time of both.
run_test tests/kernels/cuda/gpu_graph_test
GRAPH_TIMING="$(timeout "${TEST_TIMEOUT:-300}" "$BUILD/tests/kernels/cuda/gpu_graph_test" --gtest_filter='CudaGraphs.DecodeTime*' \
  | grep '^cuda-graphs' || true)"
[[ -n "$GRAPH_TIMING" ]] || failed "gpu_graph_test printed no graph/eager timing"
echo "$GRAPH_TIMING"

step "decode / verify timing (weights generated on the GPU)"
BENCH="$BUILD/tests/kernels/cuda/gpu_decode_bench"
TABLE="$(mktemp)"
EXTRA="$(mktemp)"
bench() {
  local out rc=0
  out="$(timeout "${BENCH_TIMEOUT:-240}" "$BENCH" --hbm-gbps "$HBM" --ctx 512 --iters 40 "$@" 2>&1)" || rc=$?  # a later --ctx wins
  echo "$out"
  [[ $rc -eq 0 ]] || failed "gpu_decode_bench $* (exit $rc)"
  while read -r line; do
    if [[ "$line" == "|"* ]]; then echo "$line" >>"$TABLE"; elif [[ -n "$line" ]]; then echo "$line" >>"$EXTRA"; fi
  done <<<"$out"
}
# The matrix-vector layouts (matvec.h), side by side in one run.
# int8: the warp layout with int8 activations for the Q4_K products (the
# CUDA backend's default); F16 is the same as warps there, so only Q4_K runs.
for layout in groups warps int8; do
  if [[ $QUICK -eq 0 ]]; then
    [[ $layout == int8 ]] || bench --layout "$layout" --model llama3-8b --type f16
    bench --layout "$layout" --model llama3-8b --type q4_k --draft qwen2.5-0.5b:q8_0
  fi
  [[ $layout == int8 ]] || bench --layout "$layout" --model qwen2.5-1.5b --type f16
  bench --layout "$layout" --model qwen2.5-1.5b --type q4_k --draft qwen2.5-0.5b:q8_0
done
# The attention kernels side by side: the split kernel (the backend's, used
# above) against one block per (row, head), at 512 and 4096 tokens.
for ctx in 512 4096; do
  for attn in block split; do
    if [[ $QUICK -eq 0 ]]; then bench --layout warps --attention "$attn" --model llama3-8b --type f16 --ctx "$ctx"; fi
    bench --layout int8 --attention "$attn" --model qwen2.5-1.5b --type q4_k --ctx "$ctx"
  done
done

step "summary ($GPU_NAME, roofline ${HBM} GB/s, $(( $(date +%s) - START ))s)"
echo
echo "GPU: $GPU_NAME; command: scripts/gpu-check.sh; tandem $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
echo
echo "| model shape | weights | matvec layout | rows | ctx | ms/step | GB/step | GB/s | % of HBM roofline |"
echo "|---|---|---|---|---|---|---|---|---|"
cat "$TABLE"
echo
cat "$EXTRA"
echo "$GRAPH_TIMING"
rm -f "$TABLE" "$EXTRA"
echo
if [[ ${#FAILURES[@]} -gt 0 ]]; then
  printf 'gpu-check: FAILED: %s\n' "${FAILURES[@]}"
  exit 1
fi
echo "gpu-check: all GPU tests passed"
