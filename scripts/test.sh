#!/usr/bin/env bash
# Sets up the machine (idempotent) and runs every test tandem has:
#   1. optimized build of everything, all CTest tests (unit + real-model integration)
#   2. ASan+UBSan build of the unit tests (the untrusted-input and kernel paths)
#   3. compile-only check of the CUDA backend when nvcc is present
# Usage: scripts/test.sh [--no-setup] [--no-asan]
# Env: JOBS (build parallelism, default nproc), TANDEM_MODEL_DIR (model cache).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

SETUP=1; ASAN=1
for a in "$@"; do
  case "$a" in
    --no-setup) SETUP=0 ;;
    --no-asan) ASAN=0 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "test.sh: unknown argument '$a' (see --help)" >&2; exit 2 ;;
  esac
done
JOBS="${JOBS:-$(nproc)}"
export TANDEM_PYTHON="$ROOT/.venv/bin/python"

step() { echo; echo "=== [test] $* ($(date -u +%H:%M:%S))"; }

if [[ $SETUP -eq 1 ]]; then
  step "setup"
  scripts/setup.sh --models smollm2-135m qwen2.5-coder-0.5b all-minilm-l6-v2
fi

step "optimized build"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C build -j "$JOBS"
step "tests (optimized build)"
ctest --test-dir build --output-on-failure -j "$JOBS"

# Test areas outside CTest (Helm chart, dashboards, SDKs, gateway): each owns
# scripts/test-AREA.sh, which gets the optimized build folder as its argument.
for area in scripts/test-*.sh; do
  [[ -e "$area" ]] || continue
  step "tests: $(basename "$area" .sh | sed 's/^test-//')"
  bash "$area" "$ROOT/build"
done

if [[ $ASAN -eq 1 ]]; then
  step "ASan+UBSan build of the unit tests"
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTANDEM_SANITIZE=ON \
    -DTANDEM_BUILD_SERVICES=OFF >/dev/null
  ninja -C build-asan -j "$JOBS"
  step "unit tests under ASan+UBSan"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-asan -L unit --output-on-failure -j "$JOBS"
fi

if command -v nvcc >/dev/null 2>&1 || [[ -x /usr/local/cuda/bin/nvcc ]]; then
  # Every .cu for sm_90 and sm_80, the CUDA backend, the NCCL communicator and
  # the GPU tests; a compile error in any of them fails CI. Without a GPU the
  # GPU tests skip ("no CUDA device") and the factory test checks the
  # "no CUDA device found" error; scripts/gpu-check.sh runs them on a GPU.
  step "CUDA build (no GPU here: compile, link, skip)"
  NVCC="$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)"
  cmake -S . -B build-cuda -G Ninja -DCMAKE_BUILD_TYPE=Release -DTANDEM_CUDA=ON -DTANDEM_BUILD_SERVICES=OFF \
    -DCMAKE_CUDA_COMPILER="$NVCC" -DCMAKE_CUDA_ARCHITECTURES="90;80" >/dev/null
  ninja -C build-cuda -j "$JOBS" tandem_kernels_cuda tandem_backend_cuda tandem_parallel_nccl gpu_matvec_test \
    gpu_backend_test gpu_spec_invariance_test gpu_decode_bench backend_factory_test parallel_nccl_communicator_test \
    device_dequant_host_test
  build-cuda/tests/parallel/parallel_nccl_communicator_test --gtest_brief=1
  for t in device_dequant_host_test backend_factory_test gpu_matvec_test gpu_backend_test gpu_spec_invariance_test; do
    build-cuda/tests/kernels/cuda/$t --gtest_brief=1
  done
fi
step "all tests passed"
