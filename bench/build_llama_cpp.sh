#!/usr/bin/env bash
# Builds llama.cpp's benchmark tools (llama-bench, llama-speculative-simple,
# llama-server)
# from the llama.cpp source vendored in the llama-cpp-python sdist pinned in
# scripts/requirements-bench.txt, so the comparison runs the same llama.cpp
# revision that `scripts/setup.sh --bench` installs for Python.
#
#   bench/build_llama_cpp.sh            # -> build-llama/build/bin/llama-bench
#   JOBS=1 LLAMA_BUILD_DIR=/tmp/ll bench/build_llama_cpp.sh
#
# The ISA flags are named explicitly from /proc/cpuinfo instead of
# GGML_NATIVE=ON: on an Intel VM, -march=native enabled instructions the
# hypervisor does not allow and llama-bench died with "Illegal instruction".
# AMX stays off (GGML_AMX_* default off without native): ggml has AMX
# kernels (Q4_0/Q4_1/Q8_0/K-quants), but built with GGML_AMX_TILE/INT8/BF16=ON
# on the Sapphire Rapids VM, llama-bench died with SIGILL at its first
# `tilezero` (tinygemm_kernel_amx, Q4_1; 2026-12-04), so the comparison runs
# its AVX-512 kernels (set explicitly: a CMake cache keeps an earlier ON).
# build-llama/ is ignored by git (/build*/). The build takes ~15 min at -j1 on
# a 2-core VM; it is skipped when the binaries exist (FORCE=1 rebuilds).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${LLAMA_BUILD_DIR:-$ROOT/build-llama}"
JOBS="${JOBS:-2}"
PY="${PYTHON:-$ROOT/.venv/bin/python}"

version="$(sed -n 's/^llama-cpp-python==\([0-9.]*\).*/\1/p' "$ROOT/scripts/requirements-bench.txt")"
[[ -n "$version" ]] || { echo "no llama-cpp-python==VERSION pin in scripts/requirements-bench.txt" >&2; exit 1; }
bin="$OUT/build/bin"
if [[ -z "${FORCE:-}" && -x "$bin/llama-bench" && -x "$bin/llama-speculative-simple" && -x "$bin/llama-server" ]]; then
  echo "$bin/llama-bench (llama-cpp-python $version) already built"
  exit 0
fi
mkdir -p "$OUT"
sdist="$OUT/llama_cpp_python-$version.tar.gz"
if [[ ! -f "$sdist" ]]; then
  "$PY" -m pip download -q --disable-pip-version-check --no-deps --no-binary :all: \
    "llama-cpp-python==$version" -d "$OUT"
fi
src="$OUT/llama_cpp_python-$version/vendor/llama.cpp"
[[ -d "$src" ]] || tar xzf "$sdist" -C "$OUT"

flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
has() { [[ "$flags" == *" $1 "* ]] && echo ON || echo OFF; }
cmake -S "$src" -B "$OUT/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
  -DGGML_NATIVE=OFF -DGGML_AVX="$(has avx)" -DGGML_AVX2="$(has avx2)" -DGGML_FMA="$(has fma)" \
  -DGGML_F16C="$(has f16c)" -DGGML_BMI2="$(has bmi2)" -DGGML_AVX_VNNI="$(has avx_vnni)" \
  -DGGML_AVX512="$(has avx512f)" -DGGML_AVX512_VBMI="$(has avx512vbmi)" \
  -DGGML_AVX512_VNNI="$(has avx512_vnni)" -DGGML_AVX512_BF16="$(has avx512_bf16)" \
  -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF \
  -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=ON
ninja -C "$OUT/build" -j "$JOBS" llama-bench llama-speculative-simple llama-server
echo "built $bin/llama-bench, llama-speculative-simple and llama-server (llama-cpp-python $version)"
