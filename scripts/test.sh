#!/usr/bin/env bash
# Sets up the machine (idempotent) and runs every test tandem has:
#   1. optimized build of everything, all CTest tests (unit + real-model integration)
#   2. ASan+UBSan build of the unit tests, services included (the untrusted-input,
#      network and kernel paths)
#   3. ThreadSanitizer build of the concurrent parts: batching, session registry,
#      thread pool, and the services over loopback gRPC
#   4. libFuzzer targets (clang): each fuzzer for a bounded time from its
#      committed corpus (tests/fuzz/corpus/NAME)
#   5. compile-only check of the CUDA backend when nvcc is present
# Usage: scripts/test.sh [--no-setup] [--no-asan] [--no-tsan] [--no-fuzz]
# Env: JOBS (build parallelism, default nproc), TANDEM_MODEL_DIR (model cache),
#      KEEP_BUILDS=1 (keep the sanitizer and fuzz build folders after they pass).
# Disk: the sanitizer builds link ~150 static test executables; with full debug
# info they took ~5 GB and a CI machine ran out of space in the ASan link. They
# are built with line tables only (-g1: sanitizer stacks keep file:line) and
# each stage's folder is removed once it passed (kept when it failed).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

SETUP=1; ASAN=1; TSAN=1; FUZZ=1
for a in "$@"; do
  case "$a" in
    --no-setup) SETUP=0 ;;
    --no-asan) ASAN=0 ;;
    --no-tsan) TSAN=0 ;;
    --no-fuzz) FUZZ=0 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "test.sh: unknown argument '$a' (see --help)" >&2; exit 2 ;;
  esac
done
JOBS="${JOBS:-$(nproc)}"
export TANDEM_PYTHON="$ROOT/.venv/bin/python"

step() { echo; echo "=== [test] $* ($(date -u +%H:%M:%S), $(df -h --output=avail . | tail -n1 | tr -d ' ') free)"; }
# -O2 like RelWithDebInfo, with line tables instead of full debug info.
SANITIZER_FLAGS=(-DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG"
  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG")
# Removes a stage's build folder after it passed (set -e leaves it on failure).
done_with() { [[ "${KEEP_BUILDS:-0}" == 1 ]] || rm -rf "$@"; }

# The whole run needs ~6 GB at its peak (models, venv, optimized and ASan builds).
free_kb="$(df -k --output=avail . | tail -n1 | tr -d ' ')"
if (( free_kb < 8 * 1024 * 1024 )); then
  echo "test.sh: warning: only $((free_kb / 1024)) MiB free here; the builds need ~6 GB at their peak" >&2
fi

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
  # tests_unit: only the unit-test executables (services included), not the
  # CLI, benchmarks or model tests.
  step "ASan+UBSan build of the unit tests"
  cmake -S . -B build-asan -G Ninja "${SANITIZER_FLAGS[@]}" -DTANDEM_SANITIZE=ON \
    -DTANDEM_BUILD_SERVICES=ON >/dev/null
  ninja -C build-asan -j "$JOBS" tests_unit
  step "unit tests under ASan+UBSan"
  # tests/lsan.supp: leaks inside OpenSSL objects that gRPC owns (see the file).
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 LSAN_OPTIONS="suppressions=$ROOT/tests/lsan.supp" \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan -L unit --output-on-failure -j "$JOBS"
  done_with build-asan
fi

if [[ $TSAN -eq 1 ]]; then
  # gRPC and Abseil come uninstrumented from Debian: tests/tsan.supp keeps
  # TSan to races in tandem's own code (see the file for why each entry).
  # One test per concurrent part (CI time: each extra service test pulls more
  # of the tree into the TSan build): session registry, batching, thread pool,
  # draft/target services over gRPC, the orchestrator's admission queue, the
  # tensor-parallel step protocol (ranks on threads). Not
  # orchestrator_service_test: about one run in two TSan reports the service's
  # destruction after the server's shutdown, whose synchronisation is inside
  # uninstrumented gRPC (the racing thread's stack cannot be restored, so no
  # suppression can name it).
  TSAN_TESTS=(services_session_registry_test services_dt_batching_unit_test kernels_thread_pool_test
    kernels_thread_pool_lifetime_test services_dt_fake_test orchestrator_admission_test parallel_tp_engine_test)
  step "ThreadSanitizer build: ${TSAN_TESTS[*]}"
  cmake -S . -B build-tsan -G Ninja "${SANITIZER_FLAGS[@]}" -DTANDEM_SANITIZE=thread >/dev/null
  ninja -C build-tsan -j "$JOBS" "${TSAN_TESTS[@]}"
  step "concurrency tests under ThreadSanitizer"
  for t in "${TSAN_TESTS[@]}"; do
    exe="$(find build-tsan/tests -name "$t" -type f -perm -u+x | head -n1)"
    echo "--- $t"
    TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$ROOT/tests/tsan.supp" "$exe" --gtest_brief=1
  done
  done_with build-tsan
fi

if [[ $FUZZ -eq 1 ]]; then
  # libFuzzer exists only in clang (installed by setup.sh). Each fuzzer runs
  # FUZZ_SECONDS from its committed corpus; new inputs go to a scratch folder,
  # so the checkout is never written. A crash fails CI and leaves the input in
  # build-fuzz/crashes/.
  FUZZERS=(gguf_fuzzer safetensors_fuzzer wordpiece_fuzzer service_request_fuzzer session_handlers_fuzzer)
  step "libFuzzer build (clang): ${FUZZERS[*]}"
  CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja "${SANITIZER_FLAGS[@]}" >/dev/null
  ninja -C build-fuzz -j "$JOBS" "${FUZZERS[@]}"
  mkdir -p build-fuzz/crashes
  for f in "${FUZZERS[@]}"; do
    step "fuzzing $f for ${FUZZ_SECONDS:-20} s"
    scratch="$(mktemp -d)"
    dict=(); [[ -f "tests/fuzz/${f%_fuzzer}.dict" ]] && dict=(-dict="tests/fuzz/${f%_fuzzer}.dict")
    rc=0
    "build-fuzz/tests/fuzz/$f" -max_total_time="${FUZZ_SECONDS:-20}" -print_final_stats=1 "${dict[@]}" \
      -artifact_prefix="build-fuzz/crashes/$f-" "$scratch" "tests/fuzz/corpus/${f%_fuzzer}" \
      > "build-fuzz/$f.log" 2>&1 || rc=$?
    tail -n 12 "build-fuzz/$f.log"
    rm -rf "$scratch"
    [[ "$rc" -eq 0 ]] || { echo "fuzzer $f failed (exit $rc); reproducer in build-fuzz/crashes/" >&2; exit 1; }
  done
  done_with build-fuzz
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
    gpu_backend_test gpu_spec_invariance_test gpu_graph_test gpu_decode_bench backend_factory_test \
    parallel_nccl_communicator_test device_dequant_host_test
  build-cuda/tests/parallel/parallel_nccl_communicator_test --gtest_brief=1
  for t in device_dequant_host_test backend_factory_test gpu_matvec_test gpu_backend_test gpu_spec_invariance_test \
           gpu_graph_test; do
    build-cuda/tests/kernels/cuda/$t --gtest_brief=1
  done
fi
step "all tests passed"
